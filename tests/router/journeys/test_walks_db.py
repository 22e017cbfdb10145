"""Journeys walked against the real PostgreSQL: events move walks, timers fire, sends bundle."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from metaconnect_common.schemas import Channel, Interaction
from metaconnect_common.schemas.delivery import Delivery
from metaconnect_common.schemas.profiled import Profiled
from metaconnect_common.topics import DELIVERIES, INTERACTIONS
from tests.router.conftest import operator, route_spec
from tests.router.journeys.factory import entry_type, journey_spec, profiled, send, snapshot


async def _put(client: httpx.AsyncClient, app: FastAPI, spec: dict[str, Any]) -> None:
    response = await client.put(f"/v1/journeys/{spec['name']}", json=spec, headers=operator())
    assert response.status_code in (200, 201), response.text
    app.state.service.decisions.journeys.invalidate()


async def _rows(app: FastAPI, query: str, **params: Any) -> list[Any]:
    async with app.state.service.sessions() as session:
        return list((await session.execute(text(query), params)).all())


async def test_a_wait_fires_from_its_timer_and_the_next_send_bundles(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    name = f"nurture-{uuid.uuid4().hex[:6]}"
    spec = journey_spec(name, send("welcome"), {"id": "pause", "type": "wait", "duration": "PT1H"}, send("reminder"))
    await _put(router_client, router_app, spec)
    customer = uuid.uuid4()
    decisions = router_app.state.service.decisions
    start = datetime.now(UTC)
    await decisions.apply_all([(profiled(customer, entry_type(name)), None)], now=start)

    [(status, step, due)] = await _rows(
        router_app,
        "SELECT status, step_id, due_at FROM router.journey_instances WHERE customer_id = :c",
        c=customer,
    )
    assert (status, step) == ("active", "pause")
    assert due == start + timedelta(hours=1)

    timers = router_app.state.service.timers
    # Other tests' walks share the database: each test reads its own customers' walks.
    await timers.fire_due(start + timedelta(minutes=59))
    assert [h[2] for h in await _history(router_app, customer)][-1] == "waiting"
    assert await timers.fire_due(start + timedelta(hours=1, seconds=1)) >= 1
    [(status, reason)] = await _rows(
        router_app, "SELECT status, end_reason FROM router.journey_instances WHERE customer_id = :c", c=customer
    )
    assert (status, reason) == ("completed", "completed")
    assert await _history(router_app, customer) == [
        ("entry", "entry", "treated"),
        ("welcome", "send", "bundled"),
        ("pause", "wait", "waiting"),
        ("pause", "wait", "waited"),
        ("reminder", "send", "bundled"),
        ("reminder", "end", "completed"),
    ]
    decided = await _rows(
        router_app,
        "SELECT journey, journey_step, route, outcome FROM router.decisions WHERE customer_id = :c ORDER BY created_at",
        c=customer,
    )
    assert decided == [(name, "welcome", None, "bundled"), (name, "reminder", None, "bundled")]
    # A second round moves it no further: no step runs twice.
    await timers.fire_due(start + timedelta(hours=2))
    assert len(await _history(router_app, customer)) == 6


async def _history(app: FastAPI, customer: uuid.UUID) -> list[tuple[str, str, str]]:
    rows = await _rows(
        app,
        "SELECT s.step_id, s.kind, s.outcome FROM router.journey_steps s "
        "JOIN router.journey_instances i ON i.id = s.instance_id WHERE i.customer_id = :c ORDER BY s.id",
        c=customer,
    )
    return [tuple(r) for r in rows]


async def _outbox(app: FastAPI, customer: uuid.UUID) -> list[tuple[str, bytes]]:
    """Records for the customer in the router's outbox: deliveries keyed by the id, interactions by `mc:<id>`."""
    rows = await _rows(
        app,
        "SELECT topic, value FROM router.outbox WHERE key = ANY(:k) ORDER BY id",
        k=[str(customer).encode(), f"mc:{customer}".encode()],
    )
    return [(topic.removeprefix(app.state.service.stage.common.kafka.topic_prefix), value) for topic, value in rows]


WAIT_FOR_VISIT = {
    "id": "visit",
    "type": "wait",
    "event": {"event_types": ["visit.booked"], "timeout": "P7D", "on_timeout": "remind"},
    "next": "thanks",
}


