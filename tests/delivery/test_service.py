"""Sending deliveries through the provider sandbox over real sockets, recorded in the real PostgreSQL.

Each provider's happy path; the fault matrix (timeout, 500, 429 with Retry-After, 400, refused
connection) with its retry / fail-over / dead-letter outcome; the circuit opening and closing;
a redelivered delivery sending nothing twice; template failures and missing addresses.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from metaconnect_cli.local._proc import free_port
from metaconnect_common.db import session_factory
from metaconnect_common.schemas import Channel, Interaction
from metaconnect_common.schemas.delivery import Delivery, DeliveryItem, ItemContent
from metaconnect_common.schemas.profiled import Contact
from metaconnect_common.settings import CommonSettings
from metaconnect_delivery.config import DeliverySettings, ProviderSettings
from metaconnect_delivery.registry import Registry
from metaconnect_delivery.sending import token_hash
from metaconnect_delivery.service import DeliveryService
from metaconnect_sandbox.config import SandboxConfig
from metaconnect_sandbox.server import Sandbox

HOOK_SECRET = SecretStr("hook-secret-for-tests")
SANDBOX = SandboxConfig(webhook_secrets={"orders": HOOK_SECRET})
CONTACT = Contact(email="ada@example.com", phone="+4915112345678", push_tokens=["device-token-0001"])


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(SANDBOX) as sb:
        yield sb


@pytest.fixture
async def control(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{sandbox.http_url}/_sandbox") as client:
        await client.post("/reset")
        yield client


def closed_port() -> int:
    return free_port()  # nothing listens there


def providers(sandbox: Sandbox, **overrides: str) -> list[ProviderSettings]:
    urls = sandbox.base_urls
    return [
        ProviderSettings(
            name="fcm",
            kind="fcm",
            channel=Channel.PUSH,
            base_url=overrides.get("push", urls["fcm"]),
            account=SANDBOX.fcm_project_id,
            secret=SANDBOX.fcm_access_token,
            timeout_s=0.5,
        ),
        ProviderSettings(
            name="twilio",
            kind="twilio",
            channel=Channel.SMS,
            base_url=urls["twilio"],
            account=SANDBOX.twilio_account_sid,
            sender="+15005550006",
            secret=SANDBOX.twilio_auth_token,
        ),
        ProviderSettings(
            name="whatsapp",
            kind="whatsapp",
            channel=Channel.WHATSAPP,
            base_url=f"{urls['whatsapp']}/v21.0",
            account=SANDBOX.whatsapp_phone_number_id,
            secret=SANDBOX.whatsapp_access_token,
            template="metaconnect_update",
        ),
        ProviderSettings(
            name="mail",
            kind="smtp",
            channel=Channel.EMAIL,
            base_url=f"smtp://127.0.0.1:{sandbox.smtp_port}",
            sender="news@metaconnect.test",
        ),
        ProviderSettings(
            name="hook",
            kind="webhook",
            channel=Channel.WEBHOOK,
            base_url=f"{urls['webhook']}/orders",
            secret=HOOK_SECRET,
        ),
    ]


Make = Callable[..., DeliveryService]


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(database_url, pool_size=5)
    yield eng
    await eng.dispose()


@pytest.fixture
async def make(engine: AsyncEngine, sandbox: Sandbox) -> AsyncIterator[Make]:
    async with httpx.AsyncClient() as client:

        def build(**settings: Any) -> DeliveryService:
            configured = DeliverySettings(
                providers=settings.pop("providers", None) or providers(sandbox),
                attempts=settings.pop("attempts", 3),
                backoff_base_s=0.01,
                backoff_cap_s=0.05,
                common=CommonSettings(env="test"),
                **settings,
            )
            return DeliveryService(
                session_factory(engine), Registry(configured, client), configured, rng=random.Random(0)
            )

        yield build


def delivery(
    *channels: Channel, contact: Contact = CONTACT, items: int = 1, body: str = "Hi {{ data.name }}"
) -> Delivery:
    now = datetime.now(UTC)
    content = {
        channel.value: {"title": "Your cart", "body": body, "subject": "Your cart"}
        for channel in (Channel.PUSH, Channel.SMS, Channel.WHATSAPP, Channel.EMAIL, Channel.IN_APP)
    }
    return Delivery(
        id=uuid.uuid4(),
        customer_id=uuid.uuid4(),
        contact=contact,
        channels=list(channels),
        items=[
            DeliveryItem(
                id=uuid.uuid4(),
                decision_id=uuid.uuid4(),
                route="cart",
                route_version=1,
                message_id=f"m{i}",
                category="marketing",
                priority=50,
                tone="red",
                content=content,  # type: ignore[arg-type]
                event_id=uuid.uuid4(),
                data={"name": "Ada"},
                created_at=now,
            )
            for i in range(items)
        ],
        bundle_id=uuid.uuid4() if items > 1 else None,
        created_at=now,
    )


async def send(service: DeliveryService, d: Delivery, *, timeout_s: float = 30.0) -> str:
    """Accept `d`, then claim and attempt what is due as a worker does, until `d` is sent or failed
    (retries fall due within milliseconds here)."""
    await service.accept([(d, None)])
    return await attempt_until_done(service, d.id, timeout_s=timeout_s)


async def attempt_until_done(service: DeliveryService, delivery_id: uuid.UUID, *, timeout_s: float = 30.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for claimed in await service.claim(10):
            await service.attempt(claimed)
        status = await status_of(service, delivery_id)
        if status in ("sent", "failed"):
            return status
        await asyncio.sleep(0.01)
    raise TimeoutError(f"delivery {delivery_id} still {await status_of(service, delivery_id)}")


async def status_of(service: DeliveryService, delivery_id: uuid.UUID) -> str | None:
    async with service.sessions() as session:
        status: str | None = await session.scalar(
            text("SELECT status FROM delivery.deliveries WHERE id = :d"), {"d": delivery_id}
        )
        return status


async def through(app: FastAPI, d: Delivery, *, timeout_s: float = 30.0) -> str:
    """Accept `d` in a running app and wait for its workers to send it (or fail it)."""
    service: DeliveryService = app.state.service.deliveries
    await service.accept([(d, None)])
    app.state.service.workers.wake()
    deadline = time.monotonic() + timeout_s
    while (status := await status_of(service, d.id)) not in ("sent", "failed"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"delivery {d.id} still {status}")
        await asyncio.sleep(0.02)
    return status


async def received(control: httpx.AsyncClient, provider: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = (await control.get("/messages", params={"provider": provider})).json()["messages"]
    return messages


async def attempts(engine: AsyncEngine, delivery_id: uuid.UUID) -> list[tuple[str, str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT channel, outcome, reason FROM delivery.attempts WHERE delivery_id = :d ORDER BY number"),
            {"d": delivery_id},
        )
        return [(c, o, r) for c, o, r in rows]


async def outbox(engine: AsyncEngine, delivery_id: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    """(topic, value) of what the delivery wrote to its outbox, in order."""
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT topic, value FROM delivery.outbox ORDER BY id"))
        out = [(topic, json.loads(value)) for topic, value in rows]
    mine = str(delivery_id)
    return [(t, v) for t, v in out if v.get("id") == mine or v.get("properties", {}).get("delivery_id") == mine]


async def fault(control: httpx.AsyncClient, provider: str, *responses: dict[str, Any]) -> None:
    response = await control.post("/faults", json={"provider": provider, "responses": list(responses)})
    assert response.status_code == 200, response.text


# --- happy paths ---------------------------------------------------------------------------------


async def test_push_goes_out_in_the_fcm_shape_and_the_receipt_closes_the_loop(
    make: Make, control: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    d = delivery(Channel.PUSH, Channel.EMAIL)
    assert await send(make(), d) == "sent"

    [call] = await received(control, "fcm")
    message = call["payload"]["message"]
    assert call["auth_ok"]
    assert message["token"] == "device-token-0001"
    assert message["notification"] == {"title": "Your cart", "body": "Hi Ada"}
    assert message["data"]["delivery_id"] == str(d.id)
    assert await attempts(engine, d.id) == [("push", "sent", "accepted")]
    [(topic, value)] = await outbox(engine, d.id)
    sent = Interaction.model_validate(value)
    assert topic == "mc.interactions.v1"
    assert (sent.type, sent.channel, sent.customer.metaconnect_id) == ("message.sent", Channel.PUSH, d.customer_id)
    assert sent.properties["item_ids"] == [str(i.id) for i in d.items]


async def test_sms_whatsapp_email_and_webhook_each_speak_their_providers_shape(
    make: Make, control: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    service = make()
    for channel in (Channel.SMS, Channel.WHATSAPP, Channel.EMAIL, Channel.WEBHOOK):
        assert await send(service, delivery(channel)) == "sent", channel

    [sms] = await received(control, "twilio")
    assert sms["auth_ok"]
    assert sms["payload"]["To"] == "+4915112345678"
    assert sms["payload"]["Body"] == "Your cart\nHi Ada"
    [whatsapp] = await received(control, "whatsapp")
    assert whatsapp["payload"]["to"] == "4915112345678"
    assert whatsapp["payload"]["template"]["components"][0]["parameters"][0]["text"] == "*Your cart* · Hi Ada"
    [mail] = await received(control, "smtp")
    assert mail["to"] == ["ada@example.com"]
    assert mail["title"] == "Your cart"
    [hook] = await received(control, "webhook")
    assert (hook["auth_ok"], hook["signature"]) == (True, "valid")  # X-Metaconnect-Signature checked


async def test_in_app_goes_to_the_inbox_delivered_at_once(make: Make, engine: AsyncEngine) -> None:
    d = delivery(Channel.IN_APP, items=3)
    assert await send(make(), d) == "sent"
    async with engine.connect() as conn:
        content = await conn.scalar(text("SELECT content FROM delivery.inbox WHERE delivery_id = :d"), {"d": d.id})
    assert [i["message_id"] for i in content["items"]] == ["m0", "m1", "m2"]
    assert [Interaction.model_validate(v).type for _, v in await outbox(engine, d.id)] == [
        "message.sent",
        "message.delivered",
    ]


# --- faults ----------------------------------------------------------------------------------------


async def test_server_errors_are_retried_until_the_provider_takes_it(
    make: Make, control: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await fault(control, "fcm", {"status": 500}, {"status": 503})
    d = delivery(Channel.PUSH)
    assert await send(make(), d) == "sent"
    assert await attempts(engine, d.id) == [
        ("push", "retry", "http_500"),
        ("push", "retry", "http_503"),
        ("push", "sent", "accepted"),
    ]


async def test_a_429_waits_its_retry_after(make: Make, control: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await fault(control, "fcm", {"status": 429, "retry_after": 1})
    d = delivery(Channel.PUSH)
    started = time.monotonic()
    assert await send(make(), d) == "sent"
    assert time.monotonic() - started >= 1.0
    assert await attempts(engine, d.id) == [("push", "retry", "http_429"), ("push", "sent", "accepted")]


async def test_a_timeout_is_retried(make: Make, control: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await fault(control, "fcm", {"delay_s": 2.0})  # the provider's timeout is 0.5 s
    d = delivery(Channel.PUSH)
    assert await send(make(), d) == "sent"
    # The request went out unanswered: it may have been sent. Tried again with the same collapse id.
    assert await attempts(engine, d.id) == [("push", "unknown", "timeout"), ("push", "sent", "accepted")]
    keys = [m["payload"]["message"]["android"]["collapse_key"] for m in await received(control, "fcm")]
    assert keys == [str(d.id)[:40]] * 2


async def test_a_permanent_refusal_fails_over_to_the_next_channel_at_once(
    make: Make, control: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await fault(control, "fcm", {"status": 400})
    d = delivery(Channel.PUSH, Channel.SMS)
    assert await send(make(), d) == "sent"
    assert await attempts(engine, d.id) == [("push", "permanent", "http_400"), ("sms", "sent", "accepted")]
    assert len(await received(control, "twilio")) == 1


async def test_a_refused_connection_is_retried_then_fails_over(
    make: Make, sandbox: Sandbox, control: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    service = make(providers=providers(sandbox, push=f"http://127.0.0.1:{closed_port()}"))
    d = delivery(Channel.PUSH, Channel.SMS)
    assert await send(service, d) == "sent"
    assert await attempts(engine, d.id) == [
        *[("push", "retry", "connection_refused")] * 3,
        ("sms", "sent", "accepted"),
    ]


async def test_when_every_channel_fails_the_delivery_fails_with_a_receipt_and_a_dead_letter(
    make: Make, control: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await fault(control, "fcm", *[{"status": 500}] * 3)
    await fault(control, "twilio", {"status": 400, "error_code": 21602})  # refused, the number itself is fine
    d = delivery(Channel.PUSH, Channel.SMS)
    assert await send(make(), d) == "failed"
    assert [o for _, o, _ in await attempts(engine, d.id)] == ["retry", "retry", "retry", "permanent"]
    [(receipt_topic, failed), (dlq_topic, dead)] = await outbox(engine, d.id)
    assert (receipt_topic, failed["type"], failed["properties"]["reason"]) == (
        "mc.interactions.v1",
        "message.failed",
        "http_400",
    )
    assert dlq_topic == "mc.dlq.delivery.v1"
    assert Delivery.model_validate(dead).id == d.id


async def test_the_circuit_opens_after_consecutive_failures_and_closes_after_a_good_trial(
    make: Make, control: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    service = make(attempts=1, circuit_failures=2, circuit_open_s=0.5)
    await fault(control, "fcm", {"status": 500}, {"status": 500})
    for _ in range(2):
        assert await send(service, delivery(Channel.PUSH, Channel.SMS)) == "sent"  # by SMS
    calls = len(await received(control, "fcm"))
    skipped = delivery(Channel.PUSH, Channel.SMS)
    assert await send(service, skipped) == "sent"
    assert len(await received(control, "fcm")) == calls  # open: push was not even called
    assert (await attempts(engine, skipped.id))[0] == ("push", "skipped", "circuit_open")

    time.sleep(0.6)
    trial = delivery(Channel.PUSH, Channel.SMS)
    assert await send(service, trial) == "sent"
    assert await attempts(engine, trial.id) == [("push", "sent", "accepted")]


async def test_an_open_circuit_on_the_last_channel_holds_the_delivery_until_a_trial_may_go(
    make: Make, control: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """A provider's outage opens its circuit; a push-only message waits for it instead of failing."""
    service = make(attempts=1, circuit_failures=1, circuit_open_s=0.5)
    await fault(control, "fcm", {"status": 500})
    assert await send(service, delivery(Channel.PUSH, Channel.SMS)) == "sent"  # by SMS; the circuit opens
    held = delivery(Channel.PUSH)
    await service.accept([(held, None)])
    started = time.monotonic()
    assert await attempt_until_done(service, held.id) == "sent"
    assert time.monotonic() - started >= 0.3  # it waited for the open period, then went as the trial
    assert await attempts(engine, held.id) == [("push", "sent", "accepted")]  # the wait is no attempt


