"""Provider webhooks over HTTP: signed notifications land on the real `mc.interactions.v1`, others nowhere."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from pydantic import SecretStr
from starlette.requests import Request

from metaconnect_cli.local._proc import free_port
from metaconnect_common.schemas import Channel
from metaconnect_common.settings import CommonSettings
from metaconnect_common.signatures import META_SIGNATURE_HEADER, TWILIO_SIGNATURE_HEADER
from metaconnect_ingest.config import IngestSettings
from metaconnect_ingest.webhooks.endpoints import signed_url
from metaconnect_ingest.webhooks.mapping import webhook_event_id
from tests.ingest.conftest import ingest_settings
from tests.ingest.webhooks.conftest import (
    APP_SECRET,
    BASE,
    INBOUND_PATH,
    STATUS_PATH,
    TWILIO_TOKEN,
    VERIFY_TOKEN,
    WHATSAPP_PATH,
    callback_query,
    ingest_client,
    interactions_about,
    new_sid,
    post_twilio,
    post_whatsapp,
    webhook_settings,
    whatsapp_envelope,
)
from tests.support import common_settings

PHONE = "+4915112345678"
TEXT = "Ja bitte, gerne morgen um 10"


def status_params(sid: str, status: str, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": "AC" + "0" * 32,
        "ApiVersion": "2010-04-01",
        "From": "+15005550006",
        "MessageSid": sid,
        "MessageStatus": status,
        "SmsSid": sid,
        "SmsStatus": status,
        "To": PHONE,
        **extra,
    }


def inbound_params(sid: str, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": "AC" + "0" * 32,
        "MessageSid": sid,
        "SmsSid": sid,
        "From": PHONE,
        "To": "+15005550006",
        "Body": TEXT,
        "NumMedia": "0",
        **extra,
    }


def wa_status(wamid: str, status: str, opaque: str | None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": wamid, "status": status, "timestamp": "1767225600", "recipient_id": "4915112345678"}
    if opaque is not None:
        body["biz_opaque_callback_data"] = opaque
    return {**body, **extra}


def wa_text(wamid: str, text: str = TEXT) -> dict[str, Any]:
    return {"from": "4915112345678", "id": wamid, "timestamp": "1767225600", "type": "text", "text": {"body": text}}


def new_wamid() -> str:
    return "wamid." + uuid.uuid4().hex


# --- Twilio status callbacks ------------------------------------------------------------------

TWILIO_MAPPING = [
    ("sent", "message.sent", None),
    ("delivered", "message.delivered", None),
    ("read", "message.read", None),
    ("undelivered", "message.failed", "30003"),
    ("failed", "message.failed", "30008"),
]


@pytest.mark.parametrize(("status", "type_", "error_code"), TWILIO_MAPPING)
async def test_twilio_status_becomes_a_receipt_for_the_delivery(
    client: httpx.AsyncClient, kafka_bootstrap: str, status: str, type_: str, error_code: str | None
) -> None:
    sid, delivery_id, customer_id = new_sid(), uuid.uuid4(), uuid.uuid4()
    extra = {"ErrorCode": error_code} if error_code else {}
    response = await post_twilio(
        client, STATUS_PATH, status_params(sid, status, **extra), query=callback_query(delivery_id, customer_id)
    )
    assert response.status_code == 200, response.text
    event_id = webhook_event_id("twilio", sid, status)
    assert response.json() == {"accepted": [str(event_id)], "ignored": 0}

    [(record, interaction)] = await interactions_about(kafka_bootstrap, sid)
    assert record.key == f"mc:{customer_id}".encode()
    assert dict(record.headers)["traceparent"].startswith(b"00-")
    assert interaction.event_id == event_id
    assert interaction.type == type_
    assert interaction.channel == Channel.SMS
    assert interaction.customer.metaconnect_id == customer_id
    assert interaction.customer.phone is None  # the receipt names the customer by id only
    assert interaction.source == "webhook:twilio"
    assert interaction.properties == {
        "delivery_id": str(delivery_id),
        "provider": "twilio",
        "provider_message_id": sid,
        "status": status,
        "error_code": error_code,
    }


async def test_twilio_status_of_a_whatsapp_message_is_on_the_whatsapp_channel(
    client: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    sid = new_sid()
    params = status_params(sid, "delivered", From="whatsapp:+15005550006", To=f"whatsapp:{PHONE}")
    response = await post_twilio(client, STATUS_PATH, params, query=callback_query(uuid.uuid4(), uuid.uuid4()))
    assert response.status_code == 200, response.text
    [(_, interaction)] = await interactions_about(kafka_bootstrap, sid)
    assert interaction.channel == Channel.WHATSAPP


@pytest.mark.parametrize("status", ["queued", "accepted", "sending", "scheduled"])
async def test_twilio_interim_statuses_are_acknowledged_without_an_interaction(
    client: httpx.AsyncClient, kafka_bootstrap: str, status: str
) -> None:
    sid = new_sid()
    response = await post_twilio(
        client, STATUS_PATH, status_params(sid, status), query=callback_query(uuid.uuid4(), uuid.uuid4())
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": [], "ignored": 1}
    assert not await interactions_about(kafka_bootstrap, sid)


async def test_twilio_status_without_delivery_ids_is_not_ours_and_ignored(
    client: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    sid = new_sid()
    response = await post_twilio(client, STATUS_PATH, status_params(sid, "delivered"))
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": [], "ignored": 1}
    assert not await interactions_about(kafka_bootstrap, sid)


async def test_the_same_twilio_callback_twice_is_one_event_id(client: httpx.AsyncClient, kafka_bootstrap: str) -> None:
    sid, query = new_sid(), callback_query(uuid.uuid4(), uuid.uuid4())
    first = await post_twilio(client, STATUS_PATH, status_params(sid, "delivered"), query=query)
    again = await post_twilio(client, STATUS_PATH, status_params(sid, "delivered"), query=query)
    assert first.status_code == again.status_code == 200
    assert first.json()["accepted"] == again.json()["accepted"]
    found = await interactions_about(kafka_bootstrap, sid)
    assert len(found) == 2  # written twice (at least once), one event downstream
    assert {i.event_id for _, i in found} == {webhook_event_id("twilio", sid, "delivered")}
    # Another status of the same message is another event.
    sent = await post_twilio(client, STATUS_PATH, status_params(sid, "sent"), query=query)
    assert sent.json()["accepted"] != first.json()["accepted"]


TWILIO_BAD_INPUT: list[tuple[str, dict[str, str] | None, str, int, str, str]] = [
    # id, params (None: valid), query, status, field, rule
    ("no MessageSid", {"MessageStatus": "sent"}, "ids", 422, "MessageSid", "missing"),
    ("no MessageStatus", {"MessageSid": "SMx"}, "ids", 422, "MessageStatus", "missing"),
    ("delivery id not a uuid", None, "delivery_id=abc&customer_id=" + str(uuid.uuid4()), 422, "query.delivery_id",
     "uuid_parsing"),
    ("customer id missing", None, "delivery_id=" + str(uuid.uuid4()), 422, "query.customer_id", "missing"),
    ("NUL in a form field", {"MessageSid": "SM\x00x", "MessageStatus": "sent"}, "ids", 422, "MessageSid",
     "null_character"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("params", "query", "status", "field", "rule"),
    [c[1:] for c in TWILIO_BAD_INPUT],
    ids=[c[0] for c in TWILIO_BAD_INPUT],
)
async def test_signed_but_malformed_twilio_callback_is_4xx_naming_the_field(
    client: httpx.AsyncClient,
    kafka_bootstrap: str,
    params: dict[str, str] | None,
    query: str,
    status: int,
    field: str,
    rule: str,
) -> None:
    sid = new_sid()
    form = params if params is not None else status_params(sid, "delivered")
    if query == "ids":
        query = callback_query(uuid.uuid4(), uuid.uuid4())
    response = await post_twilio(client, STATUS_PATH, form, query=query)
    assert response.status_code == status, response.text
    assert response.json()["error"] == "validation_failed"
    assert (field, rule) in [(e["field"], e["rule"]) for e in response.json()["errors"]]
    assert not await interactions_about(kafka_bootstrap, sid)


async def test_twilio_callback_that_is_not_a_form_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(STATUS_PATH, json={"MessageSid": new_sid()}, headers={TWILIO_SIGNATURE_HEADER: "x"})
    assert response.status_code == 415
    assert response.json()["errors"][0]["field"] == "Content-Type"


def _other_ids() -> str:
    return callback_query(uuid.uuid4(), uuid.uuid4())


SIGNATURE_CASES: list[tuple[str, dict[str, Any], int]] = [
    ("missing", {"signature": None}, 401),
    ("garbage", {"signature": "bm90IGEgc2lnbmF0dXJl"}, 403),
    ("wrong secret", {"token": "not-the-auth-token"}, 403),
    ("tampered body", {"signed_params": {"MessageStatus": "failed"}}, 403),
    ("tampered url (other customer)", {"signed_url": f"{BASE}{STATUS_PATH}?{_other_ids()}"}, 403),
    ("signed for another endpoint", {"signed_url": f"{BASE}{INBOUND_PATH}"}, 403),
]


@pytest.mark.parametrize(("how", "status"), [c[1:] for c in SIGNATURE_CASES], ids=[c[0] for c in SIGNATURE_CASES])
async def test_twilio_signature_rejection_publishes_nothing(
    client: httpx.AsyncClient, kafka_bootstrap: str, how: dict[str, Any], status: int
) -> None:
    sid = new_sid()
    params = status_params(sid, "delivered")
    if "signed_params" in how:
        how = {"signed_params": {**params, **how["signed_params"]}}
    response = await post_twilio(client, STATUS_PATH, params, query=callback_query(uuid.uuid4(), uuid.uuid4()), **how)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == ("unauthorized" if status == 401 else "forbidden")
    assert body["errors"][0]["field"] == "X-Twilio-Signature"
    assert not await interactions_about(kafka_bootstrap, sid)


async def test_twilio_signature_is_checked_against_the_public_url(database_url: str, kafka_bootstrap: str) -> None:
    public = "https://hooks.example.com/ingest"
    settings = webhook_settings(database_url, kafka_bootstrap, public_url=public + "/")
    async with ingest_client(settings) as client:
        query = callback_query(uuid.uuid4(), uuid.uuid4())
        sid = new_sid()
        # Twilio called the public URL; the proxy forwarded to http://ingest/v1/...
        behind_proxy = await post_twilio(
            client, STATUS_PATH, status_params(sid, "sent"), query=query, signed_url=f"{public}{STATUS_PATH}?{query}"
        )
        assert behind_proxy.status_code == 200, behind_proxy.text
        # Signed for the internal URL: not what Twilio would have called.
        internal = await post_twilio(client, STATUS_PATH, status_params(new_sid(), "sent"), query=query)
        assert internal.status_code == 403
    assert len(await interactions_about(kafka_bootstrap, sid)) == 1


@pytest.mark.parametrize(
    ("public_url", "root_path", "expected"),
    [
        (None, "", "http://10.0.0.5:8001/v1/webhooks/twilio/status?a=1&b=%2B49"),
        ("https://hooks.example.com", "", "https://hooks.example.com/v1/webhooks/twilio/status?a=1&b=%2B49"),
        (
            "https://hooks.example.com/in",
            "/ingest",
            "https://hooks.example.com/in/v1/webhooks/twilio/status?a=1&b=%2B49",
        ),
    ],
)
def test_signed_url_is_the_public_url_plus_the_apps_own_path_and_raw_query(
    public_url: str | None, root_path: str, expected: str
) -> None:
    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "server": ("10.0.0.5", 8001),
        "root_path": root_path,
        "path": root_path + STATUS_PATH,
        "query_string": b"a=1&b=%2B49",  # as received: re-encoding could change what was signed
        "headers": [(b"host", b"10.0.0.5:8001")],
    }
    assert signed_url(Request(scope), public_url) == expected


# --- Twilio inbound messages ------------------------------------------------------------------


async def test_inbound_sms_becomes_message_replied_by_phone_and_answers_empty_twiml(
    client: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    sid = new_sid()
    params = inbound_params(sid, From="+49 151 12345678")
    response = await post_twilio(client, INBOUND_PATH, params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text.endswith("<Response/>")

    [(record, interaction)] = await interactions_about(kafka_bootstrap, sid)
    assert record.key == f"phone:{PHONE}".encode()
    assert interaction.event_id == webhook_event_id("twilio", sid, "replied")
    assert interaction.type == "message.replied"
    assert interaction.channel == Channel.SMS
    assert interaction.customer.phone == PHONE
    assert interaction.properties == {
        "provider": "twilio",
        "provider_message_id": sid,
        "text": TEXT,
        "text_length": len(TEXT),
        "media_count": 0,
    }


async def test_inbound_whatsapp_via_twilio_and_opt_out(client: httpx.AsyncClient, kafka_bootstrap: str) -> None:
    sid = new_sid()
    params = inbound_params(sid, From=f"whatsapp:{PHONE}", Body="STOP", OptOutType="STOP")
    response = await post_twilio(client, INBOUND_PATH, params)
    assert response.status_code == 200, response.text
    [(_, interaction)] = await interactions_about(kafka_bootstrap, sid)
    assert interaction.channel == Channel.WHATSAPP
    assert interaction.customer.phone == PHONE
    assert interaction.properties["opt_out_type"] == "STOP"


async def test_inbound_from_an_impossible_number_is_422_without_echoing_it(
    client: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    sid = new_sid()
    response = await post_twilio(client, INBOUND_PATH, inbound_params(sid, From="12"))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "From"
    assert response.json()["errors"][0]["rule"] == "phone_e164"
    assert not await interactions_about(kafka_bootstrap, sid)


async def test_inbound_signature_rejection_publishes_nothing(client: httpx.AsyncClient, kafka_bootstrap: str) -> None:
    sid = new_sid()
    unsigned = await post_twilio(client, INBOUND_PATH, inbound_params(sid), signature=None)
    assert unsigned.status_code == 401
    forged = await post_twilio(client, INBOUND_PATH, inbound_params(sid), token="guessed")
    assert forged.status_code == 403
    assert forged.json()["errors"][0]["field"] == "X-Twilio-Signature"
    assert not await interactions_about(kafka_bootstrap, sid)


# --- WhatsApp ---------------------------------------------------------------------------------


async def test_whatsapp_verification_handshake(client: httpx.AsyncClient) -> None:
    ok = await client.get(
        WHATSAPP_PATH, params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    )
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith("text/plain")
    assert ok.text == "1158201444"

    for params in (
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ):
        refused = await client.get(WHATSAPP_PATH, params=params)
        assert refused.status_code == 403, params
        assert refused.json()["errors"][0]["field"] == "hub.verify_token"

    no_challenge = await client.get(WHATSAPP_PATH, params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN})
    assert no_challenge.status_code == 422
    assert no_challenge.json()["errors"][0]["field"] == "hub.challenge"


WHATSAPP_MAPPING = [
    ("sent", "message.sent", None),
    ("delivered", "message.delivered", None),
    ("read", "message.read", None),
    ("failed", "message.failed", "131026"),
]


@pytest.mark.parametrize(("status", "type_", "error_code"), WHATSAPP_MAPPING)
async def test_whatsapp_status_becomes_a_receipt_for_the_delivery(
    client: httpx.AsyncClient, kafka_bootstrap: str, status: str, type_: str, error_code: str | None
) -> None:
    wamid, delivery_id, customer_id = new_wamid(), uuid.uuid4(), uuid.uuid4()
    extra: dict[str, Any] = {}
    if error_code:
        extra["errors"] = [{"code": int(error_code), "title": "Message undeliverable"}]
    envelope = whatsapp_envelope(statuses=[wa_status(wamid, status, f"mc1:{delivery_id}:{customer_id}", **extra)])
    response = await post_whatsapp(client, envelope)
    assert response.status_code == 200, response.text
    event_id = webhook_event_id("whatsapp", wamid, status)
    assert response.json() == {"accepted": [str(event_id)], "ignored": 0}

    [(record, interaction)] = await interactions_about(kafka_bootstrap, wamid)
    assert record.key == f"mc:{customer_id}".encode()
    assert interaction.event_id == event_id
    assert interaction.type == type_
    assert interaction.channel == Channel.WHATSAPP
    assert interaction.customer.metaconnect_id == customer_id
    assert interaction.occurred_at.timestamp() == 1767225600
    assert interaction.properties == {
        "delivery_id": str(delivery_id),
        "provider": "whatsapp",
        "provider_message_id": wamid,
        "status": status,
        "error_code": error_code,
    }


async def test_whatsapp_statuses_not_from_metaconnect_are_acknowledged_and_ignored(
    client: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    wamid = new_wamid()
    envelope = whatsapp_envelope(
        statuses=[
            wa_status(wamid, "delivered", None),
            wa_status(wamid, "delivered", "crm:order-17"),
            wa_status(wamid, "deleted", f"mc1:{uuid.uuid4()}:{uuid.uuid4()}"),
        ]
    )
    response = await post_whatsapp(client, envelope)
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": [], "ignored": 3}
    assert not await interactions_about(kafka_bootstrap, wamid)


async def test_whatsapp_inbound_text_becomes_message_replied(client: httpx.AsyncClient, kafka_bootstrap: str) -> None:
    wamid, replied_to = new_wamid(), new_wamid()
    message = {**wa_text(wamid), "context": {"from": "15550783881", "id": replied_to}}
    response = await post_whatsapp(client, whatsapp_envelope(messages=[message]))
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": [str(webhook_event_id("whatsapp", wamid, "replied"))], "ignored": 0}

    [(record, interaction)] = await interactions_about(kafka_bootstrap, wamid)
    assert record.key == f"phone:{PHONE}".encode()
    assert interaction.type == "message.replied"
    assert interaction.channel == Channel.WHATSAPP
    assert interaction.customer.phone == PHONE
    assert interaction.properties == {
        "provider": "whatsapp",
        "provider_message_id": wamid,
        "message_type": "text",
        "text": TEXT,
        "text_length": len(TEXT),
        "in_reply_to": replied_to,
    }


async def test_whatsapp_notification_with_statuses_and_messages_publishes_each_in_order(
    client: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    sent, reply = new_wamid(), new_wamid()
    opaque = f"mc1:{uuid.uuid4()}:{uuid.uuid4()}"
    envelope = whatsapp_envelope(
        statuses=[wa_status(sent, "sent", opaque), wa_status(sent, "delivered", opaque)], messages=[wa_text(reply)]
    )
    response = await post_whatsapp(client, envelope)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == [
        str(webhook_event_id("whatsapp", sent, "sent")),
        str(webhook_event_id("whatsapp", sent, "delivered")),
        str(webhook_event_id("whatsapp", reply, "replied")),
    ]
    # The same notification again (Meta retries): the same ids.
    again = await post_whatsapp(client, envelope)
    assert again.json() == response.json()
    found = await interactions_about(kafka_bootstrap, sent)
    assert [i.type for _, i in sorted(found, key=lambda f: f[0].offset)] == ["message.sent", "message.delivered"] * 2


META_SIGNATURE_CASES: list[tuple[str, dict[str, Any], int]] = [
    ("missing", {"signature": None}, 401),
    ("garbage", {"signature": "sha256=" + "0" * 64}, 403),
    ("wrong secret", {"secret": "not-the-app-secret"}, 403),
    ("tampered body", {"signed_body": b"tampered"}, 403),
]


@pytest.mark.parametrize(
    ("how", "status"), [c[1:] for c in META_SIGNATURE_CASES], ids=[c[0] for c in META_SIGNATURE_CASES]
)
async def test_whatsapp_signature_rejection_publishes_nothing(
    client: httpx.AsyncClient, kafka_bootstrap: str, how: dict[str, Any], status: int
) -> None:
    wamid = new_wamid()
    envelope = whatsapp_envelope(statuses=[wa_status(wamid, "delivered", f"mc1:{uuid.uuid4()}:{uuid.uuid4()}")])
    raw = json.dumps(envelope).encode()
    if "signed_body" in how:  # signed as it was, then changed on the way
        how = {"signed_body": raw.replace(b'"delivered"', b'"read"')}
    response = await post_whatsapp(client, raw, **how)
    assert response.status_code == status, response.text
    assert response.json()["error"] == ("unauthorized" if status == 401 else "forbidden")
    assert response.json()["errors"][0]["field"] == META_SIGNATURE_HEADER
    assert not await interactions_about(kafka_bootstrap, wamid)


async def test_signed_but_malformed_whatsapp_notification_is_4xx_naming_the_field(client: httpx.AsyncClient) -> None:
    not_json = await post_whatsapp(client, b'{"object": "whatsapp_business_account", "entry": [')
    assert not_json.status_code == 400
    assert not_json.json()["errors"][0] == {"field": "body", "rule": "json_invalid", "message": "not valid JSON"}

    no_status = whatsapp_envelope(statuses=[{"id": new_wamid(), "timestamp": "1767225600"}])
    missing = await post_whatsapp(client, no_status)
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "entry.0.changes.0.value.statuses.0.status"

    bad_from = whatsapp_envelope(messages=[{**wa_text(new_wamid()), "from": "777"}])
    impossible = await post_whatsapp(client, bad_from)
    assert impossible.status_code == 422
    assert impossible.json()["errors"][0] == {
        "field": "entry.0.changes.0.value.messages.0.from",
        "rule": "phone_e164",
        "message": impossible.json()["errors"][0]["message"],
    }
    assert "777" not in impossible.json()["errors"][0]["message"]


async def test_other_webhook_fields_are_acknowledged(client: httpx.AsyncClient) -> None:
    envelope = {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": "1", "changes": [{"field": "message_template_status_update", "value": {"event": "APPROVED"}}]}
        ],
    }
    response = await post_whatsapp(client, envelope)
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": [], "ignored": 0}


# --- Switched off, broker down, documentation, personal data ------------------------------------


async def test_providers_without_a_secret_are_switched_off(database_url: str, kafka_bootstrap: str) -> None:
    async with ingest_client(ingest_settings(database_url, kafka_bootstrap)) as client:
        query = callback_query(uuid.uuid4(), uuid.uuid4())
        responses = [
            await post_twilio(client, STATUS_PATH, status_params(new_sid(), "sent"), query=query),
            await post_twilio(client, INBOUND_PATH, inbound_params(new_sid())),
            await post_twilio(client, STATUS_PATH, status_params(new_sid(), "sent"), token="", query=query),
            await post_whatsapp(client, whatsapp_envelope(messages=[wa_text(new_wamid())])),
            await client.get(
                WHATSAPP_PATH, params={"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}
            ),
        ]
        assert [r.status_code for r in responses] == [404] * 5
        assert {r.json()["error"] for r in responses} == {"not_found"}


def test_blank_secrets_count_as_unset() -> None:
    settings = IngestSettings(
        common=CommonSettings(env="test"),
        twilio_auth_token=SecretStr(" "),
        whatsapp_app_secret="",  # type: ignore[arg-type]  # as read from a blank environment variable
        public_url="",
    )
    assert settings.twilio_auth_token is None
    assert settings.whatsapp_app_secret is None
    assert settings.public_url is None


async def test_broker_down_answers_503_so_the_provider_retries(database_url: str) -> None:
    common = common_settings(database_url, f"127.0.0.1:{free_port()}", publish_timeout_s=1.0)
    settings = IngestSettings(
        common=common,
        twilio_auth_token=SecretStr(TWILIO_TOKEN),
        whatsapp_app_secret=SecretStr(APP_SECRET),
        broker_retry_after_s=9,
    )
    async with ingest_client(settings, ready=False) as client:
        started = time.monotonic()
        response = await post_twilio(
            client, STATUS_PATH, status_params(new_sid(), "delivered"), query=callback_query(uuid.uuid4(), uuid.uuid4())
        )
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "9"
        assert response.json()["error"] == "broker_unavailable"
        assert time.monotonic() - started < 10


async def test_openapi_documents_the_webhooks(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    status = paths[STATUS_PATH]["post"]
    form = status["requestBody"]["content"]["application/x-www-form-urlencoded"]
    assert form["schema"] == {"$ref": "#/components/schemas/TwilioStatusCallback"}
    assert status["security"] == [{"TwilioSignature": []}]
    assert {p["name"] for p in status["parameters"]} >= {"delivery_id", "customer_id"}
    inbound = paths[INBOUND_PATH]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
    assert inbound["schema"] == {"$ref": "#/components/schemas/TwilioInboundMessage"}
    assert paths[WHATSAPP_PATH]["post"]["security"] == [{"MetaSignature": []}]
    assert {p["name"] for p in paths[WHATSAPP_PATH]["get"]["parameters"]} == {
        "hub.mode",
        "hub.verify_token",
        "hub.challenge",
    }
    schemas = spec["components"]["schemas"]
    assert {"TwilioStatusCallback", "TwilioInboundMessage", "WhatsAppWebhook", "WebhookAccepted"} <= set(schemas)
    assert "MessageSid" in schemas["TwilioStatusCallback"]["properties"]
    assert spec["components"]["securitySchemes"]["TwilioSignature"]["name"] == TWILIO_SIGNATURE_HEADER


class _Spans(SpanProcessor):
    def __init__(self) -> None:
        self.ended: list[ReadableSpan] = []
        self.recording = True

    def on_end(self, span: ReadableSpan) -> None:
        if self.recording:
            self.ended.append(span)


async def test_no_phone_number_or_text_in_logs_or_spans(
    client: httpx.AsyncClient, kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    spans = _Spans()
    provider.add_span_processor(spans)
    secret_text = "meine-geheime-antwort-" + uuid.uuid4().hex
    try:
        with caplog.at_level(logging.DEBUG):
            sid = new_sid()
            ok = await post_twilio(client, INBOUND_PATH, inbound_params(sid, Body=secret_text))
            forged = await post_twilio(client, INBOUND_PATH, inbound_params(new_sid(), Body=secret_text), token="x")
            bad = await post_twilio(client, INBOUND_PATH, inbound_params(new_sid(), From="12", Body=secret_text))
            wa = await post_whatsapp(client, whatsapp_envelope(messages=[wa_text(new_wamid(), secret_text)]))
    finally:
        spans.recording = False
    assert [ok.status_code, forged.status_code, bad.status_code, wa.status_code] == [200, 403, 422, 200]
    assert await interactions_about(kafka_bootstrap, sid)

    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.__dict__!r}" for r in caplog.records)
    assert any("webhook rejected" in r.getMessage() for r in caplog.records)
    for needle in (PHONE, PHONE.lstrip("+"), secret_text):
        assert needle not in logged
        for span in spans.ended:
            assert needle not in repr(dict(span.attributes or {})), span.name
            assert needle not in span.name
    assert spans.ended  # the request and publish spans were seen
