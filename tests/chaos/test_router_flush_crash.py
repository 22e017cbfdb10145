"""Two router processes flush bundles; one is killed with SIGKILL in the middle of flushing.

Every bundle must still go out, as exactly one delivery (one delivery id; the outbox may
publish a delivery twice after a crash, with the same id, which the delivery service dedupes).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_cli.local._proc import stop
from metaconnect_common.auth import Role, issue_token
from metaconnect_common.kafka.admin import ensure_topics
from metaconnect_common.kafka.producer import KafkaPublisher, OutgoingRecord
from metaconnect_common.schemas.delivery import Delivery
from metaconnect_common.settings import AuthSettings, KafkaSettings
from metaconnect_common.topics import DELIVERIES, PROFILED
from tests.router.conftest import route_spec
from tests.router.test_pipeline import profiled
from tests.support import Service, read_topic, ready, start_service

pytestmark = pytest.mark.timeout(240)
CUSTOMERS = 240


def _router(database_url: str, bootstrap: str, group: str, log: Path) -> Service:
    return start_service(
        "router",
        database_url=database_url,
        bootstrap=bootstrap,
        log=log,
        MC_ROUTER_GROUP_ID=group,
        MC_ROUTER_FLUSH_INTERVAL_S="0.1",
        MC_ROUTER_FLUSH_BATCH="5",  # many small flush transactions: the kill lands between two
    )


async def _scalar(engine: AsyncEngine, sql: str, **params: object) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text(sql), params) or 0)


async def test_a_router_killed_mid_flush_loses_no_bundle_and_sends_none_twice(
    database_url: str, kafka_bootstrap: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    kafka = KafkaSettings(bootstrap=kafka_bootstrap, topic_partitions=3)
    await ensure_topics(kafka, [PROFILED, DELIVERIES])
    group = f"router-chaos-{uuid.uuid4().hex[:8]}"
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    victim_service = _router(database_url, kafka_bootstrap, group, logs[0])
    survivor_service = _router(database_url, kafka_bootstrap, group, logs[1])
    victim, url = victim_service.proc, victim_service.url
    survivor = survivor_service.proc
    try:
        await ready(victim_service)
        await ready(survivor_service)
        spec = route_spec(trigger={"event_types": ["chaos.tick"]})
        spec["policy"] = {"bundle_window": "PT6S", "bundle_max_items": 5}
        token = issue_token(AuthSettings(), subject="ops@test", role=Role.EDITOR)
        async with httpx.AsyncClient() as client:
            created = await client.post(f"{url}/v1/routes", json=spec, headers={"Authorization": f"Bearer {token}"})
        assert created.status_code == 201, created.text
        await asyncio.sleep(2.5)  # both replicas' route caches see the new route

        customers = [uuid.uuid4() for _ in range(CUSTOMERS)]
        publisher = KafkaPublisher(KafkaSettings(bootstrap=kafka_bootstrap))
        try:
            await publisher.publish(
                [
                    OutgoingRecord(PROFILED, r.kafka_key(), r.model_dump_json().encode())
                    for r in (profiled(c, "chaos.tick") for c in customers)
                ]
            )
        finally:
            await publisher.stop()
        route = spec["name"]
        bundles_of_route = (
            "SELECT count(DISTINCT b.id) FROM router.bundles b JOIN router.items i ON i.bundle_id = b.id"
            " WHERE i.route = :route"
        )
        async with asyncio.timeout(90):
            while await _scalar(engine, bundles_of_route, route=route) < CUSTOMERS:
                await asyncio.sleep(0.2)
            flushed = bundles_of_route + " AND b.status = 'flushed'"
            while await _scalar(engine, flushed, route=route) == 0:
                await asyncio.sleep(0.02)
        stop(victim, kill=True)  # SIGKILL while the bundles are being flushed
        flushed_before_kill = await _scalar(engine, flushed, route=route)

        async with asyncio.timeout(120):
            while await _scalar(engine, flushed, route=route) < CUSTOMERS:
                await asyncio.sleep(0.3)
            while await _scalar(engine, "SELECT count(*) FROM router.outbox WHERE published_at IS NULL") > 0:
                await asyncio.sleep(0.3)
        assert flushed_before_kill < CUSTOMERS, "the kill came after the flushing: nothing was tested"
    finally:
        stop(victim, kill=True)
        stop(survivor)

    deliveries: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    keys = {str(c).encode() for c in customers}
    for record in await read_topic(kafka_bootstrap, DELIVERIES):
        if record.key in keys:  # the topic is shared: other tests' records, even unreadable ones
            delivery = Delivery.model_validate_json(record.value)
            deliveries[delivery.customer_id].add(delivery.id)
    assert len(deliveries) == CUSTOMERS, "a bundle was lost"
    assert all(len(ids) == 1 for ids in deliveries.values()), "a bundle was sent twice"
