"""Provider notifications as interactions (pure: the caller passes the time, nothing is read or written).

Statuses of messages the delivery service sent become receipts naming the customer by their
Metaconnect id, carrying the delivery id; customers' own messages become `message.replied`
naming the customer by phone number. Event ids derive from (provider, provider message id,
status), so a provider retrying a notification, or a replayed one, is one event downstream.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import to_json

from metaconnect_common.errors import FieldError, field_errors, invalid_request
from metaconnect_common.schemas import Channel, CustomerRef, Interaction
from metaconnect_ingest.webhooks.schemas import (
    CallbackIds,
    TwilioInboundMessage,
    TwilioStatusCallback,
    WhatsAppInbound,
    WhatsAppWebhook,
)

TWILIO: Final = "twilio"
WHATSAPP: Final = "whatsapp"
WEBHOOKS_NAMESPACE: Final = uuid.UUID("2b7c4f0e-91d3-4a8e-b6f5-0c3e8d1a7f42")
REPLIED: Final = "message.replied"

# Provider status -> interaction type; any other status is acknowledged without an interaction.
TWILIO_STATUSES: Final[Mapping[str, str]] = {
    "sent": "message.sent",
    "delivered": "message.delivered",
    "undelivered": "message.failed",
    "failed": "message.failed",
    "read": "message.read",
}
WHATSAPP_STATUSES: Final[Mapping[str, str]] = {
    "sent": "message.sent",
    "delivered": "message.delivered",
    "read": "message.read",
    "failed": "message.failed",
}

# A customer's text is kept whole up to this many characters and this many bytes of JSON
# (well inside the 16 KiB an interaction's properties may take).
MAX_TEXT_CHARS: Final = 4096
MAX_TEXT_BYTES: Final = 8 * 1024


def webhook_event_id(provider: str, message_id: str, status: str) -> uuid.UUID:
    return uuid.uuid5(WEBHOOKS_NAMESPACE, f"{provider}:{message_id}:{status}")


def parse_callback_data(value: str | None) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(delivery id, customer id) from WhatsApp's echoed `mc1:<delivery>:<customer>`, or None if not ours."""
    if not value:
        return None
    version, _, rest = value.partition(":")
    delivery, _, customer = rest.partition(":")
    if version != "mc1":
        return None
    try:
        return uuid.UUID(delivery), uuid.UUID(customer)
    except ValueError:
        return None


