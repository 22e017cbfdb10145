"""The control API: listing and waiting for what arrived, resetting, and never showing secrets."""

from __future__ import annotations

import asyncio
import base64
import time

import aiosmtplib
import httpx
import pytest

from metaconnect_common.signatures import metaconnect_signature
from metaconnect_sandbox import Sandbox
from tests.sandbox.conftest import (
    FCM_TOKEN,
    SECRETS,
    SMTP_PASSWORD,
    SMTP_USER,
    TWILIO_SID,
    TWILIO_TOKEN,
    WEBHOOK_SECRET,
    WHATSAPP_TOKEN,
    make_config,
    send,
)
from tests.support import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/_sandbox/health")).json() == {"status": "ok"}


async def test_lists_messages_in_order_filtered_by_provider_and_recipient(client: httpx.AsyncClient) -> None:
    for name in ("a", "b", "a"):
        await client.post(f"/webhook/{name}", json={"n": name})
    await send(client, "fcm")

    everything = (await client.get("/_sandbox/messages")).json()["messages"]
    to_a = (await client.get("/_sandbox/messages", params={"provider": "webhook", "to": "a"})).json()["messages"]
    fcm = (await client.get("/_sandbox/messages", params={"provider": "fcm"})).json()["messages"]

    assert [m["provider"] for m in everything] == ["webhook", "webhook", "webhook", "fcm"]
    assert [m["id"] for m in everything] == sorted(m["id"] for m in everything)
    assert [m["payload"] for m in to_a] == [{"n": "a"}, {"n": "a"}]
    assert [m["to"] for m in fcm] == [["device-1"]]
    assert (await client.get("/_sandbox/messages", params={"provider": "pigeon"})).status_code == 422


async def test_wait_answers_once_enough_messages_arrived(client: httpx.AsyncClient) -> None:
    waiting = asyncio.create_task(
        client.get("/_sandbox/messages/wait", params={"provider": "webhook", "count": 2, "timeout_s": 5})
    )
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await client.post("/webhook/one", json={})
    await send(client, "fcm")  # another provider: does not count
    await client.post("/webhook/two", json={})
    response = await waiting
    assert response.status_code == 200
    assert [m["to"] for m in response.json()["messages"]] == [["one"], ["two"]]


async def test_wait_answers_408_with_what_arrived_after_the_timeout(client: httpx.AsyncClient) -> None:
    await client.post("/webhook/only", json={})
    started = time.monotonic()
    response = await client.get("/_sandbox/messages/wait", params={"count": 2, "timeout_s": 0.2})
    assert time.monotonic() - started < 2
    assert response.status_code == 408
    assert [m["to"] for m in response.json()["messages"]] == [["only"]]
    assert response.json()["error"]["status"] == 408


async def test_delete_and_reset_forget_everything(client: httpx.AsyncClient) -> None:
    await client.post("/webhook/x", json={})
    assert (await client.delete("/_sandbox/messages")).status_code == 204
    assert (await client.get("/_sandbox/messages")).json() == {"messages": []}

    await client.post("/_sandbox/faults", json={"provider": "fcm", "responses": [{"status": 500}]})
    await client.post("/_sandbox/fcm/unregistered-tokens", json={"tokens": ["device-1"]})
    await client.post("/webhook/x", json={})
    assert (await client.post("/_sandbox/reset")).status_code == 204
    assert (await client.get("/_sandbox/messages")).json() == {"messages": []}
    assert (await client.get("/_sandbox/faults")).json() == {"pending": {}}
    assert (await send(client, "fcm")).status_code == 200


async def test_secrets_are_never_recorded_or_shown() -> None:
    async with Sandbox(make_config(smtp_auth=True)) as sandbox, httpx.AsyncClient(base_url=sandbox.http_url) as client:
        await send(client, "fcm")
        await send(client, "whatsapp")
        await client.post(
            "/fcm/v1/projects/proj-1/messages:send",
            headers={"Authorization": f"Bearer {FCM_TOKEN}-wrong"},
            json={"message": {"token": "t"}},
        )
        await client.post(
            f"/twilio/2010-04-01/Accounts/{TWILIO_SID}/Messages.json",
            auth=(TWILIO_SID, TWILIO_TOKEN),
            data={
                "To": "+447700900123",
                "From": "+15005550006",
                "Body": "hi",
                "StatusCallback": f"{sandbox.http_url}/webhook/cb",
            },
        )
        body = b'{"type": "ping"}'
        signature = metaconnect_signature(WEBHOOK_SECRET, body, int(time.time()))
        await client.post("/webhook/signed", content=body, headers={"X-Metaconnect-Signature": signature})
        message = "From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody\r\n"
        await aiosmtplib.send(
            message, sender="a@example.com", recipients=["b@example.org"], hostname="127.0.0.1",
            port=sandbox.smtp_port, username=SMTP_USER, password=SMTP_PASSWORD, timeout=5,
        )  # fmt: skip

        async def callbacks_sent() -> bool:
            return len(sandbox.state.recorder.callbacks()) == 2

        await eventually(callbacks_sent, timeout_s=5)
        shown = [
            (await client.get("/_sandbox/messages")).text,
            (await client.get("/_sandbox/callbacks")).text,
            (await client.get("/")).text,
            repr(sandbox.config),
        ]
    assert len(sandbox.messages()) == 8  # 5 requests, a mail, the 2 Twilio callbacks to the webhook receiver
    basic = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
    for text in shown:
        for secret in (*SECRETS, basic, WHATSAPP_TOKEN):
            assert secret not in text
        assert "authorization" not in text.lower()