async def test_a_push_round_to_several_devices_is_one_attempt(
    make: Make, control: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    tokens = [f"device-{uuid.uuid4().hex[:12]}" for _ in range(3)]
    await fault(control, "fcm", *[{"status": 503}] * 6)  # every device refuses twice
    d = delivery(Channel.PUSH, Channel.SMS, contact=Contact(push_tokens=tokens, phone="+4915112345678"))
    assert await send(make(attempts=3, circuit_failures=100), d) == "sent"
    channels = [c for c, _, _ in await attempts(engine, d.id)]
    assert channels == ["push"] * 9  # three rounds of three calls, the third round taken: no fail-over


async def test_a_provider_at_its_rate_is_left_out_of_claims_until_a_call_may_go(
    make: Make, sandbox: Sandbox, control: httpx.AsyncClient
) -> None:
    """Claiming deliveries the provider's rate would only put back costs a transaction each."""
    slow = [p.model_copy(update={"rate_per_s": 2.0, "burst": 1}) for p in providers(sandbox)]
    service = make(providers=slow)
    first, second = delivery(Channel.PUSH), delivery(Channel.PUSH)
    assert service.throttled_channels() == []
    assert await send(service, first) == "sent"  # the one call the burst allows
    assert Channel.PUSH in service.throttled_channels()
    await service.accept([(second, None)])
    assert await service.claim(10, skip_channels=service.throttled_channels()) == []
    time.sleep(0.55)  # a call's worth of rate
    assert service.throttled_channels() == []
    assert await attempt_until_done(service, second.id) == "sent"


# --- once, and failures that are not the provider's --------------------------------------------


async def test_a_redelivered_delivery_sends_nothing_twice(
    make: Make, control: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    d = delivery(Channel.PUSH)
    assert await send(make(), d) == "sent"
    assert await send(make(), d) == "sent"  # another replica, after a rebalance
    assert len(await received(control, "fcm")) == 1
    assert len(await attempts(engine, d.id)) == 1


async def test_a_template_error_fails_the_delivery_with_its_reason_and_calls_no_provider(
    make: Make, control: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    d = delivery(Channel.PUSH, body="Hi {{ data.nickname }}")  # not in the data
    assert await send(make(), d) == "failed"
    assert await attempts(engine, d.id) == [("push", "skipped", "template_undefined")]
    assert await received(control, "fcm") == []


async def test_a_bundle_with_one_broken_item_sends_the_others_and_fails_that_item_alone(
    make: Make, control: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    d = delivery(Channel.PUSH, items=3)
    broken = d.items[1].model_copy(
        update={"content": {Channel.PUSH: ItemContent(title="Deal", body="Now {{ data.price }}")}}
    )
    d = d.model_copy(update={"items": [d.items[0], broken, d.items[2]]})
    assert await send(make(), d) == "sent"

    [call] = await received(control, "fcm")
    message = call["payload"]["message"]
    assert message["notification"]["title"] == "Your cart (+1)"  # two items went out
    assert message["data"]["item_ids"] == f"{d.items[0].id},{d.items[2].id}"
    receipts = [Interaction.model_validate(value) for _, value in await outbox(engine, d.id)]
    assert [r.type for r in receipts] == ["message.failed", "message.sent"]  # the failure first
    failed, sent = receipts
    assert failed.properties["item_ids"] == [str(broken.id)]
    assert failed.properties["decision_ids"] == [str(broken.decision_id)]
    assert {k: failed.properties[k] for k in ("reason", "route", "message_id", "field", "variable")} == {
        "reason": "template_undefined",
        "route": "cart",
        "message_id": "m1",
        "field": "body",
        "variable": "data.price",
    }
    assert sent.properties["item_ids"] == [str(d.items[0].id), str(d.items[2].id)]
    assert failed.event_id != sent.event_id
    # Redelivered: nothing twice, and the same receipt ids.
    assert await send(make(), d) == "sent"
    assert len(await received(control, "fcm")) == 1


async def test_when_no_item_renders_each_item_fails_with_its_variable(
    make: Make, control: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    d = delivery(Channel.PUSH, items=2, body="Hi {{ data.nickname }}")
    assert await send(make(), d) == "failed"
    assert await received(control, "fcm") == []
    written = await outbox(engine, d.id)
    receipts = [Interaction.model_validate(v) for t, v in written if t == "mc.interactions.v1"]
    assert [(r.type, r.properties["item_ids"], r.properties["variable"]) for r in receipts] == [
        ("message.failed", [str(item.id)], "data.nickname") for item in d.items
    ]
    assert [t for t, _ in written if t != "mc.interactions.v1"] == ["mc.dlq.delivery.v1"]


async def test_a_customer_without_an_address_fails_over(make: Make, engine: AsyncEngine) -> None:
    d = delivery(Channel.SMS, Channel.EMAIL, contact=Contact(email="ada@example.com"))
    assert await send(make(), d) == "sent"
    assert await attempts(engine, d.id) == [("sms", "permanent", "no_sms_address"), ("email", "sent", "accepted")]


async def test_attempts_keep_no_secret_and_no_address(
    make: Make, control: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await fault(control, "twilio", {"status": 400})
    d = delivery(Channel.SMS, Channel.PUSH, Channel.EMAIL)
    await send(make(), d)
    async with engine.connect() as conn:
        rows = [
            list(row)
            for table in ("attempts", "deliveries")
            for row in await conn.execute(text(f"SELECT * FROM delivery.{table}"))
        ]
    stored = json.dumps(rows, default=str)
    for secret in ("sandbox-fcm-access-token", "sandbox-twilio-auth-token", "ada@example.com", "4915112345678"):
        assert secret not in stored


async def test_a_providers_rate_limit_spaces_its_calls(
    make: Make, sandbox: Sandbox, control: httpx.AsyncClient
) -> None:
    limited = [
        p.model_copy(update={"rate_per_s": 5.0, "burst": 1}) if p.name == "fcm" else p for p in providers(sandbox)
    ]
    service = make(providers=limited)
    started = time.monotonic()
    for _ in range(3):
        assert await send(service, delivery(Channel.PUSH)) == "sent"
    assert time.monotonic() - started >= 0.38  # 1 at once, then one every 0.2 s
    assert len(await received(control, "fcm")) == 3


async def test_an_unregistered_device_is_reported_as_a_hard_bounce_and_the_delivery_fails_over(
    make: Make, control: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await control.post("/fcm/unregistered-tokens", json={"tokens": ["device-token-0001"]})
    d = delivery(Channel.PUSH, Channel.EMAIL)
    assert await send(make(), d) == "sent"
    assert await attempts(engine, d.id) == [("push", "permanent", "http_404"), ("email", "sent", "accepted")]
    receipts = [Interaction.model_validate(v) for _, v in await outbox(engine, d.id)]
    [bounced] = [r for r in receipts if r.type == "message.bounced"]
    # The profile's vocabulary: a hard bounce makes the channel's address invalid.
    assert (bounced.channel, bounced.properties["bounce"]) == (Channel.PUSH, "hard")
    assert [r.type for r in receipts] == ["message.bounced", "message.sent"]


async def test_push_goes_to_every_device_and_an_unregistered_one_bounces_alone(
    make: Make, control: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    tokens = [f"device-{uuid.uuid4().hex[:12]}" for _ in range(3)]
    await control.post("/fcm/unregistered-tokens", json={"tokens": [tokens[1]]})
    d = delivery(Channel.PUSH, Channel.EMAIL, contact=Contact(push_tokens=tokens))
    assert await send(make(), d) == "sent"  # two devices took it: no fail-over to e-mail

    got = sorted(m["payload"]["message"]["token"] for m in await received(control, "fcm"))
    assert got == sorted(tokens)  # one call per token
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT outcome, reason, response FROM delivery.attempts WHERE delivery_id = :d"), {"d": d.id}
            )
        ).all()
    by_token = {row.response["token_sha256"]: (row.outcome, row.reason) for row in rows}
    hashed = [token_hash(t) for t in tokens]
    assert by_token == {
        hashed[0]: ("sent", "accepted"),
        hashed[1]: ("permanent", "http_404"),
        hashed[2]: ("sent", "accepted"),
    }
    assert not any(t in json.dumps([row.response for row in rows]) for t in tokens)  # never the token itself
    receipts = [Interaction.model_validate(v) for _, v in await outbox(engine, d.id)]
    [bounced] = [r for r in receipts if r.type == "message.bounced"]
    assert (bounced.properties["bounce"], bounced.properties["address_sha256"]) == ("hard", hashed[1])
    assert [r.type for r in receipts] == ["message.bounced", "message.sent"]


async def test_a_push_retried_goes_again_only_to_the_devices_that_did_not_take_it(
    make: Make, control: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    tokens = [f"device-{uuid.uuid4().hex[:12]}" for _ in range(2)]
    await fault(control, "fcm", {"status": 503}, {"status": 503})  # both devices' first calls
    d = delivery(Channel.PUSH, contact=Contact(push_tokens=tokens))
    assert await send(make(), d) == "sent"
    assert sorted(o for _, o, _ in await attempts(engine, d.id)) == ["retry", "retry", "sent", "sent"]


async def test_a_transactional_message_leaves_a_copy_in_the_inbox(make: Make, engine: AsyncEngine) -> None:
    d = delivery(Channel.PUSH).model_copy(update={"urgent": True, "inbox_copy": True})
    assert await send(make(), d) == "sent"
    async with engine.connect() as conn:
        content = await conn.scalar(text("SELECT content FROM delivery.inbox WHERE delivery_id = :d"), {"d": d.id})
        channel = await conn.scalar(text("SELECT channel FROM delivery.deliveries WHERE id = :d"), {"d": d.id})
    assert channel == "push"
    assert [i["body"] for i in content["items"]] == ["Hi Ada"]


async def test_a_customers_deliveries_keep_their_order_and_other_customers_go_beside(
    make: Make, control: httpx.AsyncClient
) -> None:
    service = make()
    first = delivery(Channel.PUSH)
    second = delivery(Channel.SMS).model_copy(update={"customer_id": first.customer_id})
    other = delivery(Channel.SMS)
    await service.accept([(first, None), (second, None), (other, None)])

    await fault(control, "fcm", {"status": 503})
    claimed = await service.claim(10)
    assert {c.delivery.id for c in claimed} == {first.id, other.id}  # not the second while the first is pending
    assert await service.claim(10) == []  # leased: no other worker takes them meanwhile
    assert [await service.attempt(c) for c in claimed] == [
        "pending" if c.delivery.id == first.id else "sent" for c in claimed
    ]  # the first waits for its retry as a row; the other customer's went beside it

    assert await attempt_until_done(service, first.id) == "sent"
    assert await attempt_until_done(service, second.id) == "sent"