def bounded_text(text: str) -> tuple[str, bool]:
    """`text` cut to MAX_TEXT_CHARS characters and MAX_TEXT_BYTES of JSON; whether it was cut."""
    cut = text[:MAX_TEXT_CHARS]
    while (size := len(to_json(cut))) > MAX_TEXT_BYTES:
        cut = cut[: len(cut) * MAX_TEXT_BYTES // size - 1]
    return cut, len(cut) < len(text)


def twilio_status(callback: TwilioStatusCallback, ids: CallbackIds, now: datetime) -> Interaction | None:
    """A receipt for a Twilio status callback, or None for a status not tracked (queued, sending, ...)."""
    status = callback.message_status.lower()
    type_ = TWILIO_STATUSES.get(status)
    if type_ is None:
        return None
    whatsapp = any(v and v.startswith("whatsapp:") for v in (callback.sender, callback.to))
    return _receipt(
        provider=TWILIO,
        type_=type_,
        channel=Channel.WHATSAPP if whatsapp else Channel.SMS,
        message_id=callback.message_sid,
        status=status,
        error_code=callback.error_code or None,
        delivery_id=ids.delivery_id,
        customer_id=ids.customer_id,
        occurred_at=now,
        now=now,
    )


def twilio_reply(message: TwilioInboundMessage, now: datetime) -> Interaction:
    """`message.replied` for an incoming SMS (or WhatsApp message via Twilio), naming the customer by phone."""
    whatsapp = message.sender.startswith("whatsapp:")
    properties: dict[str, Any] = {"provider": TWILIO, "provider_message_id": message.message_sid}
    properties.update(_text_properties(message.body or None))
    properties["media_count"] = message.num_media
    if message.opt_out_type:
        properties["opt_out_type"] = message.opt_out_type.upper()
    return _reply(
        provider=TWILIO,
        channel=Channel.WHATSAPP if whatsapp else Channel.SMS,
        phone=message.sender.removeprefix("whatsapp:"),
        phone_field="From",
        message_id=message.message_sid,
        properties=properties,
        occurred_at=now,
        now=now,
    )


def whatsapp_interactions(webhook: WhatsAppWebhook, now: datetime) -> tuple[list[Interaction], int]:
    """The interactions in a WhatsApp notification, in order, and how many statuses were ignored.

    Statuses count only with Metaconnect's `biz_opaque_callback_data` and a tracked status;
    every inbound message becomes `message.replied`.
    """
    out: list[Interaction] = []
    ignored = 0
    for e, entry in enumerate(webhook.entry):
        for c, change in enumerate(entry.changes):
            for status in change.value.statuses:
                type_ = WHATSAPP_STATUSES.get(status.status.lower())
                ids = parse_callback_data(status.biz_opaque_callback_data)
                if type_ is None or ids is None:
                    ignored += 1
                    continue
                out.append(
                    _receipt(
                        provider=WHATSAPP,
                        type_=type_,
                        channel=Channel.WHATSAPP,
                        message_id=status.id,
                        status=status.status.lower(),
                        error_code=str(status.errors[0].code) if status.errors else None,
                        delivery_id=ids[0],
                        customer_id=ids[1],
                        occurred_at=_at(status.timestamp, now),
                        now=now,
                    )
                )
            for m, message in enumerate(change.value.messages):
                out.append(_whatsapp_reply(message, f"entry.{e}.changes.{c}.value.messages.{m}.from", now))
    return out, ignored


def _whatsapp_reply(message: WhatsAppInbound, phone_field: str, now: datetime) -> Interaction:
    properties: dict[str, Any] = {
        "provider": WHATSAPP,
        "provider_message_id": message.id,
        "message_type": message.type,
    }
    properties.update(_text_properties(_whatsapp_text(message)))
    if message.context and message.context.id:
        properties["in_reply_to"] = message.context.id
    return _reply(
        provider=WHATSAPP,
        channel=Channel.WHATSAPP,
        phone="+" + message.sender.removeprefix("+"),
        phone_field=phone_field,
        message_id=message.id,
        properties=properties,
        occurred_at=_at(message.timestamp, now),
        now=now,
    )


def _whatsapp_text(message: WhatsAppInbound) -> str | None:
    """What the customer wrote or tapped: a text's body, a quick-reply button's or a list row's title."""
    if message.text is not None:
        return message.text.body
    if message.button is not None:
        return message.button.text
    if message.interactive:
        for kind in ("button_reply", "list_reply"):
            reply = message.interactive.get(kind)
            if isinstance(reply, dict) and isinstance(reply.get("title"), str):
                return str(reply["title"])
    return None


def _text_properties(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    kept, truncated = bounded_text(text)
    out: dict[str, Any] = {"text": kept, "text_length": len(text)}
    if truncated:
        out["text_truncated"] = True
    return out


def _at(timestamp: int | None, now: datetime) -> datetime:
    """The provider's time of the event, never after `now` (a clock ahead must not date events ahead)."""
    if timestamp is None:
        return now
    try:
        return min(datetime.fromtimestamp(timestamp, UTC), now)
    except (OverflowError, OSError, ValueError):
        return now


def _receipt(
    *,
    provider: str,
    type_: str,
    channel: Channel,
    message_id: str,
    status: str,
    error_code: str | None,
    delivery_id: uuid.UUID,
    customer_id: uuid.UUID,
    occurred_at: datetime,
    now: datetime,
) -> Interaction:
    return Interaction(
        event_id=webhook_event_id(provider, message_id, status),
        customer=CustomerRef(metaconnect_id=customer_id),
        type=type_,
        channel=channel,
        occurred_at=occurred_at,
        received_at=now,
        source=f"webhook:{provider}",
        properties={
            "delivery_id": str(delivery_id),
            "provider": provider,
            "provider_message_id": message_id,
            "status": status,
            "error_code": error_code,
        },
    )


def _reply(
    *,
    provider: str,
    channel: Channel,
    phone: str,
    phone_field: str,
    message_id: str,
    properties: dict[str, Any],
    occurred_at: datetime,
    now: datetime,
) -> Interaction:
    try:
        customer = CustomerRef(phone=phone)
    except ValidationError as exc:
        # Named after the provider's field; the number itself is never echoed.
        errors = [FieldError(field=phone_field, rule=e.rule, message=e.message) for e in field_errors(exc.errors())]
        raise invalid_request(errors) from None
    return Interaction(
        event_id=webhook_event_id(provider, message_id, "replied"),
        customer=customer,
        type=REPLIED,
        channel=channel,
        occurred_at=occurred_at,
        received_at=now,
        source=f"webhook:{provider}",
        properties=properties,
    )
