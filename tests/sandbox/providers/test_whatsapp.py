"""The fake WhatsApp Cloud API and its signed status webhooks, over real sockets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from metaconnect_common.signatures import meta_signature, meta_signature_valid
from metaconnect_sandbox import Sandbox
from tests.sandbox.conftest import APP_SECRET, WHATSAPP_TOKEN, CallbackReceiver, make_config

pytestmark = pytest.mark.asyncio(loop_scope="module")

SEND = "/whatsapp/v21.0/1234567890/messages"
AUTH = {"Authorization": f"Bearer {WHATSAPP_TOKEN}"}
TEXT = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "447700900123", "type": "text",
        "text": {"body": "Hello there", "preview_url": False}}  # fmt: skip


def template(*texts: str) -> dict[str, Any]:
    parameters = [{"type": "text", "text": text} for text in texts]
    return {
        "messaging_product": "whatsapp",
        "to": "447700900123",
        "type": "template",
        "template": {
            "name": "order_shipped",
            "language": {"code": "en_GB"},
            "components": [{"type": "body", "parameters": parameters}],
        },
    }


def graph_error(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert error["type"] == "OAuthException"
    assert error["fbtrace_id"]
    return error


async def test_sends_a_text_message(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    response = await client.post(SEND, headers=AUTH, json=TEXT)
    assert response.status_code == 200
    body = response.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "447700900123", "wa_id": "447700900123"}]
    [sent] = body["messages"]
    assert sent["id"].startswith("wamid.")
    [received] = sandbox.messages("whatsapp", to="447700900123")
    assert (received.text, received.message_id, received.payload) == ("Hello there", sent["id"], TEXT)


async def test_sends_a_template_message(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    response = await client.post(SEND, headers=AUTH, json=template("Ada", "4 items    left"))
    assert response.status_code == 200
    assert response.json()["messages"][0]["message_status"] == "accepted"
    [received] = sandbox.messages("whatsapp")
    assert (received.title, received.text) == ("Template order_shipped (en_GB)", "Ada | 4 items    left")


@pytest.mark.parametrize(("headers", "code"), [({}, 104), ({"Authorization": "Bearer nope"}, 190)])
async def test_refuses_bad_credentials(client: httpx.AsyncClient, headers: dict[str, str], code: int) -> None:
    response = await client.post(SEND, headers=headers, json=TEXT)
    assert response.status_code == 401
    assert graph_error(response)["code"] == code


async def test_refuses_another_phone_number_id(client: httpx.AsyncClient) -> None:
    response = await client.post("/whatsapp/v21.0/999/messages", headers=AUTH, json=TEXT)
    assert response.status_code == 400
    error = graph_error(response)
    assert (error["code"], error["error_subcode"]) == (100, 33)


@pytest.mark.parametrize(
    ("body", "code", "complaint"),
    [
        ({**TEXT, "text": {"body": "x" * 4097}}, 100, "at most 4096"),
        ({**TEXT, "text": {"body": ""}}, 100, "text['body'] is required"),
        ({**TEXT, "text": {"body": "x", "bold": True}}, 100, 'Unexpected key "bold"'),
        ({**TEXT, "text": {"body": "x", "preview_url": "yes"}}, 100, "preview_url"),
        ({k: v for k, v in TEXT.items() if k != "messaging_product"}, 100, "messaging_product is required"),
        ({**TEXT, "messaging_product": "sms"}, 100, "messaging_product"),
        ({**TEXT, "to": "not-a-number"}, 100, "Invalid parameter"),
        ({**TEXT, "type": "image"}, 100, "TEXT, TEMPLATE"),
        ({**TEXT, "colour": "red"}, 100, 'Unexpected key "colour"'),
        (template("two\nlines"), 132018, "issue with the parameters"),
        (template("a\ttab"), 132018, "issue with the parameters"),
        (template("five     spaces"), 132018, "issue with the parameters"),
        ({**template(), "template": {"name": "x"}}, 100, "language"),
    ],
)
async def test_refuses_invalid_messages(
    client: httpx.AsyncClient, body: dict[str, Any], code: int, complaint: str
) -> None:
    response = await client.post(SEND, headers=AUTH, json=body)
    assert response.status_code == 400
    error = graph_error(response)
    assert error["code"] == code
    assert complaint in error["message"]


async def test_explains_template_parameter_rules_in_error_data(client: httpx.AsyncClient) -> None:
    response = await client.post(SEND, headers=AUTH, json=template("two\nlines"))
    details = graph_error(response)["error_data"]
    assert details == {
        "messaging_product": "whatsapp",
        "details": "Param text cannot have new-line/tab characters or more than 4 consecutive spaces",
    }


@pytest_asyncio.fixture(loop_scope="module")
async def hooked(receiver: CallbackReceiver) -> AsyncIterator[Sandbox]:
    async with Sandbox(make_config(whatsapp_webhook_url=f"{receiver.url}/meta/webhook")) as sb:
        yield sb


async def test_status_webhooks_arrive_signed(hooked: Sandbox, receiver: CallbackReceiver) -> None:
    async with httpx.AsyncClient(base_url=hooked.http_url) as client:
        response = await client.post(SEND, headers=AUTH, json={**TEXT, "biz_opaque_callback_data": "d-1"})
    wamid = response.json()["messages"][0]["id"]

    delivered = await receiver.wait(2)
    statuses = []
    for hook in delivered:
        assert hook.url == f"{receiver.url}/meta/webhook"
        signature = hook.headers["x-hub-signature-256"]
        assert meta_signature_valid(APP_SECRET, hook.body, signature)
        assert signature == meta_signature(APP_SECRET, hook.body)
        assert not meta_signature_valid(APP_SECRET, hook.body + b" ", signature)
        envelope = json.loads(hook.body)
        assert envelope["object"] == "whatsapp_business_account"
        [entry] = envelope["entry"]
        [change] = entry["changes"]
        assert change["field"] == "messages"
        value = change["value"]
        assert value["messaging_product"] == "whatsapp"
        assert value["metadata"]["phone_number_id"] == "1234567890"
        [status] = value["statuses"]
        assert (status["id"], status["recipient_id"], status["biz_opaque_callback_data"]) == (
            wamid,
            "447700900123",
            "d-1",
        )
        assert status["timestamp"].isdigit()
        statuses.append(status["status"])
    assert statuses == ["sent", "delivered"]
