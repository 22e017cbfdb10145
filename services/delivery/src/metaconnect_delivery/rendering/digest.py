"""Channel layouts: one item as itself, several (a meta-connect bundle) as a digest in the router's order.

A digest reads like a short list of messages: every shown item on a line of its own with its title
and the start of its body ("• Your order shipped: arrives Friday…"), ending with the overflow line
("and 3 more"). On the short channels (push, SMS) the bodies are shortened evenly to fit; when even
a short excerpt of each (`MIN_EXCERPT_CHARS`) does not fit, the last items move into the overflow
count rather than being cut to their titles; only a single remaining line is cut. WhatsApp shows
title and whole body per line up to its limit; e-mail a section per item (heading: the item's
subject, else its title), in the text and the HTML part alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from markupsafe import escape

from metaconnect_delivery.rendering.failures import Reason, RenderFailure
from metaconnect_delivery.rendering.limits import (
    ELLIPSIS,
    EMAIL_SUBJECT_MAX_CHARS,
    FCM_MAX_PAYLOAD_BYTES,
    GSM7_ELLIPSIS,
    PUSH_BODY_MAX_CHARS,
    PUSH_TITLE_MAX_CHARS,
    UCS2_ELLIPSIS,
    WHATSAPP_TEXT_MAX_CHARS,
    email_subject,
    fcm_payload_bytes,
    one_line,
    sms_encoding,
    sms_segments,
    truncate,
    truncate_sms,
    truncate_to_fit,
    whatsapp_parameter,
)
from metaconnect_delivery.rendering.messages import (
    EmailMessage,
    InAppItem,
    InAppMessage,
    PushMessage,
    RenderedItem,
    SmsMessage,
    WebhookMessage,
    WhatsAppMessage,
)

SUBJECT_FROM_BODY_MAX_CHARS = 78
"""A subject derived from a body line: the traditional header line length."""
MIN_EXCERPT_CHARS: Final = 20
"""The least of a body a push or SMS digest line shows beside the title (a few words)."""
UNTITLED_MIN_CHARS: Final = 40
"""An item without a title shows at least this much of its body as its line."""

# "and 3 more" per language; `weitere` agrees with `Nachricht` in singular and plural alike.
OVERFLOW_LINES: Final[dict[str, str]] = {"en": "and {n} more", "de": "und {n} weitere"}
FALLBACK_LANGUAGE: Final = "en"


def overflow_line(overflow: int, locale: str) -> str | None:
    """ "and 3 more" in the customer's language (`de`, `de-AT`, ...); English otherwise; None for 0."""
    if overflow < 0:
        raise ValueError(f"overflow cannot be negative, not {overflow}")
    if overflow == 0:
        return None
    language = locale.replace("_", "-").split("-", 1)[0].lower()
    template = OVERFLOW_LINES.get(language, OVERFLOW_LINES[FALLBACK_LANGUAGE])
    return template.format(n=overflow)


@dataclass(frozen=True)
class Digest:
    """The rendered, shown items of one delivery with what the layouts say around them."""

    delivery_id: UUID
    customer_id: UUID
    bundle_id: UUID | None
    urgent: bool
    locale: str
    items: tuple[RenderedItem, ...]
    overflow: int

    @property
    def single(self) -> RenderedItem | None:
        """The item, when the delivery is one item with nothing summarised."""
        return self.items[0] if len(self.items) == 1 and self.overflow == 0 else None

    @property
    def others(self) -> int:
        """Items besides the first, shown or summarised: the "(+N)" of a digest's title."""
        return len(self.items) - 1 + self.overflow


def push(digest: Digest) -> PushMessage:
    data = {"delivery_id": str(digest.delivery_id), "item_ids": ",".join(str(i.item_id) for i in digest.items)}
    if digest.bundle_id is not None:
        data["bundle_id"] = str(digest.bundle_id)
    if (item := digest.single) is not None:
        title = truncate(item.title, PUSH_TITLE_MAX_CHARS) if item.title else None
        body = truncate(item.body, PUSH_BODY_MAX_CHARS)
        if item.action_url:
            data["action_url"] = item.action_url  # a digest opens the inbox, one item its link
    else:
        title = _counted(_headline(digest.items[0]), digest.others, PUSH_TITLE_MAX_CHARS)
        body = _fit_excerpts("• ", digest, lambda text: len(text) <= PUSH_BODY_MAX_CHARS)

    def fits(candidate: str) -> bool:
        return fcm_payload_bytes(title, candidate, data) <= FCM_MAX_PAYLOAD_BYTES

    body = truncate_to_fit(body, fits)
    if not fits(body):
        raise RenderFailure(Reason.PAYLOAD_TOO_LARGE, f"the FCM payload exceeds {FCM_MAX_PAYLOAD_BYTES} bytes")
    return PushMessage(title=title, body=body, data=data)


