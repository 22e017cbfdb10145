"""Journeys walked by the router's own consumer: profiled records on real Kafka move walks through
a split to its arms, an exit and an update, and what steps publish reaches its topics."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from metaconnect_common.schemas import Interaction
from metaconnect_common.schemas.delivery import Delivery
from metaconnect_common.topics import DELIVERIES, INTERACTIONS
from tests.router.conftest import operator
from tests.router.journeys.factory import entry_type, journey_spec, profiled
from tests.router.test_pipeline import publish
from tests.support import read_topic

CUSTOMERS = 40


async def _ended(app: FastAPI, name: str, count: int) -> list[Any]:
    async with asyncio.timeout(60):
        while True:
            async with app.state.service.sessions() as session:
                rows = (
                    await session.execute(
                        text(
                            "SELECT customer_id, status, end_reason, arms FROM router.journey_instances"
                            " WHERE journey = :j AND status <> 'active'"
                        ),
                        {"j": name},
                    )
                ).all()
            if len(rows) >= count:
                return list(rows)
            await asyncio.sleep(0.3)


async def test_a_split_sends_each_arm_its_way_through_kafka(
    router_app: FastAPI, router_client: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    name = f"split-{uuid.uuid4().hex[:6]}"
    spec = journey_spec(
        name,
        {
            "id": "ab",
            "type": "split",
            "arms": [
                {"name": "tell", "percent": 50, "next": "tell-crm"},
                {"name": "quiet", "percent": 50, "next": "leave"},
            ],
        },
        {"id": "tell-crm", "type": "notify", "body": "A lead for the CRM"},
        {"id": "mark", "type": "update", "traits": {"crm_told": True}, "next": "end"},
        {"id": "leave", "type": "exit", "reason": "not-told"},
    )
    assert (await router_client.put(f"/v1/journeys/{name}", json=spec, headers=operator())).status_code == 201
    customers = [uuid.uuid4() for _ in range(CUSTOMERS)]
    await publish(kafka_bootstrap, *(profiled(c, entry_type(name)) for c in customers))

    ended = await _ended(router_app, name, CUSTOMERS)
    arms = Counter(arms["ab"] for _, _, _, arms in ended)
    assert set(arms) == {"tell", "quiet"}  # 40 draws at 50 %: both arms (a miss has odds 2 in 10^12)
    told = {c for c, status, reason, arms in ended if arms["ab"] == "tell"}
    assert {(s, r) for c, s, r, _ in ended if c in told} == {("completed", "completed")}
    assert {(s, r) for c, s, r, _ in ended if c not in told} == {("exited", "not-told")}

    async def published() -> tuple[list[Interaction], list[Delivery]]:
        keys = {f"mc:{c}".encode() for c in told}
        updates = [
            Interaction.model_validate_json(r.value or b"")
            for r in await read_topic(kafka_bootstrap, INTERACTIONS)
            if r.key in keys
        ]
        ids = {str(c).encode() for c in told}
        notices = [
            Delivery.model_validate_json(r.value or b"")
            for r in await read_topic(kafka_bootstrap, DELIVERIES)
            if r.key in ids
        ]
        return updates, notices

    async with asyncio.timeout(30):
        while True:
            updates, notices = await published()
            if len(updates) >= len(told) and len(notices) >= len(told):
                break
            await asyncio.sleep(0.5)
    assert {(u.type, u.source, str(u.properties)) for u in updates} == {
        ("profile.updated", f"journey:{name}", "{'traits': {'crm_told': True}}")
    }
    assert len(updates) == len(told)  # each walk's update once
    assert {n.items[0].message_id for n in notices} == {"tell-crm"}
    assert len(notices) == len(told)
