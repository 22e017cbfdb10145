"""Provider notifications -> interactions, as plain functions (no app, no broker)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic_core import to_json

from metaconnect_common.errors import ApiError
from metaconnect_common.schemas import Channel
from metaconnect_ingest.webhooks.mapping import (
    MAX_TEXT_BYTES,
    MAX_TEXT_CHARS,
    bounded_text,
    parse_callback_data,
    twilio_reply,
    twilio_status,
    webhook_event_id,
    whatsapp_interactions,
)
from metaconnect_ingest.webhooks.schemas import (
    CallbackIds,
    TwilioInboundMessage,
    TwilioStatusCallback,
    WhatsAppWebhook,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DELIVERY, CUSTOMER = uuid.UUID(int=0xD1), uuid.UUID(int=0xC1)  # fixed: test ids must be the same in every worker
IDS = CallbackIds(delivery_id=DELIVERY, customer_id=CUSTOMER)


def status_callback(status: str, **extra: str) -> TwilioStatusCallback:
    return TwilioStatusCallback.model_validate({"MessageSid": "SM1", "MessageStatus": status, **extra})


def whatsapp(*, statuses: list[dict[str, Any]] = [], messages: list[dict[str, Any]] = []) -> WhatsAppWebhook:  # noqa: B006
    value = {"messaging_product": "whatsapp", "statuses": statuses, "messages": messages}
    return WhatsAppWebhook.model_validate(
        {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": value}]}]}
    )


def test_event_ids_are_stable_and_distinct_per_provider_message_and_status() -> None:
    assert webhook_event_id("twilio", "SM1", "sent") == webhook_event_id("twilio", "SM1", "sent")
    ids = {
        webhook_event_id(p, m, s)
        for p in ("twilio", "whatsapp")
        for m in ("SM1", "SM2")
        for s in ("sent", "delivered", "replied")
    }
    assert len(ids) == 12


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"mc1:{DELIVERY}:{CUSTOMER}", (DELIVERY, CUSTOMER)),
        (None, None),
        ("", None),
        (f"mc2:{DELIVERY}:{CUSTOMER}", None),
        (f"mc1:{DELIVERY}", None),
        (f"mc1:{DELIVERY}:{CUSTOMER}:extra", None),
        ("mc1:not-a-uuid:also-not", None),
        ("order-17", None),
    ],
)
def test_callback_data(value: str | None, expected: tuple[uuid.UUID, uuid.UUID] | None) -> None:
    assert parse_callback_data(value) == expected


@pytest.mark.parametrize(
    ("status", "type_"),
    [
        ("sent", "message.sent"),
        ("delivered", "message.delivered"),
        ("Delivered", "message.delivered"),
        ("read", "message.read"),
        ("undelivered", "message.failed"),
        ("failed", "message.failed"),
        ("queued", None),
        ("accepted", None),
        ("sending", None),
        ("receiving", None),
        ("something_new", None),
    ],
)
def test_twilio_statuses(status: str, type_: str | None) -> None:
    interaction = twilio_status(status_callback(status), IDS, NOW)
    if type_ is None:
        assert interaction is None
        return
    assert interaction is not None
    assert interaction.type == type_
    assert interaction.event_id == webhook_event_id("twilio", "SM1", status.lower())
    assert interaction.customer.metaconnect_id == CUSTOMER
    assert interaction.properties["delivery_id"] == str(DELIVERY)
    assert interaction.occurred_at == interaction.received_at == NOW


def test_twilio_error_code_only_when_given() -> None:
    failed = twilio_status(status_callback("failed", ErrorCode="30006"), IDS, NOW)
    assert failed is not None
    assert failed.properties["error_code"] == "30006"
    blank = twilio_status(status_callback("delivered", ErrorCode=""), IDS, NOW)
    assert blank is not None
    assert blank.properties["error_code"] is None


def test_twilio_media_only_reply_has_no_text() -> None:
    message = TwilioInboundMessage.model_validate({"MessageSid": "SM9", "From": "+447700900123", "NumMedia": "2"})
    interaction = twilio_reply(message, NOW)
    assert interaction.customer.phone == "+447700900123"
    assert interaction.channel == Channel.SMS
    assert interaction.properties == {"provider": "twilio", "provider_message_id": "SM9", "media_count": 2}


def test_twilio_reply_from_an_impossible_number_names_from() -> None:
    message = TwilioInboundMessage.model_validate({"MessageSid": "SM9", "From": "+1", "Body": "hi"})
    with pytest.raises(ApiError) as raised:
        twilio_reply(message, NOW)
    assert raised.value.status == 422
    assert [(e.field, e.rule) for e in raised.value.body.errors] == [("From", "phone_e164")]


def test_whatsapp_failed_status_carries_the_first_error_code_and_the_providers_time() -> None:
    at = NOW - timedelta(minutes=3)
    webhook = whatsapp(
        statuses=[
            {
                "id": "wamid.1",
                "status": "failed",
                "timestamp": str(int(at.timestamp())),
                "biz_opaque_callback_data": f"mc1:{DELIVERY}:{CUSTOMER}",
                "errors": [{"code": 131047, "title": "Re-engagement message"}, {"code": 1}],
            }
        ]
    )
    [interaction], ignored = whatsapp_interactions(webhook, NOW)
    assert ignored == 0
    assert interaction.type == "message.failed"
    assert interaction.properties["error_code"] == "131047"
    assert interaction.occurred_at == at
    assert interaction.received_at == NOW


def test_whatsapp_time_ahead_of_ours_is_clamped_to_now() -> None:
    ahead = str(int((NOW + timedelta(hours=2)).timestamp()))
    opaque = f"mc1:{DELIVERY}:{CUSTOMER}"
    webhook = whatsapp(
        statuses=[
            {"id": "wamid.1", "status": "sent", "timestamp": ahead, "biz_opaque_callback_data": opaque},
            {"id": "wamid.2", "status": "sent", "biz_opaque_callback_data": opaque},
            {"id": "wamid.3", "status": "sent", "timestamp": str(10**15), "biz_opaque_callback_data": opaque},
        ]
    )
    interactions, _ = whatsapp_interactions(webhook, NOW)
    assert [i.occurred_at for i in interactions] == [NOW, NOW, NOW]


@pytest.mark.parametrize(
    ("message", "text"),
    [
        ({"type": "text", "text": {"body": "Yes"}}, "Yes"),
        ({"type": "button", "button": {"text": "Stop promotions", "payload": "STOP"}}, "Stop promotions"),
        (
            {"type": "interactive", "interactive": {"type": "list_reply", "list_reply": {"id": "1", "title": "Tue"}}},
            "Tue",
        ),
        ({"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"title": "OK"}}}, "OK"),
        ({"type": "image", "image": {"id": "media-1", "mime_type": "image/jpeg"}}, None),
        ({"type": "reaction", "reaction": {"message_id": "wamid.0", "emoji": "+"}}, None),
    ],
)
def test_whatsapp_replies_keep_what_the_customer_wrote_or_tapped(message: dict[str, Any], text: str | None) -> None:
    webhook = whatsapp(messages=[{"from": "447700900123", "id": "wamid.9", "timestamp": "1767225600", **message}])
    [interaction], _ = whatsapp_interactions(webhook, NOW)
    assert interaction.type == "message.replied"
    assert interaction.customer.phone == "+447700900123"
    assert interaction.properties["message_type"] == message["type"]
    assert interaction.properties.get("text") == text
    assert "in_reply_to" not in interaction.properties


def test_other_change_fields_are_not_read() -> None:
    webhook = WhatsAppWebhook.model_validate(
        {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "account_update", "value": 7}]}]}
    )
    assert whatsapp_interactions(webhook, NOW) == ([], 0)


def test_longest_texts_fit_an_interaction() -> None:
    text = "\U0001f600" * 5000  # 4 bytes each in UTF-8
    webhook = whatsapp(messages=[{"from": "447700900123", "id": "wamid.9", "type": "text", "text": {"body": text}}])
    [interaction], _ = whatsapp_interactions(webhook, NOW)
    assert interaction.properties["text_truncated"] is True
    assert interaction.properties["text_length"] == 5000
    assert text.startswith(interaction.properties["text"])


@given(st.text(max_size=6000))
def test_bounded_text_is_a_prefix_within_both_limits(text: str) -> None:
    kept, truncated = bounded_text(text)
    assert text.startswith(kept)
    assert len(kept) <= MAX_TEXT_CHARS
    assert len(to_json(kept)) <= MAX_TEXT_BYTES
    assert truncated == (kept != text)
    if not truncated:
        assert kept == text
