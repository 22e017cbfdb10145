"""Deciding a partition's records in one transaction gives what deciding them one by one gives.

One scenario touches every effect: bundling, a full bundle flushing mid-batch and the next item
opening a new bundle, a collapse key superseding, an urgent send, a read removing a pending
item, an erasure, a merge, receipts teaching an arm. It runs once record by record and once as
one batch, each world on its own customers, and the stored state must agree.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np
from fastapi import FastAPI
from sqlalchemy import text

from metaconnect_common.schemas.delivery import Delivery
from metaconnect_common.schemas.profiled import Profiled
from metaconnect_router.decisions.service import credited
from tests.router.bundles.rows_factory import item_row
from tests.router.conftest import operator, route_spec
from tests.router.test_pipeline import profiled

# Now, not a fixed day: the app's own flusher runs meanwhile and must find nothing due.
NOW = datetime.now(UTC).replace(microsecond=0)
LABELS = ("full", "collapse", "read", "erased", "survivor", "merged", "receipts")


def _message(message_id: str, category: str, collapse_key: str | None) -> dict[str, Any]:
    return {
        "id": message_id,
        "priority": 50,
        "category": category,
        "collapse_key": collapse_key,
        "channels": ["push", "email"],
        "variants": {
            "neutral": {
                "push": {"en": {"title": "Hello", "body": "News for you."}},
                "email": {"en": {"subject": "Hello", "body": "News for you."}},
            }
        },
    }


async def _routes(client: httpx.AsyncClient, app: FastAPI, tag: str) -> None:
    """Only a neutral variant each: the choice does not depend on what the other world learned."""
    policy = {"bundle_window": "PT10M", "bundle_max_items": 3}
    for event, message in (
        # Four plain messages: items of one message collapse into one (route/message is their key).
        *((plain, _message(plain, "marketing", None)) for plain in ("plain", "plain2", "plain3", "plain4")),
        ("keyed", _message("keyed", "marketing", "k")),
        ("urgent", _message("urgent", "transactional", None)),
    ):
        spec = route_spec(trigger={"event_types": [f"{tag}.{event}"]}, messages=[message], policy=policy)
        assert (await client.post("/v1/routes", json=spec, headers=operator())).status_code == 201
    app.state.service.decisions.catalog.invalidate()


def _scenario(tag: str, who: dict[str, uuid.UUID], delivery: Delivery) -> list[Profiled]:
    def on(label: str, kind: str, **properties: Any) -> Profiled:
        return profiled(who[label], kind if "." in kind else f"{tag}.{kind}", **properties)

    merge = on("survivor", "app.opened").model_copy(update={"merged_from": [who["merged"]]})
    erase = Profiled(id=uuid.uuid4(), kind="erased", customer_id=who["erased"], profiled_at=NOW)
    receipt = {"delivery_id": str(delivery.id)}
    return [
        *(on("full", plain) for plain in ("plain", "plain2", "plain3", "plain4")),  # three flush, the fourth waits
        on("collapse", "keyed"),
        on("collapse", "keyed"),  # supersedes the first
        on("collapse", "urgent"),
        on("read", "keyed"),
        on("read", "message.read", collapse_key="k"),
        on("erased", "plain"),
        erase,
        on("survivor", "plain"),
        on("merged", "plain2"),
        merge,
        on("receipts", "message.delivered", **receipt),
        on("receipts", "message.opened", **receipt),
    ]


async def _state(app: FastAPI, who: dict[str, uuid.UUID]) -> dict[str, Any]:
    label = {c: name for name, c in who.items()}
    out: dict[str, Any] = {}
    async with app.state.service.sessions() as session:
        for name, query in {
            "items": "SELECT customer_id, message_id, state, delivery_id IS NOT NULL,"
            " delivered_at IS NOT NULL, engaged_at IS NOT NULL FROM router.items",
            "bundles": "SELECT customer_id, status, delivery_id IS NOT NULL FROM router.bundles",
            "sends": "SELECT customer_id, channel FROM router.sends",
            "decisions": "SELECT customer_id, outcome, message_id, bundle_id IS NOT NULL FROM router.decisions",
            "profiles": "SELECT customer_id, true FROM router.customer_profiles",
            "erased": "SELECT customer_id, true FROM router.erased",
            "payloads": "SELECT customer_id, payload = '{\"erased\": true}' FROM router.items",
        }.items():
            statement = text(f"{query} WHERE customer_id = ANY(:c)")
            rows = (await session.execute(statement, {"c": list(who.values())})).all()
            out[name] = Counter((label[row[0]], *row[1:]) for row in rows)
        values = await session.scalars(
            text("SELECT value FROM router.outbox WHERE key = ANY(:k)"), {"k": [str(c).encode() for c in who.values()]}
        )
        deliveries = [Delivery.model_validate_json(v) for v in values]
    out["deliveries"] = Counter(
        (label[d.customer_id], d.urgent, tuple(sorted(i.message_id for i in d.items)), d.overflow, d.channels[0])
        for d in deliveries
    )
    return out


async def _arm(app: FastAPI) -> tuple[float, float]:
    async with app.state.service.sessions() as session:
        row = (
            await session.execute(
                text(
                    "SELECT successes, failures FROM router.arm_stats"
                    " WHERE pattern = 'unknown' AND tone = 'neutral' AND channel = 'push'"
                )
            )
        ).first()
    return (row[0], row[1]) if row else (0.0, 0.0)


async def _world(app: FastAPI, tag: str, *, batched: bool) -> tuple[dict[str, Any], tuple[float, float]]:
    service = app.state.service.decisions
    service._rng = np.random.default_rng(7)
    who = {name: uuid.uuid4() for name in LABELS}
    await service.apply(profiled(who["receipts"], f"{tag}.urgent"), now=NOW)  # the delivery receipts refer to
    [delivery] = await _state_deliveries(app, who["receipts"])
    records = _scenario(tag, who, delivery)
    before = await _arm(app)
    if batched:
        await service.apply_all([(r, None) for r in records], now=NOW)
    else:
        for record in records:
            await service.apply(record, now=NOW)
    after = await _arm(app)
    return await _state(app, who), (after[0] - before[0], after[1] - before[1])


async def _state_deliveries(app: FastAPI, customer: uuid.UUID) -> list[Delivery]:
    async with app.state.service.sessions() as session:
        values = await session.scalars(
            text("SELECT value FROM router.outbox WHERE key = :k"), {"k": str(customer).encode()}
        )
        return [Delivery.model_validate_json(v) for v in values]


async def test_one_batch_stores_what_one_record_at_a_time_stores(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    tag = f"eq{uuid.uuid4().hex[:6]}"
    await _routes(router_client, router_app, tag)
    one_by_one, learned_one_by_one = await _world(router_app, tag, batched=False)
    batched, learned_batched = await _world(router_app, tag, batched=True)

    for key in batched:
        assert batched[key] == one_by_one[key], key
    assert learned_batched == learned_one_by_one == (1.0, 0.0)  # delivered, then engaged: one success
    # What the scenario means, spelled out once:
    assert batched["deliveries"][("full", False, ("plain", "plain2", "plain3"), 0, "push")] == 1
    assert batched["bundles"][("full", "open", False)] == 1  # the fourth item's new bundle
    assert batched["items"][("collapse", "keyed", "superseded", False, False, False)] == 1
    assert batched["deliveries"][("collapse", True, ("urgent",), 0, "push")] == 1
    assert batched["items"][("read", "keyed", "acted", False, False, False)] == 1
    assert batched["items"][("erased", "plain", "erased", False, False, False)] == 1
    assert batched["erased"] == Counter({("erased", True): 1})
    # The erased customer's texts and template data are gone, nobody else's.
    assert {k: n for k, n in batched["payloads"].items() if k[1]} == {("erased", True): 1}
    assert batched["items"][("survivor", "plain", "pending", False, False, False)] == 1
    assert batched["items"][("survivor", "plain2", "pending", False, False, False)] == 1  # the merged one moved
    assert batched["bundles"][("merged", "merged", False)] == 1
    assert batched["items"][("receipts", "urgent", "sent", True, True, True)] == 1


async def test_a_batch_applied_again_changes_nothing(router_app: FastAPI, router_client: httpx.AsyncClient) -> None:
    tag = f"again{uuid.uuid4().hex[:6]}"
    await _routes(router_client, router_app, tag)
    who = {name: uuid.uuid4() for name in LABELS}
    await router_app.state.service.decisions.apply(profiled(who["receipts"], f"{tag}.urgent"), now=NOW)
    [delivery] = await _state_deliveries(router_app, who["receipts"])
    records = [(r, None) for r in _scenario(tag, who, delivery)]
    first = await router_app.state.service.decisions.apply_all(records, now=NOW)
    state = await _state(router_app, who)

    again = await router_app.state.service.decisions.apply_all(records, now=NOW)
    assert any(first)
    assert again == [None] * len(records)
    assert await _state(router_app, who) == state


async def test_a_record_twice_in_one_batch_is_decided_once(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    tag = f"twice{uuid.uuid4().hex[:6]}"
    await _routes(router_client, router_app, tag)
    record = profiled(uuid.uuid4(), f"{tag}.plain")
    decided = await router_app.state.service.decisions.apply_all([(record, None), (record, None)], now=NOW)
    assert decided[0] is not None
    assert decided[1] is None


def test_an_engagement_credits_the_items_it_names_else_the_first_seen() -> None:
    now = datetime.now(UTC)
    customer = uuid.uuid4()
    first, second = (item_row(customer, now, priority=p) for p in (60, 40))
    assert credited([first, second], [str(second.id)]) == [second]
    assert credited([second, first], None) == [first]  # the bundle's first in reading order
    assert credited([second, first], []) == [first]
    assert credited([first], ["not-an-id"]) == []
