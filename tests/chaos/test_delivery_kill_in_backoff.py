"""A delivery process killed (SIGKILL) while its deliveries wait out a backoff: the waits are rows,
so after a restart every delivery is sent exactly once.

Real Kafka and PostgreSQL, the delivery service as a separate process, the provider sandbox on
loopback refusing every delivery's first call with a 503.
"""

from __future__ import annotations

import asyncio
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
from metaconnect_common.schemas import Channel
from metaconnect_common.settings import KafkaSettings
from metaconnect_common.topics import DELIVERIES, INTERACTIONS
from metaconnect_sandbox.server import Sandbox
from tests.chaos.test_delivery_kill import _scalar
from tests.delivery.test_service import SANDBOX, delivery, providers
from tests.support import providers_env, start_service

pytestmark = pytest.mark.timeout(240)
COUNT = 20


async def test_a_delivery_process_killed_during_backoff_sends_each_delivery_once(
    database_url: str, kafka_bootstrap: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    await ensure_topics(KafkaSettings(bootstrap=kafka_bootstrap, topic_partitions=3), [DELIVERIES, INTERACTIONS])
    group = f"delivery-backoff-{uuid.uuid4().hex[:8]}"
    batch = [delivery(Channel.PUSH) for _ in range(COUNT)]
    ids = [d.id for d in batch]

    def process(log: str) -> object:
        return start_service(
            "delivery",
            database_url=database_url,
            bootstrap=kafka_bootstrap,
            log=tmp_path / log,
            MC_DELIVERY_GROUP_ID=group,
            # A patient provider timeout: under load a slow answer must not use up the attempts.
            MC_DELIVERY_PROVIDERS=providers_env([p.model_copy(update={"timeout_s": 5.0}) for p in providers(sandbox)]),
            MC_DELIVERY_BACKOFF_BASE_S="8",  # a retry waits up to 8 s: the kill lands in it
            MC_DELIVERY_BACKOFF_CAP_S="8",
            # A retry already under way when the kill lands is taken over after its lease.
            MC_DELIVERY_LEASE_S="10",
        ).proc

    async with Sandbox(SANDBOX) as sandbox, httpx.AsyncClient(base_url=f"{sandbox.http_url}/_sandbox") as control:
        await control.post("/faults", json={"provider": "fcm", "responses": [{"status": 503}] * COUNT})
        victim = process("a.log")
        survivor = None
        try:
            publisher = KafkaPublisher(KafkaSettings(bootstrap=kafka_bootstrap))
            try:
                await publisher.publish(
                    [OutgoingRecord(DELIVERIES, d.kafka_key(), d.model_dump_json().encode()) for d in batch]
                )
            finally:
                await publisher.stop()
            waiting = (
                "SELECT count(DISTINCT delivery_id) FROM delivery.attempts"
                " WHERE delivery_id = ANY(:ids) AND outcome = 'retry'"
            )
            async with asyncio.timeout(60):
                while await _scalar(engine, waiting, ids=ids) < COUNT:
                    assert victim.poll() is None, (tmp_path / "a.log").read_text()  # type: ignore[attr-defined]
                    await asyncio.sleep(0.05)
            stop(victim, kill=True)  # type: ignore[arg-type]  # SIGKILL while they wait
            async with engine.connect() as conn:  # waiting out a backoff, no call in flight
                waited = set(
                    await conn.scalars(
                        text(
                            "SELECT id FROM delivery.deliveries WHERE id = ANY(:ids)"
                            " AND status = 'pending' AND lease_until IS NULL"
                        ),
                        {"ids": ids},
                    )
                )
            assert waited, "no delivery was waiting when the kill came: nothing was tested"
            sent = "SELECT count(*) FROM delivery.deliveries WHERE id = ANY(:ids) AND status = 'sent'"

            survivor = process("b.log")
            try:
                async with asyncio.timeout(90):
                    while await _scalar(engine, sent, ids=ids) < COUNT:
                        assert survivor.poll() is None, (tmp_path / "b.log").read_text()  # type: ignore[attr-defined]
                        await asyncio.sleep(0.2)
            except TimeoutError:
                async with engine.connect() as conn:
                    stuck = (
                        await conn.execute(
                            text(
                                "SELECT d.id, d.status, d.reason, d.lease_until, d.next_attempt_at,"
                                " array_agg(a.outcome || ':' || a.reason ORDER BY a.number) AS attempts"
                                " FROM delivery.deliveries d LEFT JOIN delivery.attempts a ON a.delivery_id = d.id"
                                " WHERE d.id = ANY(:ids) AND d.status <> 'sent' GROUP BY d.id"
                            ),
                            {"ids": ids},
                        )
                    ).all()
                logs = "".join((tmp_path / f).read_text()[-3000:] for f in ("a.log", "b.log"))
                raise AssertionError(f"not sent: {stuck}\n{logs}") from None
            calls = (await control.get("/messages", params={"provider": "fcm"})).json()["messages"]
        finally:
            stop(victim, kill=True)  # type: ignore[arg-type]
            if survivor is not None:
                stop(survivor)  # type: ignore[arg-type]

    accepted = Counter(m["payload"]["message"]["data"]["delivery_id"] for m in calls if m["status"] == 200)
    assert set(accepted) == {str(d) for d in ids}  # each sent
    # What waited out its backoff went once; a call cut off by the kill may go again (same collapse id).
    assert {d: accepted[str(d)] for d in waited} == dict.fromkeys(waited, 1)
