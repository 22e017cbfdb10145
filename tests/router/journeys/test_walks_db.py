"""Journeys walked against the real PostgreSQL: events move walks, timers fire, sends bundle."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from tests.router.conftest import operator
from tests.router.journeys.factory import journey_spec, profiled, send


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
    await decisions.apply_all([(profiled(customer, "lead.created"), None)], now=start)

    [(status, step, due)] = await _rows(
        router_app,
        "SELECT status, step_id, due_at FROM router.journey_instances WHERE customer_id = :c",
        c=customer,
    )
    assert (status, step) == ("active", "pause")
    assert due == start + timedelta(hours=1)

    timers = router_app.state.service.timers
    assert await timers.fire_due(start + timedelta(minutes=59)) == 0
    assert await timers.fire_due(start + timedelta(hours=1, seconds=1)) == 1
    [(status, reason)] = await _rows(
        router_app, "SELECT status, end_reason FROM router.journey_instances WHERE customer_id = :c", c=customer
    )
    assert (status, reason) == ("completed", "completed")
    history = await _rows(
        router_app,
        "SELECT s.step_id, s.kind, s.outcome FROM router.journey_steps s "
        "JOIN router.journey_instances i ON i.id = s.instance_id WHERE i.customer_id = :c ORDER BY s.id",
        c=customer,
    )
    assert history == [
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
    # A second round finds nothing: no step runs twice.
    assert await timers.fire_due(start + timedelta(hours=2)) == 0
