"""Render a delivery for one channel: each item's templates, then the channel's layout and limits.

An item without content for the channel borrows the nearest other channel's content (see
`CONTENT_FALLBACKS`), else it fails with `no_content_for_channel`. An item whose templates fail
(a missing variable, say) goes out with its content's plain-text `fallback` when it has one;
otherwise it is dropped from the delivery and the rest goes out (`Rendering.dropped` names each
dropped item, its field, reason and variable, for its own `message.failed` receipt). Only when
no item renders does the delivery fail: `render` raises `RenderFailure` (of which
`TemplateFailure` is one kind) and nothing else for anything a delivery can carry.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from markupsafe import escape

from metaconnect_common.schemas.delivery import Delivery, DeliveryItem, ItemContent
from metaconnect_common.schemas.interaction import Channel
from metaconnect_common.templates import CustomerContext, ItemContext, TemplateContext, render_template
from metaconnect_common.templates import TemplateFailure as SandboxFailure
from metaconnect_delivery.rendering import digest as layouts
from metaconnect_delivery.rendering.digest import Digest
from metaconnect_delivery.rendering.failures import NothingRendered, Reason, RenderFailure, TemplateFailure
from metaconnect_delivery.rendering.messages import Rendered, RenderedItem

DEFAULT_MAX_SMS_SEGMENTS: Final = 3
"""459 GSM-7 or 201 UCS-2 characters: room for a digest, at three times the price of one part."""

# Where an item without content for the target channel borrows its text, nearest form first:
# the short channels lend to each other (push and in-app both have a title), email comes last
# for them (long, maybe HTML), and first for nobody but itself.
CONTENT_FALLBACKS: Final[dict[Channel, tuple[Channel, ...]]] = {
    Channel.PUSH: (Channel.PUSH, Channel.IN_APP, Channel.SMS, Channel.WHATSAPP, Channel.EMAIL),
    Channel.IN_APP: (Channel.IN_APP, Channel.PUSH, Channel.WHATSAPP, Channel.SMS, Channel.EMAIL),
    Channel.SMS: (Channel.SMS, Channel.PUSH, Channel.WHATSAPP, Channel.IN_APP, Channel.EMAIL),
    Channel.WHATSAPP: (Channel.WHATSAPP, Channel.SMS, Channel.PUSH, Channel.IN_APP, Channel.EMAIL),
    Channel.EMAIL: (Channel.EMAIL, Channel.IN_APP, Channel.WHATSAPP, Channel.PUSH, Channel.SMS),
    Channel.WEBHOOK: (Channel.WEBHOOK, Channel.IN_APP, Channel.PUSH, Channel.EMAIL, Channel.WHATSAPP, Channel.SMS),
}

MAX_ACTION_URL_CHARS: Final = 2048
_UNSAFE_SCHEMES: Final = frozenset({"javascript", "vbscript", "data", "file"})


@dataclass(frozen=True)
class Rendering:
    """A delivery rendered for one channel: the message, and the items left out of it."""

    message: Rendered
    items: tuple[RenderedItem, ...]
    """What the message carries, in reading order (some may be their fallback text: `fallback`)."""
    dropped: tuple[RenderFailure, ...]
    """Items that could not render, each failure naming its `item_id`, `field` and `variable`."""


def render(delivery: Delivery, channel: Channel, *, max_sms_segments: int = DEFAULT_MAX_SMS_SEGMENTS) -> Rendered:
    """The message to send on `channel`: one item as itself, several as a digest in the given order;
    items that cannot render are left out (see `render_delivery`)."""
    return render_delivery(delivery, channel, max_sms_segments=max_sms_segments).message


def render_delivery(
    delivery: Delivery, channel: Channel, *, max_sms_segments: int = DEFAULT_MAX_SMS_SEGMENTS
) -> Rendering:
    """`render`, saying which items were left out and why. Raises `NothingRendered` (the first item's
    failure, every item's in `dropped`) when no item renders, or a failure of the whole message
    (`payload_too_large`, `unsupported_channel`)."""
    if max_sms_segments < 1:
        raise ValueError(f"max_sms_segments must be >= 1, not {max_sms_segments}")
    if channel not in CONTENT_FALLBACKS:
        raise RenderFailure(Reason.UNSUPPORTED_CHANNEL, f"nothing renders for the {channel} channel")
    shown: list[RenderedItem] = []
    dropped: list[RenderFailure] = []
    for item in delivery.items:
        try:
            shown.append(render_item(delivery, item, channel))
        except RenderFailure as failure:
            dropped.append(failure)
    if not shown:
        raise NothingRendered(tuple(dropped))
    digest = Digest(
        delivery_id=delivery.id,
        customer_id=delivery.customer_id,
        bundle_id=delivery.bundle_id,
        urgent=delivery.urgent,
        locale=delivery.locale,
        items=tuple(shown),
        overflow=delivery.overflow,
    )
    return Rendering(message=_layout(digest, channel, max_sms_segments), items=tuple(shown), dropped=tuple(dropped))


def _layout(digest: Digest, channel: Channel, max_sms_segments: int) -> Rendered:
    match channel:
        case Channel.PUSH:
            return layouts.push(digest)
        case Channel.SMS:
            return layouts.sms(digest, max_sms_segments)
        case Channel.WHATSAPP:
            return layouts.whatsapp(digest)
        case Channel.EMAIL:
            return layouts.email(digest)
        case Channel.IN_APP:
            return layouts.in_app(digest)
        case _:
            return layouts.webhook(digest)


def render_item(delivery: Delivery, item: DeliveryItem, channel: Channel) -> RenderedItem:
    """One item's templates for `channel`, with the content it falls back to if it has none, and its
    content's fallback text if they cannot render."""
    source, content = content_for(item, channel)
    try:
        return _rendered(delivery, item, channel, source, content)
    except RenderFailure as failure:
        if content.fallback is None:
            raise
        text = content.fallback
        plain = ItemContent(title=text.title, body=text.body, subject=text.subject, action_url=text.action_url)
        return _rendered(delivery, item, channel, source, plain, fallback=failure)


def _rendered(
    delivery: Delivery,
    item: DeliveryItem,
    channel: Channel,
    source: Channel,
    content: ItemContent,
    *,
    fallback: RenderFailure | None = None,
) -> RenderedItem:
    context = template_context(delivery, item, channel)

    def field(name: str, template: str | None, *, html: bool = False) -> str | None:
        if template is None:
            return None
        if fallback is not None:  # a fallback is plain text: sent as it is, escaped in HTML
            return (str(escape(template)) if html else template).strip() or None
        try:
            return render_template(template, context, html=html).strip() or None
        except SandboxFailure as failure:
            raise TemplateFailure.of(failure).for_item(item.id, name) from None

    body = field("body", content.body)
    if body is None:
        raise RenderFailure(Reason.EMPTY_BODY, f"item {item.id}: the body renders empty", item_id=item.id, field="body")
    return RenderedItem(
        item_id=item.id,
        message_id=item.message_id,
        route=item.route,
        category=item.category,
        priority=item.priority,
        tone=item.tone,
        content_channel=source,
        title=field("title", content.title),
        body=body,
        subject=field("subject", content.subject) if channel in (Channel.EMAIL, Channel.WEBHOOK) else None,
        action_url=_action_url(item, field("action_url", content.action_url)),
        html_body=field("body", content.body, html=True) if channel is Channel.EMAIL else None,
        fallback=fallback,
    )


def content_for(item: DeliveryItem, channel: Channel) -> tuple[Channel, ItemContent]:
    """The item's content for `channel`, or the first fallback's: (whose content, content)."""
    for candidate in CONTENT_FALLBACKS.get(channel, (channel,)):
        if (content := item.content.get(candidate)) is not None:
            return candidate, content
    raise RenderFailure(
        Reason.NO_CONTENT_FOR_CHANNEL,
        f"item {item.id} has no content for {channel} nor any channel it may borrow from",
        item_id=item.id,
    )


def item_context(item: DeliveryItem) -> ItemContext:
    return {
        "id": str(item.id),
        "route": item.route,
        "message_id": item.message_id,
        "priority": item.priority,
        "category": item.category,
    }


def template_context(delivery: Delivery, item: DeliveryItem, channel: Channel) -> TemplateContext:
    """What a template sees (`metaconnect_common.templates.TemplateContext`, documented in
    docs/router.md): the event's `data`, the `customer` as the router allowed, the `item`, the
    delivery's `items`, the `delivery`, the `channel`. Never the tone or anything of personality."""
    customer = item.customer
    who: CustomerContext = {
        "id": str(delivery.customer_id),
        "first_name": customer.first_name if customer else None,
        "locale": customer.locale if customer and customer.locale else delivery.locale,
        "time_zone": customer.time_zone if customer else None,
        "traits": dict(customer.traits) if customer else {},
    }
    return {
        "data": dict(item.data),
        "customer": who,
        "item": item_context(item),
        "items": [item_context(i) for i in delivery.items],
        "delivery": {
            "id": str(delivery.id),
            "locale": delivery.locale,
            "overflow": delivery.overflow,
            "item_count": len(delivery.items),
            "bundled": delivery.bundle_id is not None,
            "urgent": delivery.urgent,
        },
        "channel": channel.value,
        "customer_id": str(delivery.customer_id),
    }


def _action_url(item: DeliveryItem, url: str | None) -> str | None:
    if url is None or _safe_url(url):
        return url
    raise RenderFailure(
        Reason.INVALID_ACTION_URL,
        f"item {item.id} action_url: not a safe URL of at most {MAX_ACTION_URL_CHARS} characters",
        item_id=item.id,
        field="action_url",
    )


def _safe_url(url: str) -> bool:
    # A link goes into email HTML and app intents: no script or data URLs, no whitespace or
    # control characters (browsers strip them, reassembling `java\tscript:`).
    if len(url) > MAX_ACTION_URL_CHARS or any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in url):
        return False
    try:
        return urlsplit(url).scheme.lower() not in _UNSAFE_SCHEMES
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return False
