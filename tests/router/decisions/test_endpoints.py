"""Decisions over REST and the simulation of one (real PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
from fastapi import FastAPI

from metaconnect_common.auth import Role
from tests.router.conftest import operator, route_spec
from tests.router.test_pipeline import profiled


async def test_simulate_decides_with_a_draft_route_and_stores_nothing(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    draft = route_spec(status="draft", trigger={"event_types": ["sim.tick"]})
    record = profiled(uuid.uuid4(), "sim.tick")
    body = {
        "event": record.interaction.model_dump(mode="json"),  # type: ignore[union-attr]
        "profile": record.profile.model_dump(mode="json"),  # type: ignore[union-attr]
        "customer_id": str(record.customer_id),
        "route": draft,
    }
    simulated = await router_client.post("/v1/simulate", json=body, headers=operator(Role.VIEWER))
    assert simulated.status_code == 200, simulated.text
    out = simulated.json()
    assert (out["outcome"], out["route"], out["message_id"]) == ("chosen", draft["name"], "cart-left")
    assert out["channels"][0] == "push"
    assert out["explanation"]["chosen"]["route"] == draft["name"]
    stored = await router_client.get(
        "/v1/decisions", params={"customer_id": str(record.customer_id)}, headers=operator(Role.VIEWER)
    )
    assert stored.json() == []
    without = await router_client.post("/v1/simulate", json={**body, "route": None}, headers=operator(Role.VIEWER))
    assert without.json()["outcome"] == "no_match"


async def test_simulate_refuses_a_broken_draft(router_client: httpx.AsyncClient) -> None:
    record = profiled(uuid.uuid4(), "sim.tick")
    draft = route_spec(trigger={"event_types": ["sim.tick"], "condition": "profile.personality.colour == 'red'"})
    body = {
        "event": record.interaction.model_dump(mode="json"),  # type: ignore[union-attr]
        "profile": record.profile.model_dump(mode="json"),  # type: ignore[union-attr]
        "route": draft,
    }
    response = await router_client.post("/v1/simulate", json=body, headers=operator(Role.VIEWER))
    assert response.status_code == 422
    assert response.json()["errors"][0]["rule"] == "personality_not_allowed"


async def test_a_stored_decision_reads_back_with_its_explanation(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    spec = route_spec(trigger={"event_types": ["read.back"]})
    await router_client.post("/v1/routes", json=spec, headers=operator())
    router_app.state.service.decisions.catalog.invalidate()
    customer = uuid.uuid4()
    decision_id = await router_app.state.service.decisions.apply(profiled(customer, "read.back"), now=datetime.now(UTC))
    one = await router_client.get(f"/v1/decisions/{decision_id}", headers=operator(Role.VIEWER))
    assert one.status_code == 200
    assert one.json()["outcome"] == "bundled"
    assert one.json()["explanation"]["candidates"][0]["verdict"] == "send"
    assert (await router_client.get(f"/v1/decisions/{uuid.uuid4()}", headers=operator(Role.VIEWER))).status_code == 404
    assert (await router_client.get(f"/v1/decisions/{decision_id}")).status_code == 401
