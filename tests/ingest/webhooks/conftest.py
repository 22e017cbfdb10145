"""The ingest app with every provider webhook enabled, and requests signed as the providers sign them."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr

from metaconnect_common.schemas import Interaction
from metaconnect_common.signatures import (
    META_SIGNATURE_HEADER,
    TWILIO_SIGNATURE_HEADER,
    meta_signature,
    twilio_signature,
)
from metaconnect_common.topics import INTERACTIONS
from metaconnect_ingest.app import create_app
from metaconnect_ingest.config import IngestSettings
from tests.ingest.conftest import ingest_settings, wait_ready
from tests.support import ReadRecord, read_topic

TWILIO_TOKEN = "twilio-token-7d41c0"
APP_SECRET = "meta-app-secret-2e9f53"
VERIFY_TOKEN = "verify-token-b81a6d"
BASE = "http://ingest"
STATUS_PATH = "/v1/webhooks/twilio/status"
INBOUND_PATH = "/v1/webhooks/twilio/inbound"
WHATSAPP_PATH = "/v1/webhooks/whatsapp"
FORM = "application/x-www-form-urlencoded"


def webhook_settings(database_url: str, bootstrap: str, **overrides: Any) -> IngestSettings:
    secrets: dict[str, Any] = {
        "twilio_auth_token": SecretStr(TWILIO_TOKEN),
        "whatsapp_app_secret": SecretStr(APP_SECRET),
        "whatsapp_verify_token": SecretStr(VERIFY_TOKEN),
    }
    return ingest_settings(database_url, bootstrap, **{**secrets, **overrides})


@pytest.fixture
def settings(database_url: str, kafka_bootstrap: str) -> IngestSettings:
    return webhook_settings(database_url, kafka_bootstrap)


@asynccontextmanager
async def ingest_client(settings: IngestSettings, *, ready: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a fresh app built from `settings` (for settings other than the fixture's)."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client,
    ):
        if ready:
            await wait_ready(client)
        yield client


def new_sid() -> str:
    return "SM" + uuid.uuid4().hex


def callback_query(delivery_id: uuid.UUID, customer_id: uuid.UUID) -> str:
    return urlencode({"delivery_id": str(delivery_id), "customer_id": str(customer_id)})


async def post_twilio(
    client: httpx.AsyncClient,
    path: str,
    params: Mapping[str, str],
    *,
    query: str = "",
    signed_url: str | None = None,
    signed_params: Mapping[str, str] | None = None,
    token: str = TWILIO_TOKEN,
    signature: str | None = "sign",
) -> httpx.Response:
    """POST `params` form-encoded to `path?query`, signed as Twilio signs (or with a given `signature`;
    None: unsigned). `signed_url` / `signed_params` sign something other than what is sent."""
    url = BASE + path + (f"?{query}" if query else "")
    headers = {"Content-Type": FORM}
    if signature == "sign":
        headers[TWILIO_SIGNATURE_HEADER] = twilio_signature(
            token, signed_url or url, signed_params if signed_params is not None else params
        )
    elif signature is not None:
        headers[TWILIO_SIGNATURE_HEADER] = signature
    return await client.post(url, content=urlencode(params), headers=headers)


async def post_whatsapp(
    client: httpx.AsyncClient,
    body: bytes | dict[str, Any],
    *,
    secret: str = APP_SECRET,
    signature: str | None = "sign",
    signed_body: bytes | None = None,
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        headers[META_SIGNATURE_HEADER] = meta_signature(secret, signed_body if signed_body is not None else raw)
    elif signature is not None:
        headers[META_SIGNATURE_HEADER] = signature
    return await client.post(WHATSAPP_PATH, content=raw, headers=headers)


def whatsapp_envelope(
    *, statuses: Sequence[dict[str, Any]] = (), messages: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
    }
    if statuses:
        value["statuses"] = list(statuses)
    if messages:
        value["contacts"] = [{"profile": {"name": "Ada"}, "wa_id": m["from"]} for m in messages]
        value["messages"] = list(messages)
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
    }


async def interactions_about(bootstrap: str, provider_message_id: str) -> list[tuple[ReadRecord, Interaction]]:
    """Every record on `mc.interactions.v1` about this provider message, in offset order per partition."""
    out = []
    for record in await read_topic(bootstrap, INTERACTIONS):
        if provider_message_id.encode() not in record.value:
            continue
        interaction = Interaction.model_validate_json(record.value)
        if interaction.properties.get("provider_message_id") == provider_message_id:
            out.append((record, interaction))
    return out
