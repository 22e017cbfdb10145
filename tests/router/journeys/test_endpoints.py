"""The journeys API as marketing ops and support use it: versions, refusals, simulation."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from metaconnect_common.auth import Role
from tests.router.conftest import operator
from tests.router.journeys.factory import journey_spec, send, snapshot

VISIT = {
    "id": "visit",
    "type": "wait",
    "event": {"event_types": ["visit.booked"], "timeout": "P7D", "on_timeout": "remind"},
    "next": "thanks",
}


async def test_journeys_are_versioned_like_routes(router_client: httpx.AsyncClient) -> None:
    name = f"versioned-{uuid.uuid4().hex[:6]}"
    spec = journey_spec(name, send("hello"))
    created = await router_client.post("/v1/journeys", json=spec, headers=operator())
    assert created.status_code == 201
    assert created.headers["ETag"] == '"1"'
    assert created.headers["Location"] == f"/v1/journeys/{name}"
    again = await router_client.put(f"/v1/journeys/{name}", json=spec, headers=operator())
    assert (again.status_code, again.json()["version"]) == (200, 1)  # nothing changed: no version
    changed = {**spec, "description": "Say hello."}
    plan = (await router_client.post("/v1/journeys/plan", json=changed, headers=operator(Role.VIEWER))).json()
    assert (plan["action"], plan["current_version"]) == ("update", 1)
    stale = await router_client.put(f"/v1/journeys/{name}", json=changed, headers={**operator(), "If-Match": '"7"'})
    assert stale.status_code == 412
    put = await router_client.put(f"/v1/journeys/{name}", json=changed, headers={**operator(), "If-Match": '"1"'})
    assert (put.status_code, put.json()["version"]) == (200, 2)
    versions = (await router_client.get(f"/v1/journeys/{name}/versions", headers=operator())).json()
    assert [(v["version"], v["change"]) for v in versions] == [(2, "updated"), (1, "created")]
    listed = (await router_client.get("/v1/journeys", params={"status": "active"}, headers=operator())).json()
    assert name in [j["name"] for j in listed]
    exists = await router_client.post("/v1/journeys", json=spec, headers=operator())
    assert (exists.status_code, exists.json()["error"]) == (409, "journey_exists")
    viewer = await router_client.put(f"/v1/journeys/{name}", json=spec, headers=operator(Role.VIEWER))
    assert viewer.status_code == 403


async def test_a_faulty_journey_is_refused_with_every_field_named(router_client: httpx.AsyncClient) -> None:
    spec = journey_spec(
        "faulty-one",
        send("a", next="nowhere"),
        {"id": "b", "type": "wait", "duration": "PT0S"},
        {"id": "c", "type": "branch", "cases": [{"condition": 'profile.personality.colour == "red"', "next": "a"}]},
    )
    refused = await router_client.post("/v1/journeys", json=spec, headers=operator())
    assert refused.status_code == 422
    errors = {(e["field"], e["rule"]) for e in refused.json()["errors"]}
    assert ("steps.0.next", "unknown_step") in errors
    assert ("steps.1.duration", "wait_duration") in errors
    assert ("steps.2.cases.0.condition", "personality_not_allowed") in errors
    assert (await router_client.get("/v1/journeys/faulty-one", headers=operator())).status_code == 404


async def test_simulate_walks_a_draft_with_waits_compressed_and_stores_nothing(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    customer = uuid.uuid4()
    spec: dict[str, Any] = journey_spec(
        "simulated", send("hello"), VISIT, send("remind", next="end"), send("thanks"), entry={"stage": "lead"}
    )
    body: dict[str, Any] = {
        "journey": spec,
        "profile": snapshot().model_dump(mode="json"),
        "customer_id": str(customer),
        "entry": {"type": "lead.created", "stage": "qualified"},
    }
    timed_out = await router_client.post("/v1/journeys/simulate", json=body, headers=operator(Role.VIEWER))
    assert timed_out.status_code == 200, timed_out.text
    out = timed_out.json()
    assert out["enters"] is False  # the entry is entering `lead`; this event moves the customer to qualified
    assert [(s["step_id"], s["outcome"]) for s in out["steps"]] == [
        ("entry", "treated"),
        ("hello", "bundled"),
        ("visit", "waiting"),
        ("visit", "timeout"),
        ("remind", "bundled"),
        ("remind", "completed"),
    ]
    hello = out["steps"][1]
    assert hello["detail"]["explanation"]["journey"] == {"name": "simulated", "version": 0, "step": "hello"}
    assert hello["detail"]["channels"][0] == "push"
    days = (out["steps"][3]["at"], out["steps"][0]["at"])
    assert days[0] > days[1]  # the clock jumped a week

    body["events"] = [{"after": "P2D", "type": "visit.booked"}]
    came = (await router_client.post("/v1/journeys/simulate", json=body, headers=operator(Role.VIEWER))).json()
    assert [s["step_id"] for s in came["steps"]][3:] == ["visit", "thanks", "thanks"]
    assert came["status"] == "completed"
    async with router_app.state.service.sessions() as session:
        stored = await session.scalar(
            text("SELECT count(*) FROM router.decisions WHERE customer_id = :c"), {"c": customer}
        )
    assert stored == 0

    neither = await router_client.post(
        "/v1/journeys/simulate", json={**body, "journey": None}, headers=operator(Role.VIEWER)
    )
    assert neither.status_code == 422
    assert neither.json()["errors"][0]["rule"] == "journey_kind"
