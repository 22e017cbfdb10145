"""End to end over real sockets: the provider sandbox calls a running ingest server back, signed as the
providers sign, and the receipts appear on `mc.interactions.v1` for the right customer and delivery."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from pydantic import SecretStr

from metaconnect_common.schemas import Channel
from metaconnect_ingest.app import create_app
from metaconnect_ingest.webhooks.mapping import webhook_event_id
from metaconnect_sandbox import Sandbox, SandboxConfig, serving
from tests.ingest.conftest import wait_ready
from tests.ingest.webhooks.conftest import (
    APP_SECRET,
    STATUS_PATH,
    TWILIO_TOKEN,
    WHATSAPP_PATH,
    callback_query,
    interactions_about,
    webhook_settings,
)
from tests.support import eventually

ACCOUNT_SID = "AC" + "5e" * 16
WHATSAPP_TOKEN = "sandbox-whatsapp-token-03c1"
PHONE_NUMBER_ID = "106540352242922"


@asynccontextmanager
async def ingest_server(database_url: str, bootstrap: str) -> AsyncIterator[str]:
    """The ingest app under uvicorn on a free loopback port; yields its base URL once ready."""
    app = create_app(webhook_settings(database_url, bootstrap))
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=5.0) as client:
        await wait_ready(client)
        yield url


def sandbox_config(whatsapp_webhook_url: str | None = None) -> SandboxConfig:
    return SandboxConfig(
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=SecretStr(TWILIO_TOKEN),
        whatsapp_access_token=SecretStr(WHATSAPP_TOKEN),
        whatsapp_phone_number_id=PHONE_NUMBER_ID,
        whatsapp_webhook_url=whatsapp_webhook_url,
        whatsapp_app_secret=SecretStr(APP_SECRET),
        callback_delay_s=0.01,
        callback_timeout_s=5.0,
    )


async def test_twilio_status_callbacks_become_sent_and_delivered_receipts(
    database_url: str, kafka_bootstrap: str
) -> None:
    delivery_id, customer_id = uuid.uuid4(), uuid.uuid4()
    async with (
        ingest_server(database_url, kafka_bootstrap) as ingest_url,
        Sandbox(sandbox_config()) as sandbox,
        httpx.AsyncClient(timeout=5.0) as http,
    ):
        # What the delivery service sends: the callback URL carries the delivery and the customer.
        response = await http.post(
            f"{sandbox.base_urls['twilio']}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
            auth=(ACCOUNT_SID, TWILIO_TOKEN),
            data={
                "To": "+447700900123",
                "From": "+15005550006",
                "Body": "Your order has shipped",
                "StatusCallback": f"{ingest_url}{STATUS_PATH}?{callback_query(delivery_id, customer_id)}",
            },
        )
        assert response.status_code == 201, response.text
        sid = response.json()["sid"]

        async def both_answered() -> bool:
            return len(sandbox.state.recorder.callbacks("twilio")) == 2

        await eventually(both_answered, timeout_s=10)
        attempts = sandbox.state.recorder.callbacks("twilio")
        assert [(a.event, a.status_code, a.error) for a in attempts] == [("sent", 200, None), ("delivered", 200, None)]

    found = await interactions_about(kafka_bootstrap, sid)
    assert sorted(i.type for _, i in found) == ["message.delivered", "message.sent"]
    for record, interaction in found:
        assert record.key == f"mc:{customer_id}".encode()
        assert interaction.customer.metaconnect_id == customer_id
        assert interaction.properties["delivery_id"] == str(delivery_id)
        assert interaction.properties["provider"] == "twilio"
        assert interaction.channel == Channel.SMS
        assert interaction.event_id == webhook_event_id("twilio", sid, interaction.properties["status"])


async def test_whatsapp_status_webhooks_become_sent_and_delivered_receipts(
    database_url: str, kafka_bootstrap: str
) -> None:
    delivery_id, customer_id = uuid.uuid4(), uuid.uuid4()
    async with (
        ingest_server(database_url, kafka_bootstrap) as ingest_url,
        Sandbox(sandbox_config(whatsapp_webhook_url=ingest_url + WHATSAPP_PATH)) as sandbox,
        httpx.AsyncClient(timeout=5.0) as http,
    ):
        response = await http.post(
            f"{sandbox.base_urls['whatsapp']}/v21.0/{PHONE_NUMBER_ID}/messages",
            headers={"Authorization": f"Bearer {WHATSAPP_TOKEN}"},
            json={
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "447700900123",
                "type": "text",
                "text": {"body": "Your order has shipped"},
                "biz_opaque_callback_data": f"mc1:{delivery_id}:{customer_id}",
            },
        )
        assert response.status_code == 200, response.text
        wamid = response.json()["messages"][0]["id"]

        async def both_answered() -> bool:
            return len(sandbox.state.recorder.callbacks("whatsapp")) == 2

        await eventually(both_answered, timeout_s=10)
        attempts = sandbox.state.recorder.callbacks("whatsapp")
        assert [(a.event, a.status_code) for a in attempts] == [("sent", 200), ("delivered", 200)]

    found = await interactions_about(kafka_bootstrap, wamid)
    assert sorted(i.type for _, i in found) == ["message.delivered", "message.sent"]
    for record, interaction in found:
        assert record.key == f"mc:{customer_id}".encode()
        assert interaction.customer.metaconnect_id == customer_id
        assert interaction.properties["delivery_id"] == str(delivery_id)
        assert interaction.channel == Channel.WHATSAPP
