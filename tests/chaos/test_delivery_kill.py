"""A delivery process killed (SIGKILL) while sends are in flight: after a restart every delivery
is sent, none whose send was recorded is sent again, and each has one receipt.

Real Kafka and PostgreSQL, the delivery service as a separate process, the provider sandbox on
a loopback port answering slowly so the kill lands mid-send.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_cli.local._proc import stop
from metaconnect_common.kafka.admin import ensure_topics
from metaconnect_common.kafka.producer import KafkaPublisher, OutgoingRecord
from metaconnect_common.schemas import Channel, Interaction
from metaconnect_common.settings import KafkaSettings
from metaconnect_common.topics import DELIVERIES, INTERACTIONS
from metaconnect_sandbox.server import Sandbox
from tests.delivery.test_service import SANDBOX, delivery, providers
from tests.support import providers_env, read_topic, start_service

pytestmark = pytest.mark.timeout(240)
DELIVERIES_SENT = 40


def _delivery_process(
    database_url: str, bootstrap: str, group: str, sandbox: Sandbox, log: Path
) -> subprocess.Popen[bytes]:
    return start_service(
        "delivery",
        database_url=database_url,
        bootstrap=bootstrap,
        log=log,
        MC_DELIVERY_GROUP_ID=group,
        MC_DELIVERY_PROVIDERS=providers_env(providers(sandbox)),
        MC_DELIVERY_MAX_RECORDS="5",
        MC_DELIVERY_LEASE_S="10",  # a send cut off by the kill is taken over after 10 s
    ).proc


async def _scalar(engine: AsyncEngine, sql: str, **params: object) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text(sql), params) or 0)


async def test_a_delivery_process_killed_mid_send_sends_no_recorded_delivery_twice(
    database_url: str, kafka_bootstrap: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    await ensure_topics(KafkaSettings(bootstrap=kafka_bootstrap, topic_partitions=3), [DELIVERIES, INTERACTIONS])
    group = f"delivery-chaos-{uuid.uuid4().hex[:8]}"
    batch = [delivery(Channel.PUSH) for _ in range(DELIVERIES_SENT)]
    ids = [d.id for d in batch]
    sent = "SELECT count(*) FROM delivery.deliveries WHERE id = ANY(:ids) AND status = 'sent'"
    async with Sandbox(SANDBOX) as sandbox, httpx.AsyncClient(base_url=f"{sandbox.http_url}/_sandbox") as control:
        # Every push answers after 0.3 s: sends are in flight most of the time.
        await control.post("/faults", json={"provider": "fcm", "responses": [{"delay_s": 0.3}] * 2 * DELIVERIES_SENT})
        victim = _delivery_process(database_url, kafka_bootstrap, group, sandbox, tmp_path / "a.log")
        survivor: subprocess.Popen[bytes] | None = None
        try:
            publisher = KafkaPublisher(KafkaSettings(bootstrap=kafka_bootstrap))
            try:
                await publisher.publish(
                    [OutgoingRecord(DELIVERIES, d.kafka_key(), d.model_dump_json().encode()) for d in batch]
                )
            finally:
                await publisher.stop()
            async with asyncio.timeout(90):
                while await _scalar(engine, sent, ids=ids) < 6:
                    assert victim.poll() is None, (tmp_path / "a.log").read_text()
                    await asyncio.sleep(0.05)
            stop(victim, kill=True)  # SIGKILL, mid-send
            async with engine.connect() as conn:
                recorded = set(await conn.scalars(text(sent.replace("count(*)", "id")), {"ids": ids}))
            assert len(recorded) < DELIVERIES_SENT, "the kill came after the sending: nothing was tested"

            survivor = _delivery_process(database_url, kafka_bootstrap, group, sandbox, tmp_path / "b.log")
            async with asyncio.timeout(120):
                while await _scalar(engine, sent, ids=ids) < DELIVERIES_SENT:
                    assert survivor.poll() is None, (tmp_path / "b.log").read_text()
                    await asyncio.sleep(0.2)
                while await _scalar(engine, "SELECT count(*) FROM delivery.outbox WHERE published_at IS NULL") > 0:
                    await asyncio.sleep(0.2)
            calls = (await control.get("/messages", params={"provider": "fcm"})).json()["messages"]
        finally:
            stop(victim, kill=True)
            if survivor is not None:
                stop(survivor)

    per_delivery = Counter(m["payload"]["message"]["data"]["delivery_id"] for m in calls if m["status"] == 200)
    assert {uuid.UUID(d) for d in per_delivery} == set(ids)  # every delivery reached the provider
    assert all(per_delivery[str(d)] == 1 for d in recorded), "a recorded delivery was sent twice"
    assert (
        await _scalar(
            engine, "SELECT count(*) FROM delivery.attempts WHERE delivery_id = ANY(:ids) AND outcome = 'sent'", ids=ids
        )
        == DELIVERIES_SENT
    )
    receipts = {
        i.event_id: i
        for r in await read_topic(kafka_bootstrap, INTERACTIONS)
        if (i := Interaction.model_validate_json(r.value)).type == "message.sent"
        and uuid.UUID(i.properties["delivery_id"]) in set(ids)
    }
    assert sorted(uuid.UUID(i.properties["delivery_id"]) for i in receipts.values()) == sorted(ids)
