"""Bundling cases in the database, through the decision service and the flusher (real PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from metaconnect_common.schemas.delivery import Delivery
from metaconnect_common.schemas.profiled import Contact, Profiled
from tests.router.conftest import operator, route_spec
from tests.router.test_pipeline import profiled

T0 = datetime.now(UTC).replace(microsecond=0)


async def _route(
    client: httpx.AsyncClient, app: FastAPI, event_type: str, *, also: int = 0, **policy: Any
) -> dict[str, Any]:
    """A route on `event_type`, and `also` more on `<event_type>1`, `<event_type>2`, ...: items of one
    route message collapse into one, so several items in a bundle come from several messages."""
    specs = []
    for n in range(also + 1):
        spec = route_spec(trigger={"event_types": [f"{event_type}{n or ''}"]})
        spec["messages"][0]["collapse_key"] = None
        spec["policy"] = {"bundle_window": "PT10M", "bundle_max_items": 5, **policy}
        assert (await client.post("/v1/routes", json=spec, headers=operator())).status_code == 201
        specs.append(spec)
    app.state.service.decisions.catalog.invalidate()
    return specs[0]


def _at(record: Profiled, when: datetime, **properties: Any) -> Profiled:
    assert record.interaction is not None
    interaction = record.interaction.model_copy(
        update={"occurred_at": when, "received_at": when, "properties": {**record.interaction.properties, **properties}}
    )
    return record.model_copy(update={"interaction": interaction, "profiled_at": when})


async def _items(app: FastAPI, customer: uuid.UUID) -> list[tuple[str, uuid.UUID | None]]:
    async with app.state.service.sessions() as session:
        rows = await session.execute(
            text("SELECT state, delivery_id FROM router.items WHERE customer_id = :c ORDER BY created_at"),
            {"c": customer},
        )
        return [(s, d) for s, d in rows]


async def _deliveries(app: FastAPI, customer: uuid.UUID) -> list[Delivery]:
    async with app.state.service.sessions() as session:
        values = await session.scalars(
            text("SELECT value FROM router.outbox WHERE key = :k ORDER BY id"), {"k": str(customer).encode()}
        )
        return [Delivery.model_validate_json(v) for v in values]


async def test_a_full_bundle_flushes_at_once(router_app: FastAPI, router_client: httpx.AsyncClient) -> None:
    await _route(router_client, router_app, "full.tick", also=2, bundle_max_items=3)
    customer = uuid.uuid4()
    for minute in range(3):
        await router_app.state.service.decisions.apply(
            profiled(customer, f"full.tick{minute or ''}"), now=T0 + timedelta(minutes=minute)
        )
    [delivery] = await _deliveries(router_app, customer)  # the window (10 min) had not closed
    assert len(delivery.items) == 3
    assert [s for s, _ in await _items(router_app, customer)] == ["sent"] * 3


async def test_the_window_flushes_due_bundles_only(router_app: FastAPI, router_client: httpx.AsyncClient) -> None:
    await _route(router_client, router_app, "window.tick")
    customer = uuid.uuid4()
    await router_app.state.service.decisions.apply(profiled(customer, "window.tick"), now=T0)
    await router_app.state.service.flusher.flush_due(T0 + timedelta(minutes=9))
    assert await _deliveries(router_app, customer) == []
    await router_app.state.service.flusher.flush_due(T0 + timedelta(minutes=10))
    assert len(await _deliveries(router_app, customer)) == 1


async def test_an_item_read_in_app_leaves_the_bundle(router_app: FastAPI, router_client: httpx.AsyncClient) -> None:
    await _route(router_client, router_app, "read.tick", also=1)
    customer = uuid.uuid4()
    await router_app.state.service.decisions.apply(profiled(customer, "read.tick"), now=T0)
    await router_app.state.service.decisions.apply(profiled(customer, "read.tick1"), now=T0 + timedelta(seconds=1))
    states = await _items(router_app, customer)
    async with router_app.state.service.sessions() as session:
        first = await session.scalar(
            text("SELECT id FROM router.items WHERE customer_id = :c ORDER BY created_at LIMIT 1"), {"c": customer}
        )
    read = _at(profiled(customer, "message.read"), T0 + timedelta(seconds=2), item_ids=[str(first)])
    await router_app.state.service.decisions.apply(read, now=T0 + timedelta(seconds=2))
    assert [s for s, _ in await _items(router_app, customer)] == ["acted", "pending"]
    await router_app.state.service.flusher.flush_due(T0 + timedelta(minutes=11))
    [delivery] = await _deliveries(router_app, customer)
    assert len(delivery.items) == 1
    assert len(states) == 2


async def test_a_capped_item_waits_for_the_next_bundle_instead_of_being_dropped(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    await _route(router_client, router_app, "cap.tick", cap_overall={"count": 1, "per": "PT1H"})
    customer = uuid.uuid4()
    await router_app.state.service.decisions.apply(profiled(customer, "cap.tick"), now=T0)
    await router_app.state.service.flusher.flush_due(T0 + timedelta(minutes=10))  # one delivery: the cap is now full
    await router_app.state.service.decisions.apply(profiled(customer, "cap.tick"), now=T0 + timedelta(minutes=20))
    await router_app.state.service.flusher.flush_due(T0 + timedelta(minutes=30))
    assert len(await _deliveries(router_app, customer)) == 1  # deferred, not sent, not dropped
    assert [s for s, _ in await _items(router_app, customer)] == ["sent", "pending"]
    await router_app.state.service.flusher.flush_due(T0 + timedelta(minutes=71))  # the cap's hour has passed
    assert len(await _deliveries(router_app, customer)) == 2


async def test_an_item_that_expired_in_the_bundle_is_not_sent(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    spec = await _route(router_client, router_app, "expiry.tick")
    spec["messages"][0]["expires_after"] = "PT5M"
    assert (await router_client.put(f"/v1/routes/{spec['name']}", json=spec, headers=operator())).status_code == 200
    router_app.state.service.decisions.catalog.invalidate()
    customer = uuid.uuid4()
    await router_app.state.service.decisions.apply(_at(profiled(customer, "expiry.tick"), T0), now=T0)
    await router_app.state.service.flusher.flush_due(T0 + timedelta(minutes=10))
    assert await _deliveries(router_app, customer) == []
    assert [s for s, _ in await _items(router_app, customer)] == ["expired"]


async def test_receipts_teach_the_arm_of_what_was_sent(router_app: FastAPI, router_client: httpx.AsyncClient) -> None:
    spec = await _route(router_client, router_app, "learn.tick")
    spec["messages"][0]["category"] = "transactional"
    await router_client.put(f"/v1/routes/{spec['name']}", json=spec, headers=operator())
    router_app.state.service.decisions.catalog.invalidate()
    customer = uuid.uuid4()
    await router_app.state.service.decisions.apply(profiled(customer, "learn.tick"), now=T0)
    [delivery] = await _deliveries(router_app, customer)

    async def arm() -> tuple[float, float]:
        async with router_app.state.service.sessions() as session:
            row = (
                await session.execute(
                    text(
                        "SELECT successes, failures FROM router.arm_stats"
                        " WHERE pattern = 'unknown' AND tone = :t AND channel = 'push'"
                    ),
                    {"t": delivery.items[0].tone},
                )
            ).first()
        return (row[0], row[1]) if row else (0.0, 0.0)

    before = await arm()
    for kind in ("message.sent", "message.delivered", "message.delivered", "message.clicked", "message.opened"):
        record = _at(profiled(customer, kind), T0 + timedelta(minutes=1), delivery_id=str(delivery.id))
        await router_app.state.service.decisions.apply(record, now=T0 + timedelta(minutes=1))
    after = await arm()
    # sent / delivered count once, then engaged once: a success
    assert (after[0] - before[0], after[1] - before[1]) == (1.0, 0.0)


async def test_a_delivery_carries_the_latest_addresses_and_the_events_data(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    await _route(router_client, router_app, "contact.tick", also=1, bundle_max_items=2)
    customer = uuid.uuid4()
    first = profiled(customer, "contact.tick", cart_value=20)
    assert first.profile is not None
    moved = first.profile.model_copy(update={"contact": Contact(email="new@example.com", phone="+4915112345678")})
    second = profiled(customer, "contact.tick1", cart_value=35).model_copy(update={"profile": moved})
    await router_app.state.service.decisions.apply(first, now=T0)
    await router_app.state.service.decisions.apply(second, now=T0 + timedelta(seconds=1))  # full: flushes

    [delivery] = await _deliveries(router_app, customer)
    assert delivery.contact == Contact(email="new@example.com", phone="+4915112345678")
    assert sorted(i.data["cart_value"] for i in delivery.items) == [20, 35]


async def test_repeated_triggers_of_one_message_leave_one_item_in_the_bundle(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    # "Your picks (+4)" listing "Your picks" five times: a route firing on every app open.
    await _route(router_client, router_app, "picks.opened")
    customer = uuid.uuid4()
    for second in range(5):
        await router_app.state.service.decisions.apply(
            profiled(customer, "picks.opened", n=second), now=T0 + timedelta(seconds=second)
        )
    assert [s for s, _ in await _items(router_app, customer)] == ["superseded"] * 4 + ["pending"]
    await router_app.state.service.flusher.flush_due(T0 + timedelta(minutes=11))
    [delivery] = await _deliveries(router_app, customer)
    assert [i.data["n"] for i in delivery.items] == [4]  # the newest, once
    assert delivery.overflow == 0


async def test_an_item_its_failed_receipt_names_learns_nothing_from_its_delivery(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    await _route(router_client, router_app, "left.tick", also=1, bundle_max_items=2)
    customer = uuid.uuid4()
    await router_app.state.service.decisions.apply(profiled(customer, "left.tick"), now=T0)
    await router_app.state.service.decisions.apply(profiled(customer, "left.tick1"), now=T0 + timedelta(seconds=1))
    [delivery] = await _deliveries(router_app, customer)
    left_out, carried = delivery.items
    later = T0 + timedelta(minutes=1)
    # Delivery writes the left-out item's failure before the others' message.sent.
    failed = _at(profiled(customer, "message.failed"), later, delivery_id=str(delivery.id), item_ids=[str(left_out.id)])
    sent = _at(profiled(customer, "message.sent"), later, delivery_id=str(delivery.id), item_ids=[str(carried.id)])
    await router_app.state.service.decisions.apply_all([(failed, None), (sent, None)], now=later)
    async with router_app.state.service.sessions() as session:
        rows = await session.execute(
            text("SELECT id, state, delivered_at IS NOT NULL FROM router.items WHERE customer_id = :c"),
            {"c": customer},
        )
        states = {i: (state, reached) for i, state, reached in rows}
    assert states == {left_out.id: ("failed", False), carried.id: ("sent", True)}
