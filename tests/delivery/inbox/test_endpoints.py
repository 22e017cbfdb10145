"""The in-app inbox over a real socket: listing, read state, tokens, and the live SSE stream."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from metaconnect_common.auth import Role, issue_inbox_token, issue_token
from metaconnect_common.schemas import Channel, Interaction
from metaconnect_common.settings import AuthSettings
from metaconnect_delivery.app import create_app
from metaconnect_delivery.config import DeliverySettings
from metaconnect_sandbox.server import serving
from tests.delivery.test_service import delivery, through
from tests.router.conftest import operator

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def served(delivery_settings: DeliverySettings) -> AsyncIterator[tuple[FastAPI, str]]:
    app = create_app(delivery_settings)
    async with serving(app) as url:
        yield app, url


def device(customer: uuid.UUID) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_inbox_token(AuthSettings(), customer)}"}


async def _in_app(app: FastAPI, items: int = 1) -> uuid.UUID:
    d = delivery(Channel.IN_APP, items=items)
    assert await through(app, d) == "sent"
    return d.customer_id


async def test_the_device_lists_its_inbox_and_marks_a_message_read_once(served: tuple[FastAPI, str]) -> None:
    app, url = served
    customer = await _in_app(app, items=2)
    async with httpx.AsyncClient(base_url=url) as client:
        inbox = (await client.get(f"/v1/inbox/{customer}", headers=device(customer))).json()
        assert inbox["unread"] == 1
        [message] = inbox["messages"]
        assert [i["message_id"] for i in message["items"]] == ["m0", "m1"]
        assert message["items"][0]["body"] == "Hi Ada"

        read = f"/v1/inbox/{customer}/messages/{message['id']}/read"
        first = await client.post(read, headers=device(customer))
        assert first.status_code == 200, first.text
        assert first.json()["read_at"] is not None
        assert (await client.post(read, headers=device(customer))).json()["read_at"] == first.json()["read_at"]
        assert (await client.get(f"/v1/inbox/{customer}", headers=device(customer))).json()["unread"] == 0
        unread = await client.get(f"/v1/inbox/{customer}", params={"unread_only": "true"}, headers=device(customer))
        assert unread.json()["messages"] == []

    async with app.state.service.sessions() as session:
        values = await session.scalars(text("SELECT value FROM delivery.outbox ORDER BY id"))
        reads = [i for v in values if (i := Interaction.model_validate_json(v)).type == "message.read"]
    [read_event] = [r for r in reads if r.customer.metaconnect_id == customer]
    assert read_event.properties["item_ids"] == [i["item_id"] for i in message["items"]]  # the router drops them


async def test_who_may_read_an_inbox(served: tuple[FastAPI, str]) -> None:
    app, url = served
    customer = await _in_app(app)
    someone_else = uuid.uuid4()
    nonsense = {"Authorization": "Bearer nonsense"}
    async with httpx.AsyncClient(base_url=url) as client:
        assert (await client.get(f"/v1/inbox/{customer}")).status_code == 401
        assert (await client.get(f"/v1/inbox/{customer}", headers=nonsense)).status_code == 401
        assert (await client.get(f"/v1/inbox/{customer}", headers=device(someone_else))).status_code == 403
        assert (await client.get(f"/v1/inbox/{customer}", headers=operator(Role.VIEWER))).status_code == 200
        token = issue_inbox_token(AuthSettings(), customer)
        assert (await client.get(f"/v1/inbox/{customer}", params={"token": token})).status_code == 200
        # Tokens are minted at ingest (with an API key's `inbox` scope), not here.
        assert (await client.post(f"/v1/inbox/{customer}/token", headers=operator(Role.ADMIN))).status_code == 404
        # An inbox token is no operator token.
        assert (await client.get(f"/v1/deliveries?customer={customer}", headers=device(customer))).status_code == 401
        missing = await client.post(f"/v1/inbox/{customer}/messages/{uuid.uuid4()}/read", headers=device(customer))
        assert missing.status_code == 404
        assert missing.json()["error"] == "not_found"


async def test_a_device_opening_its_inbox_reports_app_presence_once_a_day(served: tuple[FastAPI, str]) -> None:
    app, url = served
    customer = await _in_app(app)
    watched = await _in_app(app)  # only an operator looks at this one
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(10.0)) as client:
        for _ in range(3):
            assert (await client.get(f"/v1/inbox/{customer}", headers=device(customer))).status_code == 200
        async with client.stream("GET", f"/v1/inbox/{customer}/stream", headers=device(customer)) as response:
            assert response.status_code == 200
        assert (await client.get(f"/v1/inbox/{watched}", headers=operator(Role.VIEWER))).status_code == 200

    async with app.state.service.sessions() as session:
        values = await session.scalars(text("SELECT value FROM delivery.outbox WHERE value IS NOT NULL ORDER BY id"))
        opened = [i for v in values if (i := Interaction.model_validate_json(v)).type == "inbox.opened"]
    [event] = [o for o in opened if o.customer.metaconnect_id == customer]
    assert (event.channel, event.occurred_at.date()) == (Channel.IN_APP, datetime.now(UTC).date())
    assert not [o for o in opened if o.customer.metaconnect_id == watched]  # an operator is no presence


async def _events(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    event = "message"
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            yield event, json.loads(line.split(":", 1)[1])


async def test_an_open_stream_receives_a_new_message_live(served: tuple[FastAPI, str]) -> None:
    app, url = served
    customer = await _in_app(app)
    token = issue_inbox_token(AuthSettings(), customer)
    async with (
        httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(10.0)) as client,
        client.stream("GET", f"/v1/inbox/{customer}/stream", params={"token": token}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _events(response)
        assert await anext(events) == ("unread", {"unread": 1, "messages": []})
        d = delivery(Channel.IN_APP).model_copy(update={"customer_id": customer})
        sending = asyncio.create_task(through(app, d))
        async with asyncio.timeout(5):  # LISTEN/NOTIFY, not the 15 s poll
            kind, message = await anext(events)
        await sending
    assert kind == "message"
    assert message["delivery_id"] == str(d.id)


async def test_an_inbox_is_named_by_any_ref_and_a_token_opens_only_its_own(served: tuple[FastAPI, str]) -> None:
    app, url = served
    tag = uuid.uuid4().hex[:8]
    d = delivery(Channel.IN_APP).model_copy(update={"identities": [f"cid:c-{tag}", f"email:ada.{tag}@example.com"]})
    assert await through(app, d) == "sent"
    customer, other = d.customer_id, await _in_app(app)
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(10.0)) as client:
        for ref in (f"cid:c-{tag}", f"email:Ada.{tag}@Example.com", str(customer)):
            inbox = await client.get(f"/v1/inbox/{ref}", headers=device(customer))
            assert inbox.status_code == 200, (ref, inbox.text)
            assert [m["delivery_id"] for m in inbox.json()["messages"]] == [str(d.id)]
        assert (await client.get(f"/v1/inbox/cid:c-{tag}", headers=device(other))).status_code == 403

        [message] = (await client.get(f"/v1/inbox/cid:c-{tag}", headers=operator(Role.VIEWER))).json()["messages"]
        read = await client.post(f"/v1/inbox/cid:c-{tag}/messages/{message['id']}/read", headers=device(customer))
        assert read.status_code == 200, read.text
        assert read.json()["read_at"] is not None

        async with client.stream("GET", f"/v1/inbox/email:ada.{tag}@example.com/stream", headers=device(customer)) as r:
            assert r.status_code == 200
            assert await anext(_events(r)) == ("unread", {"unread": 0, "messages": []})

        bad = await client.get("/v1/inbox/fax:123", headers=operator(Role.VIEWER))
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "path.ref"


async def test_a_ref_nothing_was_delivered_to_is_an_empty_inbox(served: tuple[FastAPI, str]) -> None:
    _, url = served
    unknown, newcomer = f"cid:nobody-{uuid.uuid4().hex[:8]}", uuid.uuid4()
    empty = {"unread": 0, "messages": []}
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(10.0)) as client:
        assert (await client.get(f"/v1/inbox/{unknown}", headers=operator(Role.VIEWER))).json() == empty
        assert (await client.get(f"/v1/inbox/{newcomer}", headers=device(newcomer))).json() == empty
        # A device cannot tell an identifier nothing was delivered to from another customer's.
        assert (await client.get(f"/v1/inbox/{unknown}", headers=device(newcomer))).status_code == 403
        read = await client.post(f"/v1/inbox/{unknown}/messages/{uuid.uuid4()}/read", headers=operator(Role.VIEWER))
        assert read.status_code == 404
        async with client.stream("GET", f"/v1/inbox/{unknown}/stream", headers=operator(Role.VIEWER)) as r:
            assert [e async for e in _events(r)] == [("unread", empty)]


async def test_a_merged_customers_messages_are_in_the_survivors_inbox(served: tuple[FastAPI, str]) -> None:
    app, url = served
    old, survivor = await _in_app(app), uuid.uuid4()
    d = delivery(Channel.IN_APP).model_copy(update={"customer_id": survivor, "identities": [f"id:{old}"]})
    assert await through(app, d) == "sent"
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(10.0)) as client:
        for ref in (str(survivor), str(old)):
            inbox = (await client.get(f"/v1/inbox/{ref}", headers=device(survivor))).json()
            assert inbox["unread"] == 2, ref
            [newest, merged] = inbox["messages"]
            assert newest["delivery_id"] == str(d.id)
        read = await client.post(f"/v1/inbox/{survivor}/messages/{merged['id']}/read", headers=device(survivor))
        assert read.status_code == 200, read.text
        # The old customer's own token names a customer that is no more: it opens nothing.
        assert (await client.get(f"/v1/inbox/{old}", headers=device(old))).status_code == 403


@pytest.mark.parametrize("holder", ["device", "operator"])
async def test_a_stream_ends_when_its_token_expires(served: tuple[FastAPI, str], holder: str) -> None:
    app, url = served
    customer = await _in_app(app)
    settings = AuthSettings()
    token = (
        issue_inbox_token(settings, customer, ttl_s=2)
        if holder == "device"
        else issue_token(settings, subject="ops@test", role=Role.VIEWER, ttl_s=2)
    )
    started = time.monotonic()
    async with (
        httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(10.0)) as client,
        client.stream("GET", f"/v1/inbox/{customer}/stream", headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        assert response.status_code == 200
        async with asyncio.timeout(8):  # well before the 15 s poll or ping
            seen = [event async for event in _events(response)]
    # Closed at the token's exp (whole seconds, so 1 to 2 s after issue), not when the
    # verification's leeway would have refused it.
    assert 0.5 < time.monotonic() - started < 5
    assert seen == [("unread", {"unread": 1, "messages": []}), ("expired", {"reason": "token_expired"})]
