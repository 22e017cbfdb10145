"""Provider accounts over REST: admins only, secrets written and used but never read back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from metaconnect_common.auth import Role
from metaconnect_common.schemas import Channel
from metaconnect_delivery.app import create_app
from metaconnect_delivery.config import DeliverySettings
from metaconnect_sandbox.server import Sandbox
from tests.delivery.test_service import HOOK_SECRET, closed_port, delivery, through
from tests.router.conftest import operator

pytestmark = pytest.mark.timeout(120)
SECRET = "a-very-secret-provider-token-0042"


@pytest.fixture
async def client(delivery_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=delivery_app), base_url="http://delivery") as c:
        yield c


def account(name: str, **changes: Any) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "twilio",
        "channel": "sms",
        "base_url": "https://api.twilio.example",
        "account": "AC00000000000000000000000000000002",
        "sender": "+15005550006",
        "secret": SECRET,
        "priority": 900,  # never the one serving SMS in other tests
        **changes,
    }


async def test_a_stored_account_never_shows_its_secret(client: httpx.AsyncClient, delivery_app: FastAPI) -> None:
    name = f"sms-{uuid.uuid4().hex[:8]}"
    created = await client.put(f"/v1/providers/{name}", json=account(name), headers=operator(Role.ADMIN))
    assert created.status_code == 201, created.text
    assert created.json()["secret_set"] is True
    again = await client.put(
        f"/v1/providers/{name}", json=account(name, secret=None, rate_per_s=5), headers=operator(Role.ADMIN)
    )
    assert again.status_code == 200
    assert (again.json()["version"], again.json()["secret_set"]) == (2, True)  # kept
    listed = await client.get("/v1/providers", headers=operator(Role.ADMIN))
    one = await client.get(f"/v1/providers/{name}", headers=operator(Role.ADMIN))
    assert one.json()["settings"]["rate_per_s"] == 5
    assert {p["source"] for p in listed.json()} == {"stored", "configured"}
    for response in (created, again, listed, one):
        assert SECRET not in response.text
        assert "sandbox-twilio-auth-token" not in response.text
    async with delivery_app.state.service.sessions() as session:
        stored = await session.scalar(text("SELECT secret FROM delivery.providers WHERE name = :n"), {"n": name})
    assert stored is not None
    assert SECRET not in stored  # encrypted at rest
    assert (await client.delete(f"/v1/providers/{name}", headers=operator(Role.ADMIN))).status_code == 204
    assert (await client.get(f"/v1/providers/{name}", headers=operator(Role.ADMIN))).status_code == 404


async def test_bad_accounts_and_callers_are_refused(client: httpx.AsyncClient) -> None:
    name = f"sms-{uuid.uuid4().hex[:8]}"
    other = await client.put(f"/v1/providers/{name}", json=account("another"), headers=operator(Role.ADMIN))
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "name"
    pigeon = account(name, kind="pigeon")
    assert (await client.put(f"/v1/providers/{name}", json=pigeon, headers=operator())).status_code == 403  # editor
    wrong_kind = await client.put(f"/v1/providers/{name}", json=pigeon, headers=operator(Role.ADMIN))
    assert wrong_kind.status_code == 422
    assert "kind" in wrong_kind.text
    assert (await client.get("/v1/providers", headers=operator(Role.VIEWER))).status_code == 403
    assert (await client.get("/v1/providers")).status_code == 401
    assert (await client.delete("/v1/providers/nope", headers=operator(Role.ADMIN))).status_code == 404


async def test_a_stored_account_serves_its_channel_with_its_decrypted_secret(
    client: httpx.AsyncClient, delivery_app: FastAPI, sandbox: Sandbox
) -> None:
    name = f"hook-{uuid.uuid4().hex[:8]}"
    hook = {
        "name": name,
        "kind": "webhook",
        "channel": "webhook",
        "base_url": f"{sandbox.base_urls['webhook']}/orders",
        "secret": HOOK_SECRET.get_secret_value(),
        "priority": 0,
    }
    assert (await client.put(f"/v1/providers/{name}", json=hook, headers=operator(Role.ADMIN))).status_code == 201
    try:
        d = delivery(Channel.WEBHOOK)
        assert await through(delivery_app, d) == "sent"
        detail = (await client.get(f"/v1/deliveries/{d.id}", headers=operator(Role.VIEWER))).json()
        assert detail["provider"] == name
        async with httpx.AsyncClient(base_url=f"{sandbox.http_url}/_sandbox") as control:
            [received] = (await control.get("/messages", params={"provider": "webhook"})).json()["messages"]
        assert (received["auth_ok"], received["signature"]) == (True, "valid")
    finally:
        await client.delete(f"/v1/providers/{name}", headers=operator(Role.ADMIN))


BAD_ACCOUNTS: list[tuple[str, dict[str, Any], str, str]] = [
    # id, change, field, rule
    ("file URL", {"base_url": "file:///etc/passwd"}, "base_url", "url_scheme"),
    ("no host", {"base_url": "https://"}, "base_url", "url_host"),
    ("password in URL", {"base_url": "https://sid:hunter2@api.example.com"}, "base_url", "url_userinfo"),
    ("password in callback", {"status_callback_url": "https://u:hunter2@cb.example.com/s"}, "status_callback_url",
     "url_userinfo"),
    ("smtp URL for twilio", {"base_url": "smtp://mail.example.com:25"}, "base_url", "url_scheme"),
    ("http URL for smtp", {"kind": "smtp", "channel": "email", "base_url": "http://mail.example.com"}, "base_url",
     "url_scheme"),
    ("NUL in a field", {"sender": "+1555\x00"}, "sender", "null_character"),
    ("NUL in the secret", {"secret": "hunter2\x00"}, "secret", "null_character"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "field", "rule"), [b[1:] for b in BAD_ACCOUNTS], ids=[b[0] for b in BAD_ACCOUNTS])
async def test_a_bad_account_is_422_naming_field_and_rule_never_echoing_it(
    client: httpx.AsyncClient, change: dict[str, Any], field: str, rule: str
) -> None:
    name = f"sms-{uuid.uuid4().hex[:8]}"
    response = await client.put(f"/v1/providers/{name}", json=account(name, **change), headers=operator(Role.ADMIN))
    assert response.status_code == 422, response.text
    assert [(e["field"], e["rule"]) for e in response.json()["errors"]] == [(field, rule)]
    assert "hunter2" not in response.text
    assert (await client.get(f"/v1/providers/{name}", headers=operator(Role.ADMIN))).status_code == 404


async def test_a_provider_name_with_nul_is_422_in_every_path(client: httpx.AsyncClient) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = await client.request(method, "/v1/providers/sms%00x", headers=operator(Role.ADMIN), json={})
        assert response.status_code == 422, (method, response.text)
        assert [(e["field"], e["rule"]) for e in response.json()["errors"]] == [("path.name", "null_character")]


async def test_each_account_shows_its_circuit_and_whether_it_serves_in_this_replica(
    delivery_settings: DeliverySettings,
) -> None:
    """A provider that refuses every connection opens its circuit; the list and the account say so."""
    settings = delivery_settings.model_copy(update={"attempts": 1, "circuit_failures": 1, "circuit_open_s": 60.0})
    app = create_app(settings)
    name = f"hook-{uuid.uuid4().hex[:8]}"
    down = {"name": name, "kind": "webhook", "channel": "webhook", "base_url": f"http://127.0.0.1:{closed_port()}/x"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://delivery") as client,
    ):
        put = await client.put(f"/v1/providers/{name}", json={**down, "priority": 0}, headers=operator(Role.ADMIN))
        assert (put.json()["circuit"], put.json()["serving"]) == ("closed", True)
        try:
            assert await through(app, delivery(Channel.WEBHOOK)) == "failed"
            one = (await client.get(f"/v1/providers/{name}", headers=operator(Role.ADMIN))).json()
            assert (one["circuit"], one["serving"]) == ("open", True)
            listed = {p["name"]: p for p in (await client.get("/v1/providers", headers=operator(Role.ADMIN))).json()}
            assert (listed[name]["circuit"], listed["hook"]["circuit"]) == ("open", "closed")
            assert listed["hook"]["serving"] is False  # the stored account at priority 0 serves webhooks

            off = await client.put(
                f"/v1/providers/{name}", json={**down, "enabled": False}, headers=operator(Role.ADMIN)
            )
            assert off.json()["serving"] is False
            listed = {p["name"]: p for p in (await client.get("/v1/providers", headers=operator(Role.ADMIN))).json()}
            assert listed["hook"]["serving"] is True
        finally:
            await client.delete(f"/v1/providers/{name}", headers=operator(Role.ADMIN))
