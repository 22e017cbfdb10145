"""A sandbox on free loopback ports, with secrets the tests can look for, and a callback receiver.

One sandbox (and client) per test module, reset before each test: starting and stopping uvicorn
takes ~0.3 s. Modules using them run their tests on the module's event loop:
`pytestmark = pytest.mark.asyncio(loop_scope="module")`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request, Response
from pydantic import SecretStr

from metaconnect_sandbox import Sandbox, SandboxConfig, serving

FCM_TOKEN = "fcm-secret-0b3e7a"
TWILIO_SID = "AC" + "ab" * 16
TWILIO_TOKEN = "twilio-secret-7c1d9f"
WHATSAPP_TOKEN = "whatsapp-secret-55aa01"
APP_SECRET = "app-secret-91fe44"
WEBHOOK_SECRET = "hook-secret-3d2c88"
SMTP_USER = "mailer"
SMTP_PASSWORD = "smtp-secret-ee0177"
SECRETS = (FCM_TOKEN, TWILIO_TOKEN, WHATSAPP_TOKEN, APP_SECRET, WEBHOOK_SECRET, SMTP_PASSWORD)


def make_config(*, whatsapp_webhook_url: str | None = None, smtp_auth: bool = False) -> SandboxConfig:
    return SandboxConfig(
        fcm_project_id="proj-1",
        fcm_access_token=SecretStr(FCM_TOKEN),
        fcm_unregistered_tokens=frozenset({"dead-token"}),
        twilio_account_sid=TWILIO_SID,
        twilio_auth_token=SecretStr(TWILIO_TOKEN),
        whatsapp_access_token=SecretStr(WHATSAPP_TOKEN),
        whatsapp_phone_number_id="1234567890",
        whatsapp_webhook_url=whatsapp_webhook_url,
        whatsapp_app_secret=SecretStr(APP_SECRET),
        webhook_secrets={"signed": SecretStr(WEBHOOK_SECRET)},
        smtp_username=SMTP_USER if smtp_auth else None,
        smtp_password=SecretStr(SMTP_PASSWORD) if smtp_auth else None,
        callback_delay_s=0.01,
        callback_timeout_s=1.0,
    )


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def module_sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(make_config()) as sb:
        yield sb


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def module_client(module_sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=module_sandbox.http_url, timeout=5.0) as c:
        yield c


@pytest.fixture
def sandbox(module_sandbox: Sandbox) -> Sandbox:
    module_sandbox.reset()
    return module_sandbox


@pytest.fixture
def client(module_client: httpx.AsyncClient, sandbox: Sandbox) -> httpx.AsyncClient:
    return module_client


@dataclass(frozen=True)
class Delivered:
    url: str
    headers: dict[str, str]
    body: bytes


class CallbackReceiver:
    """A local HTTP server recording every POST, as a client's callback endpoint would receive it."""

    def __init__(self) -> None:
        self.received: list[Delivered] = []
        self._arrived = asyncio.Event()
        self.app = FastAPI()
        self.app.add_api_route("/{path:path}", self._receive, methods=["POST"])
        self.url = ""

    async def _receive(self, request: Request) -> Response:
        self.received.append(Delivered(str(request.url), dict(request.headers), await request.body()))
        self._arrived.set()
        return Response(status_code=204)

    async def wait(self, count: int, timeout_s: float = 5.0) -> list[Delivered]:
        async with asyncio.timeout(timeout_s):
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.received


@pytest_asyncio.fixture(loop_scope="module")
async def receiver() -> AsyncIterator[CallbackReceiver]:
    target = CallbackReceiver()
    async with serving(target.app) as url:
        target.url = url
        yield target


async def send(client: httpx.AsyncClient, provider: str) -> httpx.Response:
    """A request the provider accepts when no fault is scripted."""
    if provider == "fcm":
        return await client.post(
            "/fcm/v1/projects/proj-1/messages:send",
            headers={"Authorization": f"Bearer {FCM_TOKEN}"},
            json={"message": {"token": "device-1", "notification": {"title": "t", "body": "b"}}},
        )
    if provider == "twilio":
        return await client.post(
            f"/twilio/2010-04-01/Accounts/{TWILIO_SID}/Messages.json",
            auth=(TWILIO_SID, TWILIO_TOKEN),
            data={"To": "+447700900123", "From": "+15005550006", "Body": "hi"},
        )
    if provider == "whatsapp":
        return await client.post(
            "/whatsapp/v21.0/1234567890/messages",
            headers={"Authorization": f"Bearer {WHATSAPP_TOKEN}"},
            json={"messaging_product": "whatsapp", "to": "447700900123", "type": "text", "text": {"body": "hi"}},
        )
    return await client.post("/webhook/open", json={"type": "ping"})