def sms(digest: Digest, max_segments: int) -> SmsMessage:
    def fits(text: str) -> bool:
        return sms_segments(text).count <= max_segments

    if (item := digest.single) is not None:

        def compose(body: str) -> str:
            return "\n".join(part for part in (item.title, body, item.action_url) if part)

        # Shorten the body, keep the title and the link; the ellipsis follows the whole text's encoding.
        ellipsis = _sms_ellipsis(compose(item.body))
        text = compose(truncate_to_fit(item.body, lambda body: fits(compose(body)), ellipsis=ellipsis))
    else:
        everything = "".join(f"{item.title or ''}{item.body}" for item in digest.items)
        text = _fit_excerpts("{n}. ", digest, fits, ellipsis=_sms_ellipsis(everything))
    text = truncate_sms(text, max_segments)  # a title or link alone may still be too long
    return SmsMessage(body=text, segments=sms_segments(text))


def whatsapp(digest: Digest) -> WhatsAppMessage:
    def fits(text: str) -> bool:
        return len(text) <= WHATSAPP_TEXT_MAX_CHARS

    if (item := digest.single) is not None:

        def compose(body: str) -> str:
            title = f"*{one_line(item.title)}*" if item.title else None
            return "\n".join(part for part in (title, body, item.action_url) if part)

        text = compose(truncate_to_fit(item.body, lambda body: fits(compose(body))))
    else:
        lines = [
            f"{number}. *{one_line(item.title)}*: {one_line(item.body)}"
            if item.title
            else f"{number}. {one_line(item.body)}"
            for number, item in enumerate(digest.items, start=1)
        ]
        text = _fit_lines(lines, digest, fits)
    text = truncate(text, WHATSAPP_TEXT_MAX_CHARS)
    return WhatsAppMessage(text=text, template_parameter=whatsapp_parameter(text))


def email(digest: Digest) -> EmailMessage:
    first = digest.items[0]
    base = email_subject(first.subject or first.title or truncate(one_line(first.body), SUBJECT_FROM_BODY_MAX_CHARS))
    subject = base if digest.single else _counted(base, digest.others, EMAIL_SUBJECT_MAX_CHARS)
    more = overflow_line(digest.overflow, digest.locale)

    sections = [
        "\n".join(part for part in (_email_heading(item, digest), item.body, item.action_url) if part)
        for item in digest.items
    ]
    text = "\n\n".join([*sections, *([more] if more else [])])

    html_sections = [_html_section(item, _email_heading(item, digest)) for item in digest.items]
    if more:
        html_sections.append(f"<p>{escape(more)}</p>")
    html = (
        f'<!DOCTYPE html>\n<html lang="{escape(digest.locale)}">\n'
        f'<head><meta charset="utf-8"><title>{escape(subject)}</title></head>\n'
        f"<body>\n{chr(10).join(html_sections)}\n</body>\n</html>\n"
    )
    return EmailMessage(subject=subject, text=text, html=html)


def in_app(digest: Digest) -> InAppMessage:
    items = tuple(
        InAppItem(
            item_id=item.item_id,
            message_id=item.message_id,
            title=item.title,
            body=item.body,
            action_url=item.action_url,
            tone=item.tone,
            category=item.category,
        )
        for item in digest.items
    )
    return InAppMessage(
        items=items, overflow=digest.overflow, overflow_line=overflow_line(digest.overflow, digest.locale)
    )


def webhook(digest: Digest) -> WebhookMessage:
    items: list[dict[str, Any]] = [
        {
            "id": str(item.item_id),
            "message_id": item.message_id,
            "route": item.route,
            "category": item.category,
            "priority": item.priority,
            "tone": item.tone,
            "title": item.title,
            "body": item.body,
            "subject": item.subject,
            "action_url": item.action_url,
        }
        for item in digest.items
    ]
    payload: dict[str, Any] = {
        "delivery_id": str(digest.delivery_id),
        "customer_id": str(digest.customer_id),
        "bundle_id": None if digest.bundle_id is None else str(digest.bundle_id),
        "urgent": digest.urgent,
        "locale": digest.locale,
        "items": items,
        "overflow": digest.overflow,
        "overflow_line": overflow_line(digest.overflow, digest.locale),
    }
    return WebhookMessage(payload=payload)


