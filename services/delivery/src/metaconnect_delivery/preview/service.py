"""Previews of message texts as a delivery would send them (pure, no I/O).

The console shows marketing ops each variant of a route's message per tone, channel and locale
before it goes live. It must be what customers would get, so a preview is a one-item delivery
put through `render_delivery`, the code every send runs: the same sandbox, layouts and limits
(SMS segments, push title and body lengths, the FCM payload).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from metaconnect_common.schemas.delivery import Delivery, DeliveryItem, ItemContent, TemplateCustomer
from metaconnect_common.schemas.interaction import Channel
from metaconnect_delivery.rendering import (
    EmailMessage,
    InAppMessage,
    PushMessage,
    RenderFailure,
    SmsMessage,
    WebhookMessage,
    WhatsAppMessage,
    render_delivery,
)
from metaconnect_delivery.rendering.limits import (
    FCM_MAX_PAYLOAD_BYTES,
    PUSH_BODY_MAX_CHARS,
    PUSH_TITLE_MAX_CHARS,
    fcm_payload_bytes,
)

MAX_TEXTS: Final = 300
"""50 messages' worth of 5 tones x 6 channels is more than a page shows; one message is 30 x locales."""

Tone = Literal["neutral", "red", "yellow", "green", "blue"]


class PreviewText(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tone: Tone
    channel: Channel
    locale: str = Field(default="en", max_length=16)
    content: ItemContent


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    route: str = Field(default="preview", max_length=63)
    message_id: str = Field(default="preview", max_length=63)
    category: Literal["transactional", "marketing"] = "marketing"
    priority: int = Field(default=50, ge=1, le=100)
    data: dict[str, Any] = Field(default_factory=dict, description="Sample event properties (the templates' `data`).")
    customer: TemplateCustomer = Field(default_factory=TemplateCustomer)
    texts: list[PreviewText] = Field(min_length=1, max_length=MAX_TEXTS)


class PreviewFailure(BaseModel):
    reason: str
    message: str
    field: str | None
    variable: str | None


class Preview(BaseModel):
    """One text as the channel would send it, or why it would not go out."""

    tone: str
    channel: str
    locale: str
    failure: PreviewFailure | None = None
    fallback: PreviewFailure | None = Field(
        default=None, description="The templates failed and the content's plain fallback text would go out."
    )
    title: str | None = None
    body: str | None = None
    subject: str | None = None
    action_url: str | None = None
    html: str | None = Field(default=None, description="Email: the HTML part (the customer's mail client shows it).")
    cut: list[str] = Field(default_factory=list, description="Fields shortened to the channel's limits.")
    limits: dict[str, int] = Field(default_factory=dict, description="The channel's limits the text was held to.")
    sms_segments: int | None = None
    sms_encoding: str | None = None
    sms_units: int | None = None
    payload_bytes: int | None = None


class PreviewOut(BaseModel):
    previews: list[Preview]


def preview(request: PreviewIn, *, max_sms_segments: int, now: datetime | None = None) -> PreviewOut:
    """Every text of `request` rendered as a one-item delivery on its channel, in the given order."""
    moment = now or datetime.now(UTC)
    return PreviewOut(previews=[_one(request, text, max_sms_segments, moment) for text in request.texts])


def _one(request: PreviewIn, text: PreviewText, max_sms_segments: int, now: datetime) -> Preview:
    item = DeliveryItem(
        id=uuid.uuid4(),
        decision_id=uuid.uuid4(),
        route=request.route,
        route_version=0,
        message_id=request.message_id,
        category=request.category,
        priority=request.priority,
        tone=text.tone,
        content={text.channel: text.content},
        event_id=uuid.uuid4(),
        data=request.data,
        customer=request.customer,
        created_at=now,
    )
    delivery = Delivery(
        id=uuid.uuid4(),
        customer_id=uuid.uuid4(),
        channels=[text.channel],
        locale=text.locale,
        items=[item],
        urgent=request.category == "transactional",
        created_at=now,
    )
    shown = Preview(tone=text.tone, channel=text.channel.value, locale=text.locale)
    try:
        rendering = render_delivery(delivery, text.channel, max_sms_segments=max_sms_segments)
    except RenderFailure as failure:
        return shown.model_copy(update={"failure": _failure(failure)})
    [rendered] = rendering.items
    fallback = _failure(rendered.fallback) if rendered.fallback else None
    laid_out = _laid_out(rendering.message, max_sms_segments)
    cut = [name for name in ("title", "body") if _shortened(getattr(rendered, name), laid_out.get(name))]
    return shown.model_copy(update={"fallback": fallback, "cut": cut, **laid_out})


def _laid_out(message: object, max_sms_segments: int) -> dict[str, Any]:
    match message:
        case PushMessage(title=title, body=body, data=data):
            return {
                "title": title,
                "body": body,
                "action_url": data.get("action_url"),
                "payload_bytes": fcm_payload_bytes(title, body, data),
                "limits": {
                    "title_chars": PUSH_TITLE_MAX_CHARS,
                    "body_chars": PUSH_BODY_MAX_CHARS,
                    "payload_bytes": FCM_MAX_PAYLOAD_BYTES,
                },
            }
        case SmsMessage(body=body, segments=segments):
            return {
                "body": body,
                "sms_segments": segments.count,
                "sms_encoding": segments.encoding,
                "sms_units": segments.units,
                "limits": {"segments": max_sms_segments},
            }
        case WhatsAppMessage(text=text):
            return {"body": text}
        case EmailMessage(subject=subject, text=text, html=html):
            return {"subject": subject, "body": text, "html": html}
        case InAppMessage(items=items) if items:
            return {"title": items[0].title, "body": items[0].body, "action_url": items[0].action_url}
        case WebhookMessage(payload=payload):
            return {"body": json.dumps(payload, indent=2, default=str)}
    return {}


def _shortened(rendered: str | None, sent: str | None) -> bool:
    # A layout adds to a text (an SMS joins title, body and link) or shortens it with an ellipsis.
    return rendered is not None and sent is not None and not sent.startswith(rendered) and rendered not in sent


def _failure(failure: RenderFailure) -> PreviewFailure:
    # The item is made up for the preview: its id names nothing the person knows.
    message = failure.message.removeprefix(f"item {failure.item_id} ") if failure.item_id else failure.message
    return PreviewFailure(reason=failure.reason.value, message=message, field=failure.field, variable=failure.variable)
