"""Decisions over REST and the simulation of one (real PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_common.auth import Role
from metaconnect_common.schemas.profiled import Profiled
from metaconnect_router.decisions.repository import IDENTITIES
from metaconnect_router.models import CustomerProfile
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
        "/v1/decisions", params={"customer": str(record.customer_id)}, headers=operator(Role.VIEWER)
    )
    assert stored.status_code == 404  # not even the customer's profile was stored
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
    # No quiet hours: the verdict must not depend on the hour the test runs at.
    spec = route_spec(trigger={"event_types": ["read.back"]}, policy={"bundle_window": "PT30M"})
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


def _with_identities(record: Profiled, identities: list[str], merged_from: list[uuid.UUID] = []) -> Profiled:  # noqa: B006
    assert record.profile is not None
    profile = record.profile.model_copy(update={"identities": identities})
    return record.model_copy(update={"profile": profile, "merged_from": merged_from})


async def test_decisions_are_listed_by_any_ref_the_profile_api_takes(
    router_app: FastAPI, router_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    spec = route_spec(trigger={"event_types": ["ref.listed"]})
    await router_client.post("/v1/routes", json=spec, headers=operator())
    decisions = router_app.state.service.decisions
    decisions.catalog.invalidate()
    tag = uuid.uuid4().hex[:8]
    old, survivor = uuid.uuid4(), uuid.uuid4()
    old_refs, own_refs = [f"cid:old-{tag}"], [f"cid:c-{tag}", f"email:ada.{tag}@example.com"]
    await decisions.apply(_with_identities(profiled(old, "ref.listed", value=30), old_refs), now=datetime.now(UTC))
    await decisions.apply(_with_identities(profiled(survivor, "ref.listed", value=30), own_refs), now=datetime.now(UTC))
    # The profile service merged the old customer into the survivor: its snapshot lists the old id.
    merged = _with_identities(
        profiled(survivor, "ref.listed", value=30), sorted([*old_refs, *own_refs, f"id:{old}"]), [old]
    )
    await decisions.apply(merged, now=datetime.now(UTC))
    async with engine.connect() as conn:  # the merged customer's profile lives on in the survivor's only
        query = text("SELECT count(*) FROM router.customer_profiles WHERE customer_id = :c")
        assert await conn.scalar(query, {"c": old}) == 0

    refs = [f"cid:c-{tag}", f"email:Ada.{tag.upper()}@Example.com", str(survivor), str(old), f"cid:old-{tag}"]
    for ref in refs:
        listed = await router_client.get("/v1/decisions", params={"customer": ref}, headers=operator(Role.VIEWER))
        assert listed.status_code == 200, (ref, listed.text)
        assert [d["customer_id"] for d in listed.json()] == [str(survivor)] * 3, ref


async def test_an_unknown_customer_is_a_404_naming_only_the_ref_kind(router_client: httpx.AsyncClient) -> None:
    for ref, kind in [(f"email:nobody.{uuid.uuid4().hex[:8]}@example.com", "email"), (str(uuid.uuid4()), "id")]:
        missing = await router_client.get("/v1/decisions", params={"customer": ref}, headers=operator(Role.VIEWER))
        assert missing.status_code == 404
        assert missing.json()["error"] == "customer_not_found"
        assert kind in missing.json()["message"]
        assert ref not in missing.text


@pytest.mark.parametrize("ref", ["fax:123", "cid-without-kind", "phone:12", "ext:crm"])
async def test_an_unparsable_ref_is_a_422_naming_query_customer(router_client: httpx.AsyncClient, ref: str) -> None:
    bad = await router_client.get("/v1/decisions", params={"customer": ref}, headers=operator(Role.VIEWER))
    assert bad.status_code == 422
    [error] = bad.json()["errors"]
    assert (error["field"], error["rule"]) in {("query.customer", "customer_ref"), ("query.customer", "phone_e164")}
    missing = await router_client.get("/v1/decisions", headers=operator(Role.VIEWER))
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "query.customer"


async def test_a_ref_is_looked_up_by_the_identities_index(router_app: FastAPI, engine: AsyncEngine) -> None:
    lookup = select(CustomerProfile.customer_id).where(IDENTITIES.contains(["cid:c-1"]))
    sql = str(lookup.compile(dialect=engine.dialect))
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL enable_seqscan = off"))  # an empty table: make the planner show its hand
        plan = "\n".join(r[0] for r in await conn.exec_driver_sql(f"EXPLAIN {sql}", ('["cid:c-1"]',)))
    assert "ix_customer_profiles_identities" in plan


async def test_a_customers_decisions_page_on_after_the_last_id_of_the_page_before(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    spec = route_spec(trigger={"event_types": ["paged.on"]})
    await router_client.post("/v1/routes", json=spec, headers=operator())
    decisions = router_app.state.service.decisions
    decisions.catalog.invalidate()
    customer, other = uuid.uuid4(), uuid.uuid4()
    for _ in range(5):
        await decisions.apply(profiled(customer, "paged.on", value=30), now=datetime.now(UTC))
    other_id = await decisions.apply(profiled(other, "paged.on", value=30), now=datetime.now(UTC))

    async def page(after: str | None) -> httpx.Response:
        params = {"customer": str(customer), "limit": "2"} | ({"after": after} if after else {})
        return await router_client.get("/v1/decisions", params=params, headers=operator(Role.VIEWER))

    whole = await router_client.get("/v1/decisions", params={"customer": str(customer)}, headers=operator(Role.VIEWER))
    seen: list[str] = []
    after: str | None = None
    while True:
        response = await page(after)
        assert response.status_code == 200, response.text
        ids = [d["id"] for d in response.json()]
        seen += ids
        if len(ids) < 2:
            break
        after = ids[-1]
    assert seen == [d["id"] for d in whole.json()]
    assert len(seen) == 5
    for foreign in (str(other_id), str(uuid.uuid4())):  # another customer's decision, or none, is no cursor
        refused = await page(foreign)
        assert refused.status_code == 422
        assert [(e["field"], e["rule"]) for e in refused.json()["errors"]] == [("query.after", "cursor")]
