"""The router end to end on real Kafka and PostgreSQL: profiled events in, deliveries out."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from metaconnect_common.auth import Role
from metaconnect_common.kafka.producer import KafkaPublisher, OutgoingRecord
from metaconnect_common.schemas import Channel, Interaction
from metaconnect_common.schemas.delivery import Delivery
from metaconnect_common.schemas.profiled import Profiled, ProfileSnapshot
from metaconnect_common.settings import KafkaSettings
from metaconnect_common.topics import DELIVERIES, PROFILED
from tests.router.conftest import operator, route_spec
from tests.support import read_topic

pytestmark = pytest.mark.timeout(120)
GRANTED = {"granted": True, "at": "2026-01-01T00:00:00Z", "source": "test"}


def profiled(customer_id: uuid.UUID, type_: str, **properties: Any) -> Profiled:
    now = datetime.now(UTC)
    interaction = Interaction.model_validate(
        {
            "event_id": str(uuid.uuid4()),
            "customer": {"customer_id": f"c-{customer_id}"},
            "type": type_,
            "channel": "web",
            "occurred_at": now,
            "received_at": now,
            "source": "test",
            "properties": properties,
        }
    )
    profile = ProfileSnapshot.model_validate(
        {
            "lifecycle_stage": "customer",
            "time_zone": "UTC",
            "channel_consent": {"push": GRANTED, "email": GRANTED},
            "reachable": ["in_app", "push", "email"],
        }
    )
    return Profiled(id=uuid.uuid4(), customer_id=customer_id, interaction=interaction, profile=profile, profiled_at=now)


async def publish(bootstrap: str, *records: Profiled) -> None:
    publisher = KafkaPublisher(KafkaSettings(bootstrap=bootstrap, linger_ms=0))
    try:
        await publisher.publish(
            [OutgoingRecord(PROFILED, r.kafka_key(), r.model_dump_json().encode()) for r in records]
        )
    finally:
        await publisher.stop()


async def deliveries_for(
    bootstrap: str, customer_id: uuid.UUID, *, count: int, timeout_s: float = 30
) -> list[Delivery]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            records = await read_topic(bootstrap, DELIVERIES)
        except TimeoutError:
            records = []
        # The topic is shared: only this customer's records (others' may not even be deliveries).
        key = str(customer_id).encode()
        found = [Delivery.model_validate_json(r.value) for r in records if r.key == key]
        if len(found) >= count or loop.time() > deadline:
            return found
        await asyncio.sleep(0.3)


async def test_a_transactional_message_goes_out_at_once_with_its_decision(
    router_app: FastAPI, router_client: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    spec = route_spec(trigger={"event_types": ["order.shipped"]})
    spec["messages"][0]["category"] = "transactional"
    assert (await router_client.post("/v1/routes", json=spec, headers=operator())).status_code == 201
    customer = uuid.uuid4()
    record = profiled(customer, "order.shipped")
    refs = [f"cid:c-{customer}", f"id:{uuid.uuid4()}"]
    record = record.model_copy(update={"profile": record.profile.model_copy(update={"identities": refs})})  # type: ignore[union-attr]
    await publish(kafka_bootstrap, record, record)  # the second is a redelivery: decided once

    [delivery] = await deliveries_for(kafka_bootstrap, customer, count=1)
    assert delivery.identities == refs  # the delivery service finds the customer by them
    assert delivery.urgent
    assert delivery.bundle_id is None
    assert delivery.channels[0].value == "push"
    [item] = delivery.items
    assert (item.route, item.route_version, item.message_id) == (spec["name"], 1, "cart-left")
    assert item.content[Channel.PUSH].title in ("Your cart", "One tap")
    decisions = (
        await router_client.get("/v1/decisions", params={"customer": str(customer)}, headers=operator(Role.VIEWER))
    ).json()
    assert len(decisions) == 1
    assert decisions[0]["outcome"] == "sent"
    assert decisions[0]["explanation"]["chosen"]["message"] == "cart-left"
    await asyncio.sleep(1)
    assert len(await deliveries_for(kafka_bootstrap, customer, count=2, timeout_s=1)) == 1


async def test_a_transactional_message_notifies_and_leaves_a_copy_in_the_inbox(
    router_app: FastAPI, router_client: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    # The customer is in the app right now (in-app active at every hour): a transactional message
    # still goes on push, its inbox copy beside it, never to the inbox alone.
    spec = route_spec(trigger={"event_types": ["order.ready"]})
    message = spec["messages"][0]
    message["category"] = "transactional"
    message["channels"] = ["in_app", "push", "email"]
    for variant in message["variants"].values():
        variant["in_app"] = {"en": {"title": "Ready", "body": "Your order is ready."}}
    assert (await router_client.post("/v1/routes", json=spec, headers=operator())).status_code == 201
    customer = uuid.uuid4()
    record = profiled(customer, "order.ready")
    active = record.profile.model_copy(update={"active_hours": [5.0] * 24})  # type: ignore[union-attr]
    await publish(kafka_bootstrap, record.model_copy(update={"profile": active}))

    [delivery] = await deliveries_for(kafka_bootstrap, customer, count=1)
    assert (delivery.channels, delivery.inbox_copy) == ([Channel.PUSH, Channel.EMAIL], True)
    [decision] = (
        await router_client.get("/v1/decisions", params={"customer": str(customer)}, headers=operator(Role.VIEWER))
    ).json()
    assert decision["explanation"]["channel"]["reason"] == "transactional"
    assert decision["explanation"]["channel"]["inbox_copy"] is True


async def test_a_webhook_message_notifies_its_system_at_once_without_the_customers_consent(
    router_app: FastAPI, router_client: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    spec = route_spec(trigger={"event_types": ["lead.qualified"]})
    spec["policy"] = {"bundle_window": "PT10M"}
    spec["messages"] = [
        {
            "id": "tell-sales",
            "channels": ["webhook"],
            "variants": {"neutral": {"webhook": {"en": {"subject": "New lead", "body": "A lead qualified."}}}},
        }
    ]
    assert (await router_client.post("/v1/routes", json=spec, headers=operator())).status_code == 201
    customer = uuid.uuid4()
    record = profiled(customer, "lead.qualified")
    nobody = record.profile.model_copy(update={"channel_consent": {}, "reachable": []})  # type: ignore[union-attr]
    await publish(kafka_bootstrap, record.model_copy(update={"profile": nobody}))

    [delivery] = await deliveries_for(kafka_bootstrap, customer, count=1)
    assert (delivery.channels, delivery.urgent, delivery.bundle_id) == ([Channel.WEBHOOK], True, None)


async def test_marketing_items_wait_in_a_bundle_and_a_newer_one_supersedes_an_older(
    router_app: FastAPI, router_client: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    spec = route_spec(trigger={"event_types": ["cart.changed"]})
    spec["policy"] = {"bundle_window": "PT2S", "bundle_max_items": 5}
    assert (await router_client.post("/v1/routes", json=spec, headers=operator())).status_code == 201
    customer = uuid.uuid4()
    older, newer = profiled(customer, "cart.changed", value=30), profiled(customer, "cart.changed", value=40)
    await publish(kafka_bootstrap, older)
    await publish(kafka_bootstrap, newer)

    [delivery] = await deliveries_for(kafka_bootstrap, customer, count=1)
    assert not delivery.urgent
    assert delivery.bundle_id is not None
    [item] = delivery.items  # same collapse key: only the newer one
    assert item.event_id == newer.interaction.event_id  # type: ignore[union-attr]
    decisions = (
        await router_client.get("/v1/decisions", params={"customer": str(customer)}, headers=operator(Role.VIEWER))
    ).json()
    assert sorted(d["outcome"] for d in decisions) == ["bundled", "bundled"]
    assert json.dumps(decisions).count(str(delivery.bundle_id)) == 2


async def test_a_merge_moves_the_merged_customers_pending_items_into_the_survivors_bundle(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    for event_type in ("merge.tick", "merge.tock"):  # two messages: one message's items would collapse
        spec = route_spec(trigger={"event_types": [event_type]})
        spec["messages"][0]["collapse_key"] = None
        spec["policy"] = {"bundle_window": "PT1H", "bundle_max_items": 5}
        assert (await router_client.post("/v1/routes", json=spec, headers=operator())).status_code == 201
    service = router_app.state.service.decisions
    service.catalog.invalidate()
    survivor, merged = uuid.uuid4(), uuid.uuid4()
    await service.apply(profiled(survivor, "merge.tick"))
    await service.apply(profiled(merged, "merge.tock"))
    merge = profiled(survivor, "app.opened").model_copy(update={"merged_from": [merged]})
    await service.apply(merge)

    async with router_app.state.service.sessions() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT b.customer_id, b.status, count(i.id) FROM router.bundles b"
                    " LEFT JOIN router.items i ON i.bundle_id = b.id AND i.state = 'pending'"
                    " WHERE b.customer_id IN (:a, :b) GROUP BY b.customer_id, b.status"
                ),
                {"a": survivor, "b": merged},
            )
        ).all()
    assert {(c, status): n for c, status, n in rows} == {(survivor, "open"): 2, (merged, "merged"): 0}
    made = await router_app.state.service.flusher.flush_due(datetime.now(UTC) + timedelta(hours=2))
    assert made >= 1
    async with router_app.state.service.sessions() as session:
        sent = await session.scalar(
            text("SELECT count(*) FROM router.items WHERE customer_id = :a AND state = 'sent'"), {"a": survivor}
        )
    assert sent == 2


async def _engaged(app: FastAPI, item_ids: list[uuid.UUID]) -> dict[uuid.UUID, bool]:
    async with app.state.service.sessions() as session:
        rows = await session.execute(
            text("SELECT id, engaged_at IS NOT NULL FROM router.items WHERE id = ANY(:ids)"), {"ids": item_ids}
        )
        return {row[0]: row[1] for row in rows}


async def test_a_click_credits_the_item_it_names_and_a_read_counts_as_engagement(
    router_app: FastAPI, router_client: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    tag = f"t{uuid.uuid4().hex[:8]}"  # an event type's segment starts with a letter
    for name, priority in (("first", 60), ("second", 40)):  # two routes, one message each
        message = route_spec()["messages"][0] | {"id": f"{name}-{tag}", "collapse_key": None, "priority": priority}
        spec = route_spec(trigger={"event_types": [f"news.{name}.{tag}"]}, messages=[message])
        spec["policy"] = {"bundle_window": "PT1S", "bundle_max_items": 5}
        assert (await router_client.post("/v1/routes", json=spec, headers=operator())).status_code == 201
    router_app.state.service.decisions.catalog.invalidate()
    customers = [uuid.uuid4() for _ in range(3)]
    for customer in customers:  # each gets both messages in one bundle
        await publish(
            kafka_bootstrap, profiled(customer, f"news.first.{tag}"), profiled(customer, f"news.second.{tag}")
        )
    bundles = [await deliveries_for(kafka_bootstrap, c, count=1) for c in customers]
    clicked, plain, read = (d for [d] in bundles)
    assert all(len(d.items) == 2 for d in (clicked, plain, read))

    second = next(i for i in clicked.items if i.message_id.startswith("second"))
    await publish(
        kafka_bootstrap,
        profiled(clicked.customer_id, "message.delivered", delivery_id=str(clicked.id)),
        profiled(clicked.customer_id, "message.clicked", delivery_id=str(clicked.id), item_ids=[str(second.id)]),
        profiled(plain.customer_id, "message.clicked", delivery_id=str(plain.id)),  # names no item
        profiled(read.customer_id, "message.read", delivery_id=str(read.id), item_ids=[str(i.id) for i in read.items]),
    )

    async def credited() -> bool:
        # Each customer's receipts may sit on another partition: wait for all three.
        bundles = (clicked, plain, read)
        return all([any((await _engaged(router_app, [i.id for i in d.items])).values()) for d in bundles])

    deadline = asyncio.get_running_loop().time() + 30
    while not await credited():
        assert asyncio.get_running_loop().time() < deadline, "the receipts were not learned"
        await asyncio.sleep(0.2)
    # One click on a digest is a click on the item it names, not on every item in it.
    assert await _engaged(router_app, [i.id for i in clicked.items]) == {i.id: i.id == second.id for i in clicked.items}
    # Naming no item: the first the customer saw (the higher priority).
    assert await _engaged(router_app, [i.id for i in plain.items]) == {
        i.id: i.message_id.startswith("first") for i in plain.items
    }
    # A read in the inbox is engagement for the items read.
    assert await _engaged(router_app, [i.id for i in read.items]) == {i.id: True for i in read.items}