async def test_the_awaited_event_moves_a_walk_on_and_a_timeout_takes_its_branch(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    name = f"visit-{uuid.uuid4().hex[:6]}"
    await _put(
        router_client, router_app, journey_spec(name, WAIT_FOR_VISIT, send("remind", next="end"), send("thanks"))
    )
    decisions, timers = router_app.state.service.decisions, router_app.state.service.timers
    came, silent = uuid.uuid4(), uuid.uuid4()
    start = datetime.now(UTC)
    await decisions.apply_all(
        [(profiled(came, entry_type(name)), None), (profiled(silent, entry_type(name)), None)], now=start
    )
    await decisions.apply_all([(profiled(came, "visit.booked"), None)], now=start + timedelta(days=1))
    await timers.fire_due(start + timedelta(days=7, seconds=1))
    assert await _history(router_app, came) == [
        ("entry", "entry", "treated"),
        ("visit", "wait", "waiting"),
        ("visit", "wait", "event"),
        ("thanks", "send", "bundled"),
        ("thanks", "end", "completed"),
    ]
    assert await _history(router_app, silent) == [
        ("entry", "entry", "treated"),
        ("visit", "wait", "waiting"),
        ("visit", "wait", "timeout"),
        ("remind", "send", "bundled"),
        ("remind", "end", "completed"),
    ]


async def test_a_journeys_sends_bundle_with_a_routes_item_into_one_delivery(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    tag = uuid.uuid4().hex[:6]
    route = route_spec(trigger={"event_types": [f"lead.created{tag}"]}, policy={"bundle_window": "PT10M"})
    route["messages"][0]["collapse_key"] = None
    assert (await router_client.post("/v1/routes", json=route, headers=operator())).status_code == 201
    router_app.state.service.decisions.catalog.invalidate()
    name = f"bundled-{tag}"
    spec = journey_spec(name, send("one"), send("two"), entry={"event_types": [f"lead.created{tag}"]})
    await _put(router_client, router_app, spec)
    customer = uuid.uuid4()
    await router_app.state.service.decisions.apply_all(
        [(profiled(customer, f"lead.created{tag}"), None)], now=datetime.now(UTC)
    )
    items = await _rows(
        router_app,
        "SELECT route, message_id, bundle_id, state FROM router.items WHERE customer_id = :c ORDER BY created_at",
        c=customer,
    )
    # The route's item and the journey's messages share the customer's one open bundle: one delivery.
    assert [(r, m, s) for r, m, _, s in items] == [
        (route["name"], "cart-left", "pending"),
        (name, "one", "pending"),
        (name, "two", "pending"),
    ]
    assert len({b for _, _, b, _ in items}) == 1
    assert (await _history(router_app, customer))[1:3] == [("one", "send", "bundled"), ("two", "send", "bundled")]


async def test_a_goal_converts_and_erasure_or_objection_leaves_at_once(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    name = f"goal-{uuid.uuid4().hex[:6]}"
    spec = journey_spec(
        name,
        send("hello"),
        {"id": "pause", "type": "wait", "duration": "P30D"},
        goals=[{"name": "signed", "event_types": ["contract.signed"]}],
    )
    await _put(router_client, router_app, spec)
    decisions = router_app.state.service.decisions
    signed, erased, objected = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    await decisions.apply_all([(profiled(c, entry_type(name)), None) for c in (signed, erased, objected)], now=now)
    await decisions.apply_all(
        [
            (profiled(signed, "contract.signed"), None),
            (Profiled(id=uuid.uuid4(), kind="erased", customer_id=erased, profiled_at=now), None),
            (profiled(objected, "consent.changed", objection=True), None),
        ],
        now=now + timedelta(minutes=1),
    )
    rows = await _rows(
        router_app,
        "SELECT customer_id, status, end_reason, due_at, context FROM router.journey_instances "
        "WHERE customer_id = ANY(:c)",
        c=[signed, erased, objected],
    )
    ended = {row[0]: tuple(row[1:]) for row in rows}
    assert ended == {
        signed: ("converted", "signed", None, {}),
        erased: ("exited", "erased", None, {}),
        objected: ("exited", "objected", None, {}),
    }
    assert (await _history(router_app, signed))[-1] == ("signed", "goal", "converted")


async def test_update_and_notify_steps_publish_through_the_outbox(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    name = f"hot-{uuid.uuid4().hex[:6]}"
    steps = (
        {"id": "mark", "type": "update", "traits": {"hot_lead": True}, "stage": "qualified"},
        {"id": "tell-sales", "type": "notify", "title": "Hot lead", "body": "Call within 24 h"},
    )
    await _put(router_client, router_app, journey_spec(name, *steps))
    customer = uuid.uuid4()
    await router_app.state.service.decisions.apply_all(
        [(profiled(customer, entry_type(name)), None)], now=datetime.now(UTC)
    )
    records = await _outbox(router_app, customer)
    published = [Interaction.model_validate_json(v) for t, v in records if t == INTERACTIONS]
    assert [(i.type, i.properties, i.source, i.customer.metaconnect_id) for i in published] == [
        ("profile.updated", {"traits": {"hot_lead": True}}, f"journey:{name}", customer),
        ("lifecycle.moved", {"stage": "qualified"}, f"journey:{name}", customer),
    ]
    [delivery] = [Delivery.model_validate_json(v) for t, v in records if t == DELIVERIES]
    assert delivery.channels == [Channel.WEBHOOK]
    assert [(i.message_id, i.route) for i in delivery.items] == [("tell-sales", name)]
    assert (await _history(router_app, customer))[-2:] == [
        ("tell-sales", "notify", "sent"),
        ("tell-sales", "end", "completed"),
    ]


async def test_one_walk_per_customer_and_journey_and_re_entry_after_the_end(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    waiting = f"once-{uuid.uuid4().hex[:6]}"
    await _put(router_client, router_app, journey_spec(waiting, {"id": "pause", "type": "wait", "duration": "P1D"}))
    never = f"never-{uuid.uuid4().hex[:6]}"
    await _put(router_client, router_app, journey_spec(never, send("hi"), re_entry="never"))
    customer = uuid.uuid4()
    decisions = router_app.state.service.decisions
    now = datetime.now(UTC)
    both = [(profiled(customer, entry_type(waiting)), None), (profiled(customer, entry_type(never)), None)]
    await decisions.apply_all([*both, *both, *both], now=now)
    await decisions.apply_all(both, now=now + timedelta(hours=1))
    counts = dict(
        await _rows(
            router_app,
            "SELECT journey, count(*) FROM router.journey_instances WHERE customer_id = :c GROUP BY journey",
            c=customer,
        )
    )
    assert counts == {waiting: 1, never: 1}


async def test_a_new_version_takes_over_walks_at_steps_it_still_has_and_a_delete_ends_them(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    name = f"versions-{uuid.uuid4().hex[:6]}"
    first = journey_spec(
        name,
        {"id": "a", "type": "wait", "duration": "P1D"},
        {"id": "b", "type": "wait", "event": {"event_types": ["x.y"], "timeout": "P2D", "on_timeout": "end"}},
    )
    await _put(router_client, router_app, first)
    decisions, timers = router_app.state.service.decisions, router_app.state.service.timers
    at_a, at_b = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    await decisions.apply_all([(profiled(c, entry_type(name)), None) for c in (at_a, at_b)], now=now)
    await _rows(router_app, "SELECT 1")  # (the walks are written)
    async with router_app.state.service.sessions() as session:  # at_b moves on to b
        await session.execute(
            text("UPDATE router.journey_instances SET due_at = :t WHERE customer_id = :c"), {"t": now, "c": at_b}
        )
        await session.commit()
    await timers.fire_due(now + timedelta(seconds=1))
    second = journey_spec(name, {"id": "a", "type": "wait", "duration": "P1D"}, send("new"), entry=first["entry"])
    await _put(router_client, router_app, second)
    versions = dict(
        await _rows(
            router_app,
            "SELECT customer_id, version FROM router.journey_instances WHERE customer_id = ANY(:c)",
            c=[at_a, at_b],
        )
    )
    assert versions == {at_a: 2, at_b: 1}  # b is gone in version 2: that walk finishes on version 1
    state = (await router_client.get(f"/v1/journeys/{name}/customers/{at_b}", headers=operator())).json()
    assert (state["version"], state["step_id"], state["waiting"]["kind"]) == (1, "b", "event")

    assert (await router_client.delete(f"/v1/journeys/{name}", headers=operator())).status_code == 204
    ended = await _rows(
        router_app,
        "SELECT status, end_reason FROM router.journey_instances WHERE customer_id = ANY(:c)",
        c=[at_a, at_b],
    )
    assert sorted(ended) == [("exited", "journey_deleted")] * 2


async def test_where_a_customer_is_reads_over_rest(router_app: FastAPI, router_client: httpx.AsyncClient) -> None:
    name = f"state-{uuid.uuid4().hex[:6]}"
    await _put(
        router_client, router_app, journey_spec(name, send("hello"), WAIT_FOR_VISIT, send("remind"), send("thanks"))
    )
    customer = uuid.uuid4()
    record = profiled(customer, entry_type(name))
    await router_app.state.service.decisions.apply_all([(record, None)], now=datetime.now(UTC))
    state = (await router_client.get(f"/v1/journeys/{name}/customers/{customer}", headers=operator())).json()
    assert state["status"] == "active"
    assert state["step_id"] == "visit"
    assert state["waiting"]["kind"] == "event"
    assert state["waiting"]["event_types"] == ["visit.booked"]
    assert state["waiting"]["on_timeout"] == "remind"
    assert [h["step_id"] for h in state["history"]] == ["entry", "hello", "visit"]
    listed = (await router_client.get(f"/v1/customers/{customer}/journeys", headers=operator())).json()
    assert [w["journey"] for w in listed["walks"]] == [name]
    unknown = await router_client.get(f"/v1/journeys/{name}/customers/{uuid.uuid4()}", headers=operator())
    assert unknown.status_code == 404
    refused = await router_client.get(f"/v1/customers/{customer}/journeys")
    assert refused.status_code == 401


async def test_a_send_step_meets_the_routes_eligibility_consent_and_quiet_hours(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    name = f"eligible-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC).replace(microsecond=0)
    local = now.astimezone(ZoneInfo("Europe/Berlin"))
    quiet = {
        "start": (local - timedelta(hours=1)).strftime("%H:%M"),
        "end": (local + timedelta(hours=1)).strftime("%H:%M"),
    }
    spec = journey_spec(name, send("hello"), policy={"bundle_window": "PT10M", "quiet_hours": quiet})
    await _put(router_client, router_app, spec)
    quiet_one, unconsented = uuid.uuid4(), uuid.uuid4()
    await router_app.state.service.decisions.apply_all(
        [
            (profiled(quiet_one, entry_type(name)), None),
            (profiled(unconsented, entry_type(name), profile=snapshot(channel_consent={}, purposes={})), None),
        ],
        now=now,
    )
    [(not_before,)] = await _rows(router_app, "SELECT not_before FROM router.items WHERE customer_id = :c", c=quiet_one)
    assert not_before is not None
    assert not_before > now  # deferred past the quiet hours, in the bundle
    assert ("hello", "send", "dropped") in await _history(router_app, unconsented)
    [(reasons,)] = await _rows(
        router_app,
        "SELECT explanation -> 'candidates' -> 0 -> 'reasons' FROM router.decisions WHERE customer_id = :c",
        c=unconsented,
    )
    assert reasons == ["no_consent"]


async def test_two_walks_messages_both_wait_in_the_bundle_where_a_routes_would_collapse(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    name = f"milestones-{uuid.uuid4().hex[:6]}"
    await _put(router_client, router_app, journey_spec(name, send("milestone")))
    customer = uuid.uuid4()
    await router_app.state.service.decisions.apply_all(
        [(profiled(customer, entry_type(name), milestone=m), None) for m in ("foundation", "walls")],
        now=datetime.now(UTC),
    )
    items = await _rows(
        router_app, "SELECT state, bundle_id, collapse_key FROM router.items WHERE customer_id = :c", c=customer
    )
    assert [state for state, _, _ in items] == ["pending", "pending"]
    assert len({bundle for _, bundle, _ in items}) == 1
    assert all(key.startswith("walk:") and key.endswith("/milestone") for _, _, key in items)


async def test_a_wait_until_a_local_time_falls_due_then_on_the_customers_clock(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    name = f"morning-{uuid.uuid4().hex[:6]}"
    wait = {"id": "morning", "type": "wait", "until": {"at": "09:30", "weekdays": ["mon", "tue", "wed", "thu", "fri"]}}
    await _put(router_client, router_app, journey_spec(name, wait, send("good-morning")))
    customer = uuid.uuid4()
    now = datetime.now(UTC)
    tokyo = snapshot(time_zone="Asia/Tokyo")
    await router_app.state.service.decisions.apply_all(
        [(profiled(customer, entry_type(name), profile=tokyo), None)], now=now
    )
    [(due,)] = await _rows(router_app, "SELECT due_at FROM router.journey_instances WHERE customer_id = :c", c=customer)
    local = due.astimezone(ZoneInfo("Asia/Tokyo"))
    assert (local.hour, local.minute, local.weekday() < 5) == (9, 30, True)
    assert now < due <= now + timedelta(days=4)
    await router_app.state.service.timers.fire_due(due + timedelta(seconds=1))
    assert (await _history(router_app, customer))[-3:] == [
        ("morning", "wait", "waited"),
        ("good-morning", "send", "bundled"),
        ("good-morning", "end", "completed"),
    ]