def _headline(item: RenderedItem) -> str:
    return one_line(item.title) if item.title else one_line(item.body)


def _counted(text: str, others: int, max_chars: int) -> str:
    """`text (+N)`, shortening the text rather than the count."""
    suffix = f" (+{others})"
    return truncate(text, max_chars - len(suffix)) + suffix


def _fit_lines(lines: Sequence[str], digest: Digest, fits: Callable[[str], bool], *, ellipsis: str = ELLIPSIS) -> str:
    """The first lines that fit with the overflow line; items left out join the overflow count."""
    for shown in range(len(lines), 1, -1):
        more = overflow_line(digest.overflow + len(lines) - shown, digest.locale)
        text = "\n".join([*lines[:shown], *([more] if more else [])])
        if fits(text):
            return text
    more = overflow_line(digest.overflow + len(lines) - 1, digest.locale)
    tail = f"\n{more}" if more else ""
    return truncate_to_fit(lines[0], lambda line: fits(line + tail), ellipsis=ellipsis) + tail


def _excerpt_line(item: RenderedItem, chars: int, ellipsis: str) -> str:
    """The item's digest line with at most `chars` of its body: "Title: body…" (a title alone at 0)."""
    body = one_line(item.body)
    if not item.title:
        return truncate(body, max(chars, UNTITLED_MIN_CHARS), ellipsis=ellipsis)
    title = one_line(item.title)
    return f"{title}: {truncate(body, chars, ellipsis=ellipsis)}" if chars > 0 and body else title


def _fit_excerpts(bullet: str, digest: Digest, fits: Callable[[str], bool], *, ellipsis: str = ELLIPSIS) -> str:
    """Each shown item as `bullet` + title and body excerpt (`{n}` in `bullet` numbers the lines),
    the bodies cut evenly to the longest excerpt that fits; when not even `MIN_EXCERPT_CHARS` of each
    fits, the last items join the overflow count."""
    items = digest.items
    longest = max(len(one_line(item.body)) for item in items)

    def text(shown: int, chars: int) -> str:
        lines = [
            bullet.format(n=number) + _excerpt_line(item, chars, ellipsis)
            for number, item in enumerate(items[:shown], start=1)
        ]
        more = overflow_line(digest.overflow + len(items) - shown, digest.locale)
        return "\n".join([*lines, *([more] if more else [])])

    for shown in range(len(items), 1, -1):
        if not fits(text(shown, min(MIN_EXCERPT_CHARS, longest))):
            continue
        low, high = min(MIN_EXCERPT_CHARS, longest), longest  # fits(text(shown, low)) holds
        while low < high:
            middle = (low + high + 1) // 2
            if fits(text(shown, middle)):
                low = middle
            else:
                high = middle - 1
        return text(shown, low)
    more = overflow_line(digest.overflow + len(items) - 1, digest.locale)
    tail = f"\n{more}" if more else ""
    first = bullet.format(n=1) + _excerpt_line(items[0], longest, ellipsis)
    return truncate_to_fit(first, lambda line: fits(line + tail), ellipsis=ellipsis) + tail


def _sms_ellipsis(text: str) -> str:
    # "…" is not GSM-7: it would turn a GSM-7 text into UCS-2 and cut each part to 67.
    return GSM7_ELLIPSIS if sms_encoding(text) == "gsm7" else UCS2_ELLIPSIS


def _email_heading(item: RenderedItem, digest: Digest) -> str | None:
    # A single e-mail's subject is the message's subject; in a digest each item's subject heads its section.
    return item.title if digest.single else item.subject or item.title


def _html_section(item: RenderedItem, heading: str | None) -> str:
    parts = ["<section>"]
    if heading:
        parts.append(f"<h2>{escape(heading)}</h2>")
    # pre-line keeps a plain-text body's line breaks; the body's markup and escaping come from its template.
    parts.append(f'<div style="white-space:pre-line">{item.html_body or escape(item.body)}</div>')
    if item.action_url:
        parts.append(f'<p><a href="{escape(item.action_url)}">{escape(item.action_url)}</a></p>')
    parts.append("</section>")
    return "".join(parts)
