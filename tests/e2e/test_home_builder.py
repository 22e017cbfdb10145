"""The home builder, end to end: simulated customers walk the lifecycle from lead to aftercare
through all four services as processes on real Kafka and PostgreSQL, with the example's
journeys compressed in time (`metaconnect demo traffic --scenario home-builder`).

Checked: every customer's stage history; journey states; reminders sent after waits; a wait for
an event timing out into its branch; two construction milestones reported together reaching
the customer as one bundled delivery; the funnel report's counts.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_cli import home_builder
from metaconnect_cli.demo_stack import Target
from metaconnect_cli.home_builder import Story
from metaconnect_common.auth import Role, issue_token
from metaconnect_common.settings import AuthSettings
from tests.e2e.conftest import Stack
from tests.router.conftest import operator

pytestmark = pytest.mark.timeout(300)
DAY_S = 0.5
STAGES = {
    Story.DROP_OUT: ["lead"],
    Story.VISITOR: ["lead", "qualified", "sales"],
    Story.BUYER: ["lead", "qualified", "sales", "contract", "construction", "handover", "aftercare"],
}


async def test_customers_walk_the_home_builders_lifecycle_and_journeys(stack: Stack, engine: AsyncEngine) -> None:
    admin = operator(Role.ADMIN)
    async with httpx.AsyncClient(timeout=15) as client:
        key = await client.post(f"{stack.urls['ingest']}/v1/api-keys", json={"name": "home-builder"}, headers=admin)
        target = Target(
            ingest_url=stack.urls["ingest"],
            profile_url=stack.urls["profile"],
            router_url=stack.urls["router"],
            api_key=key.json()["key"],
            kafka=stack.kafka_bootstrap,
            token=issue_token(AuthSettings(), subject="e2e@home-builder", role=Role.ADMIN),
        )
        seed = uuid.uuid4().int % 10_000
        report = await home_builder.run_scenario(target, customers=6, day_s=DAY_S, seed=seed, say=print)
        customers = home_builder.population(6, seed)
        viewer = operator(Role.VIEWER)

        async def get(service: str, path: str) -> Any:
            response = await client.get(f"{stack.urls[service]}{path}", headers=viewer)
            assert response.status_code == 200, response.text
            return response.json()

        ids: dict[str, uuid.UUID] = {}
        for customer in customers:
            ids[customer.ref] = uuid.UUID((await get("profile", f"/v1/profiles/cid:{customer.ref}"))["id"])
            history = await get("profile", f"/v1/profiles/cid:{customer.ref}/stages")
            assert [h["to_stage"] for h in history] == STAGES[customer.story], customer

        walks = {c.ref: (await get("router", f"/v1/customers/cid:{c.ref}/journeys"))["walks"] for c in customers}

        def walk(ref: str, journey: str) -> dict[str, Any]:
            [found] = [w for w in walks[ref] if w["journey"] == journey]
            return dict(found)

        def path(found: dict[str, Any]) -> list[tuple[str, str]]:
            return [(h["step_id"], h["outcome"]) for h in found["history"]]

        for customer in customers:
            nurture = walk(customer.ref, "lead-nurture")
            if customer.story is Story.DROP_OUT:
                # No visit within the week: the wait timed out into the reminder.
                assert nurture["status"] == "completed"
                steps = path(nurture)
                assert ("wait-for-visit", "timeout") in steps
                # The reminder is sent, unless the customer is in the journey's holdout (10%).
                reminded = steps[steps.index(("wait-for-visit", "timeout")) + 1]
                if nurture["holdout"]:
                    assert reminded == ("remind", "held_out")
                else:
                    assert reminded[0] == "remind"
                assert [w["journey"] for w in walks[customer.ref]] == ["lead-nurture"]
            else:
                assert (nurture["status"], nurture["end_reason"]) == ("converted", "visit-booked")
            if customer.story is not Story.DROP_OUT:
                # The budget the qualifying event named decides who is a hot lead for sales.
                branch = dict(path(walk(customer.ref, "sales-handover")))["budget"]
                assert branch == ("hot-lead" if customer.budget >= 500_000 else "tell-sales"), customer
            if customer.story is Story.VISITOR:
                handover = walk(customer.ref, "sales-handover")
                assert ("wait-for-offer", "timeout") in path(handover)
                assert "nudge" in [s for s, _ in path(handover)]
                assert handover["status"] == "completed"
            if customer.story is Story.BUYER:
                assert walk(customer.ref, "sales-handover")["end_reason"] == "contract"
                assert walk(customer.ref, "aftercare")["step_id"] in ("settle-in", "until-inspection")
                assert len([w for w in walks[customer.ref] if w["journey"] == "construction-updates"]) == 3

        buyers = [ids[c.ref] for c in customers if c.story is Story.BUYER]
        # Drop-outs outside the nurture journey's holdout: each was sent the reminder.
        reached = [c for c in customers if c.story is Story.DROP_OUT and not walk(c.ref, "lead-nurture")["holdout"]]
        async with engine.connect() as conn:
            bundled = (
                await conn.execute(
                    text(
                        "SELECT customer_id, delivery_id, count(*), array_agg(state), array_agg(bundle_id::text)"
                        " FROM router.items WHERE route = 'construction-updates' AND customer_id = ANY(:c)"
                        " GROUP BY customer_id, delivery_id"
                    ),
                    {"c": buyers},
                )
            ).all()
            reminders = await conn.scalar(
                text(
                    "SELECT count(*) FROM router.decisions WHERE journey = 'lead-nurture'"
                    " AND journey_step = 'remind' AND outcome IN ('sent', 'bundled') AND customer_id = ANY(:c)"
                ),
                {"c": [ids[c.ref] for c in reached]},
            )
        # Each buyer: the two milestones reported together in one delivery, the roof in another.
        sizes = Counter(customer for customer, delivery, count, _, _ in bundled if delivery is not None and count == 2)
        assert sorted(sizes.values()) == [1] * len(buyers), bundled
        assert reminders == len(reached)

        funnel = await get("profile", "/v1/reports/funnel")
        now = {s["stage"]: s["customers_now"] for s in funnel["stages"]}
        expected = Counter(STAGES[c.story][-1] for c in customers)
        assert {s: now.get(s, 0) for s in expected} == dict(expected)
        assert report.stages == expected
        assert report.journeys["lead-nurture"]["entered"] >= len(customers)
