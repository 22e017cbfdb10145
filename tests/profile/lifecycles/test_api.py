"""The lifecycle API and the stage history over the real topic and tables: versions, plan,
If-Match, 422s naming field and rule; a changed lifecycle moves customers without a restart;
`lifecycle.moved`; each customer's stage timeline, and what merges, erasure and the export do with it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_common.auth import Role
from metaconnect_common.schemas import Interaction
from tests.profile.conftest import applied, interaction, operator, profiled_for

Publish = Callable[[Interaction], Coroutine[Any, Any, None]]
VIEWER, EDITOR, ADMIN = operator(Role.VIEWER), operator(Role.EDITOR), operator(Role.ADMIN)

SPEC: dict[str, Any] = {
    "name": "home-builder",
    "description": "From lead to handover.",
    "stages": [
        {"name": "lead", "allow_back": True, "enter_on": [{"event_types": ["lead.disqualified"]}]},
        {
            "name": "qualified",
            "enter_on": [{"event_types": ["lead.qualified"], "condition": "event.properties.budget >= 300000"}],
        },
        {"name": "sales", "enter_on": [{"event_types": ["sales.assigned"]}]},
        {"name": "contract", "enter_on": [{"event_types": ["contract.signed"]}]},
    ],
}


def _event(who: dict[str, Any], type_: str, **properties: Any) -> Interaction:
    return interaction(who, type_, "web").model_copy(update={"properties": properties})


async def _send(publish: Publish, engine: AsyncEngine, *events: Interaction) -> uuid.UUID:
    for event in events:
        await publish(event)
    return await applied(engine, events[-1].event_id)


async def _put(client: httpx.AsyncClient, spec: dict[str, Any], **headers: str) -> httpx.Response:
    return await client.put("/v1/lifecycle", json=spec, headers={**EDITOR, **headers})


async def test_versions_plan_and_if_match(profile_client: httpx.AsyncClient) -> None:
    first = await profile_client.get("/v1/lifecycle", headers=VIEWER)
    assert first.status_code == 200, first.text
    current = first.json()["version"]
    assert first.headers["etag"] == f'"{current}"'
    seeded = (await profile_client.get("/v1/lifecycle/versions", headers=VIEWER)).json()[-1]
    assert (seeded["version"], seeded["author"], seeded["spec"]["name"]) == (1, "migration", "default")

    variant = {**SPEC, "description": uuid.uuid4().hex}
    plan = (await profile_client.post("/v1/lifecycle/plan", json=variant, headers=VIEWER)).json()
    assert (plan["action"], plan["current_version"]) == ("update", current)

    assert (await profile_client.put("/v1/lifecycle", json=variant, headers=VIEWER)).status_code == 403
    assert (await _put(profile_client, variant, **{"If-Match": f'"{current + 5}"'})).status_code == 412
    assert (await _put(profile_client, variant, **{"If-Match": "three"})).status_code == 400
    put = await _put(profile_client, variant, **{"If-Match": f'"{current}"'})
    assert put.status_code == 200, put.text
    assert (put.json()["version"], put.json()["change"]) == (current + 1, "updated")
    assert put.headers["etag"] == f'"{current + 1}"'
    again = await _put(profile_client, variant)
    assert again.json()["version"] == current + 1  # unchanged: no new version

    same = (await profile_client.post("/v1/lifecycle/plan", json=variant, headers=VIEWER)).json()
    assert same["action"] == "none"
    versions = (await profile_client.get("/v1/lifecycle/versions", headers=VIEWER)).json()
    assert [v["version"] for v in versions] == list(range(current + 1, 0, -1))
    assert versions[0]["spec"]["stages"][1]["enter_on"][0]["condition"] == "event.properties.budget >= 300000"


async def test_bad_specs_are_refused_naming_field_and_rule(profile_client: httpx.AsyncClient) -> None:
    before = (await profile_client.get("/v1/lifecycle", headers=VIEWER)).json()["version"]
    bad = {
        "name": "x",
        "stages": [
            {"name": "lead"},
            {"name": "lead", "enter_on": [{"event_types": ["Not A Type"], "condition": "profile.holdout == true"}]},
        ],
    }
    for path, method in (("/v1/lifecycle", "PUT"), ("/v1/lifecycle/plan", "POST")):
        response = await profile_client.request(method, path, json=bad, headers=EDITOR)
        assert response.status_code == 422, response.text
        errors = {(e["field"], e["rule"]) for e in response.json()["errors"]}
        assert errors == {
            ("stages.1.name", "duplicate_stage"),
            ("stages.1.enter_on.0.event_types.0", "string_pattern_mismatch"),
            ("stages.1.enter_on.0.condition", "personality_not_allowed"),
        }
    empty = await _put(profile_client, {"name": "x", "stages": []})
    assert [(e["field"], e["rule"]) for e in empty.json()["errors"]] == [("stages", "too_short")]
    current = (await profile_client.get("/v1/lifecycle", headers=VIEWER)).json()
    assert current["version"] == before  # nothing half-written


async def test_customers_move_by_the_stored_lifecycle_and_keep_their_history(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine, kafka_bootstrap: str
) -> None:
    assert (await _put(profile_client, SPEC)).status_code == 200
    tag = uuid.uuid4().hex[:8]
    who = {"customer_id": f"h-{tag}"}
    first = _event(who, "app.opened")
    low = _event(who, "lead.qualified", budget=100000)
    high = _event(who, "lead.qualified", budget=450000)
    assigned = _event(who, "sales.assigned")
    back_refused = _event(who, "lifecycle.moved", stage="qualified")
    disqualified = _event(who, "lifecycle.moved", stage="lead")
    customer = await _send(publish, engine, first, low, high, assigned, back_refused, disqualified)

    [record] = await profiled_for(kafka_bootstrap, first.event_id)
    assert record["stage_change"] == {"from_stage": None, "to_stage": "lead", "backward": False}
    assert record["profile"]["stage_entered_at"] is not None
    [record] = await profiled_for(kafka_bootstrap, low.event_id)
    assert record["stage_change"] is None
    [record] = await profiled_for(kafka_bootstrap, disqualified.event_id)
    assert record["stage_change"] == {"from_stage": "sales", "to_stage": "lead", "backward": True}

    stages = (await profile_client.get(f"/v1/profiles/cid:h-{tag}/stages", headers=VIEWER)).json()
    assert [(s["from_stage"], s["to_stage"], s["event_type"]) for s in stages] == [
        (None, "lead", "app.opened"),
        ("lead", "qualified", "lead.qualified"),
        ("qualified", "sales", "sales.assigned"),
        ("sales", "lead", "lifecycle.moved"),
    ]
    assert stages[0]["time_in_previous_s"] is None
    assert all(s["time_in_previous_s"] >= 0 for s in stages[1:])
    profile = (await profile_client.get(f"/v1/profiles/{customer}", headers=VIEWER)).json()
    assert profile["lifecycle_stage"] == "lead"
    assert profile["stage_entered_at"] == stages[-1]["changed_at"]
    async with engine.connect() as conn:
        problems = await conn.scalar(
            text("SELECT problems FROM profile.rejections WHERE event_id = :e"), {"e": back_refused.event_id}
        )
    assert [(p["field"], p["rule"]) for p in problems] == [("properties.stage", "backward_not_allowed")]


async def test_a_changed_lifecycle_applies_without_a_restart(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine
) -> None:
    tag = uuid.uuid4().hex[:8]
    who = {"customer_id": f"r-{tag}"}
    await _send(publish, engine, _event(who, "app.opened"))
    assert (await _put(profile_client, SPEC)).status_code == 200
    await _send(publish, engine, _event(who, "sales.assigned"))
    assert (await profile_client.get(f"/v1/profiles/cid:r-{tag}", headers=VIEWER)).json()["lifecycle_stage"] == "sales"

    # A new version without `sales`: customers in it keep it, the plan counts them.
    without_sales = {**SPEC, "stages": [s for s in SPEC["stages"] if s["name"] != "sales"]}
    plan = (await profile_client.post("/v1/lifecycle/plan", json=without_sales, headers=VIEWER)).json()
    assert plan["customers_in_removed_stages"]["sales"] >= 1  # this customer, and any other test left there
    put = await _put(profile_client, without_sales)
    assert put.status_code == 200
    await _send(publish, engine, _event(who, "contract.signed"))
    profile = (await profile_client.get(f"/v1/profiles/cid:r-{tag}", headers=VIEWER)).json()
    assert profile["lifecycle_stage"] == "contract"
    stages = (await profile_client.get(f"/v1/profiles/cid:r-{tag}/stages", headers=VIEWER)).json()
    assert stages[-1]["lifecycle_version"] == put.json()["version"]


async def test_merges_move_the_history_erasure_deletes_it_the_export_holds_it(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine
) -> None:
    assert (await _put(profile_client, SPEC)).status_code == 200
    tag = uuid.uuid4().hex[:8]
    email = f"m.{tag}@example.com"
    survivor = await _send(publish, engine, _event({"customer_id": f"m-{tag}"}, "app.opened"))
    merged = await _send(
        publish, engine, _event({"email": email}, "app.opened"), _event({"email": email}, "sales.assigned")
    )
    await _send(publish, engine, _event({"customer_id": f"m-{tag}", "email": email}, "app.opened"))

    profile = (await profile_client.get(f"/v1/profiles/{survivor}", headers=VIEWER)).json()
    assert profile["lifecycle_stage"] == "sales"  # the further stage, entered when the merged customer entered it
    stages = (await profile_client.get(f"/v1/profiles/{merged}/stages", headers=VIEWER)).json()
    assert [s["to_stage"] for s in stages] == ["lead", "lead", "sales"]
    assert profile["stage_entered_at"] == stages[-1]["changed_at"]
    export = (await profile_client.get(f"/v1/profiles/{survivor}/export", headers=ADMIN)).json()
    assert [s["to_stage"] for s in export["stage_changes"]] == ["lead", "lead", "sales"]

    assert (await profile_client.delete(f"/v1/profiles/{survivor}", headers=ADMIN)).status_code == 204
    async with engine.connect() as conn:
        left = await conn.scalar(
            text("SELECT count(*) FROM profile.stage_changes WHERE customer_id = ANY(:ids)"),
            {"ids": [survivor, merged]},
        )
    assert left == 0
