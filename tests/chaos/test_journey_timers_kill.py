"""Two router processes fire journey timers; one of them is SIGKILLed, again and again, while they do.

A few hundred customers enter a journey whose every walk waits twice (send -> wait -> send ->
wait -> send -> end), their entries spread over some seconds so that timers keep falling due.
While they fire, a replica picked at random is killed with SIGKILL, more than once, and started
again: after a random pause, at the first moment its open transaction has just run one of the
statements of a round picked at random (the claim of due walks, the decisions, the history, the
outbox), so that the kills land inside the work and not only between two rounds. When every
walk has ended:

* every walk completed, and its history holds each step exactly once (no second `waited`, no
  second send);
* each customer has exactly one decision per send step;
* on `mc.deliveries.v1` every item the router decided went out, in exactly one delivery: the
  relay may publish a delivery twice after a crash, but then with the same delivery id, which
  the delivery service dedupes (as in `test_router_flush_crash.py`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_cli.local._proc import stop
from metaconnect_common.auth import Role, issue_token
from metaconnect_common.kafka.admin import ensure_topics
from metaconnect_common.kafka.producer import KafkaPublisher, OutgoingRecord
from metaconnect_common.schemas import Interaction
from metaconnect_common.schemas.delivery import Delivery
from metaconnect_common.schemas.profiled import Profiled, ProfileSnapshot
from metaconnect_common.settings import AuthSettings, KafkaSettings
from metaconnect_common.topics import DELIVERIES, PROFILED
from tests.router.journeys.factory import GRANTED, journey_spec, message
from tests.support import Service, read_topic, ready, start_service

pytestmark = pytest.mark.timeout(300)
log = logging.getLogger(__name__)

CUSTOMERS = 300
WAVES = 24  # entries published in waves, one a second: timers fall due for ~30 s
MAX_KILLS = 8
SENDS = ("welcome", "reminder", "last")
HISTORY = [
    ("entry", "entry", "treated"),
    ("welcome", "send", "bundled"),
    ("pause-1", "wait", "waiting"),
    ("pause-1", "wait", "waited"),
    ("reminder", "send", "sent"),
    ("pause-2", "wait", "waiting"),
    ("pause-2", "wait", "waited"),
    ("last", "send", "bundled"),
    ("last", "end", "completed"),
]


def _spec() -> dict[str, Any]:
    return journey_spec(
        f"kill-{uuid.uuid4().hex[:6]}",
        {"id": "welcome", "type": "send", "message": message("welcome")},  # bundled (marketing)
        {"id": "pause-1", "type": "wait", "duration": "PT3S"},
        {"id": "reminder", "type": "send", "message": message("reminder", category="transactional")},  # sent at once
        {"id": "pause-2", "type": "wait", "duration": "PT3S"},
        {"id": "last", "type": "send", "message": message("last")},
        entry={"event_types": ["lead.created"]},
        policy={"bundle_window": "PT1S"},
    )


def _entry(customer_id: uuid.UUID) -> Profiled:
    now = datetime.now(UTC)
    interaction = Interaction.model_validate(
        {
            "event_id": str(uuid.uuid4()),
            "customer": {"customer_id": f"c-{customer_id}"},
            "type": "lead.created",
            "channel": "web",
            "occurred_at": now,
            "received_at": now,
            "source": "test",
            "properties": {},
        }
    )
    profile = ProfileSnapshot.model_validate(
        {
            "lifecycle_stage": "lead",
            "time_zone": "UTC",
            "channel_consent": {"push": GRANTED, "email": GRANTED},
            "purposes": {"marketing": GRANTED},
            "reachable": ["push", "email"],
        }
    )
    return Profiled(id=uuid.uuid4(), customer_id=customer_id, interaction=interaction, profile=profile, profiled_at=now)


class Replicas:
    """Router processes under one consumer group, each with its flusher, timer loop and relay."""

    def __init__(self, database_url: str, bootstrap: str, logs: Path) -> None:
        self._database_url, self._bootstrap, self._logs = database_url, bootstrap, logs
        self._group = f"router-timers-{uuid.uuid4().hex[:8]}"
        self._started = 0
        self.running: dict[str, Service] = {}
        """Those started and ready (the ones that may be killed)."""
        self._all: list[Service] = []

    async def start(self, name: str) -> Service:
        self._started += 1
        service = start_service(
            "router",
            database_url=self._database_url,
            bootstrap=self._bootstrap,
            log=self._logs / f"{name}-{self._started}.log",
            MC_ROUTER_GROUP_ID=self._group,
            MC_ROUTER_FLUSH_INTERVAL_S="0.1",
            MC_ROUTER_TIMER_INTERVAL_S="0.1",
            MC_ROUTER_TIMER_BATCH="4",  # many small timer transactions: a kill lands in or between them
        )
        self._all.append(service)
        await ready(service)
        self.running[name] = service
        return service

    def kill(self, name: str) -> None:
        stop(self.running.pop(name).proc, kill=True)

    def ports(self, name: str) -> set[int]:
        """The local TCP ports of the replica's sockets (its database connections among them)."""
        pid = self.running[name].proc.pid
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        ports = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as lines:
                for line in list(lines)[1:]:
                    fields = line.split()
                    if fields[9] in inodes:
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        return ports

    def stop_all(self) -> None:
        for service in self._all:
            stop(service.proc, kill=True)
        self.running.clear()


async def _scalar(engine: AsyncEngine, sql: str, **params: object) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text(sql), params) or 0)


async def _rows(engine: AsyncEngine, sql: str, **params: object) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).all())


MOMENTS = (
    "%FOR UPDATE SKIP LOCKED%",  # due walks just claimed
    "%INSERT INTO router.decisions%",  # a round's decisions being written
    "%INSERT INTO router.journey_steps%",  # the walks' history being written
    "%INSERT INTO router.outbox%",  # deliveries being put into the outbox
)
"""Where in a round of work the kill lands: just after one of these statements, the transaction
still open (the Kafka handler's transactions write decisions and history too: fine)."""
WORKING = (
    "SELECT count(*) FROM pg_stat_activity WHERE client_port = ANY(:ports) AND backend_xid IS NOT NULL"
    " AND state IN ('active', 'idle in transaction') AND query LIKE :moment"
)


async def _kill_inside_a_transaction(engine: AsyncEngine, replicas: Replicas, victim: str, moment: str) -> bool:
    """SIGKILL the replica as soon as one of its open transactions is at `moment` (within 3 s; then anyway)."""
    ports = list(replicas.ports(victim))
    deadline = time.monotonic() + 3.0
    async with engine.connect() as conn:
        while time.monotonic() < deadline:
            if await conn.scalar(text(WORKING), {"ports": ports, "moment": moment}):
                replicas.kill(victim)
                return True
            await conn.rollback()
    replicas.kill(victim)
    return False


async def _enter(bootstrap: str, customers: list[uuid.UUID]) -> None:
    publisher = KafkaPublisher(KafkaSettings(bootstrap=bootstrap, linger_ms=0))
    try:
        per_wave = -(-len(customers) // WAVES)
        for start in range(0, len(customers), per_wave):
            wave = [_entry(c) for c in customers[start : start + per_wave]]
            await publisher.publish(
                [OutgoingRecord(PROFILED, r.kafka_key(), r.model_dump_json().encode()) for r in wave]
            )
            await asyncio.sleep(1.0)
    finally:
        await publisher.stop()


async def test_router_replicas_killed_while_journey_timers_fire_run_every_step_once(
    database_url: str, kafka_bootstrap: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    rng = random.Random()
    await ensure_topics(KafkaSettings(bootstrap=kafka_bootstrap, topic_partitions=3), [PROFILED, DELIVERIES])
    replicas = Replicas(database_url, kafka_bootstrap, tmp_path)
    spec = _spec()
    name = spec["name"]
    waited = "SELECT count(*) FROM router.journey_steps WHERE journey = :j AND outcome = 'waited'"
    kills: list[tuple[str, bool, int]] = []  # (replica, inside a transaction, waits fired when it was killed)
    try:
        first = await replicas.start("a")
        await replicas.start("b")
        token = issue_token(AuthSettings(), subject="ops@test", role=Role.EDITOR)
        async with httpx.AsyncClient() as client:
            put = await client.put(
                f"{first.url}/v1/journeys/{name}", json=spec, headers={"Authorization": f"Bearer {token}"}
            )
        assert put.status_code in (200, 201), put.text
        await asyncio.sleep(2.5)  # both replicas' journey catalogues see the new journey

        customers = [uuid.uuid4() for _ in range(CUSTOMERS)]
        entering = asyncio.create_task(_enter(kafka_bootstrap, customers))
        async with asyncio.timeout(30):  # the first waits fall due
            while await _scalar(engine, waited, j=name) == 0:
                await asyncio.sleep(0.05)
        every_wait = 2 * CUSTOMERS
        restarts = []
        # While most waits are still to fire: kill a replica that is up, start it again (in the
        # background: the other may be killed meanwhile).
        while len(kills) < MAX_KILLS and await _scalar(engine, waited, j=name) < every_wait * 0.9:
            await asyncio.sleep(rng.uniform(0.1, 1.0))
            if not replicas.running:
                continue
            victim = rng.choice(sorted(replicas.running))
            inside = await _kill_inside_a_transaction(engine, replicas, victim, rng.choice(MOMENTS))
            kills.append((victim, inside, await _scalar(engine, waited, j=name)))
            restarts.append(asyncio.create_task(replicas.start(victim)))
        await asyncio.gather(entering, *restarts)
        assert len(replicas.running) == 2
        done = (
            "SELECT count(*) FROM router.journey_instances WHERE journey = :j AND status <> 'active'",
            "SELECT count(*) FROM router.bundles WHERE status <> 'flushed'",
            "SELECT count(*) FROM router.outbox WHERE published_at IS NULL",
        )
        async with asyncio.timeout(150):
            while await _scalar(engine, done[0], j=name) < CUSTOMERS:
                await asyncio.sleep(0.3)
            while await _scalar(engine, done[1]) or await _scalar(engine, done[2]):
                await asyncio.sleep(0.3)
        log.info("kills (replica, inside a transaction, waits fired by then of %d): %s", every_wait, kills)
    finally:
        replicas.stop_all()
    assert len(kills) >= 2, f"too few kills while the timers fired: {kills}"

    # Every walk completed, each step exactly once.
    walks = await _rows(
        engine, "SELECT customer_id, status, end_reason FROM router.journey_instances WHERE journey = :j", j=name
    )
    assert sorted(str(c) for c, _, _ in walks) == sorted(str(c) for c in customers), "a customer has no walk, or two"
    assert Counter((s, r) for _, s, r in walks) == {("completed", "completed"): CUSTOMERS}
    history: dict[uuid.UUID, list[tuple[str, str, str]]] = defaultdict(list)
    for instance, step, kind, outcome in await _rows(
        engine,
        "SELECT instance_id, step_id, kind, outcome FROM router.journey_steps WHERE journey = :j ORDER BY id",
        j=name,
    ):
        history[instance].append((step, kind, outcome))
    wrong = {walk: steps for walk, steps in history.items() if steps != HISTORY}
    assert not wrong, f"{len(wrong)} walks' histories differ, e.g. {next(iter(wrong.values()))}"
    assert len(history) == CUSTOMERS

    # Exactly one decision per send step and customer.
    decided = await _rows(
        engine,
        "SELECT customer_id, journey_step, id, outcome FROM router.decisions WHERE journey = :j",
        j=name,
    )
    per_customer = Counter((c, s) for c, s, _, _ in decided)
    assert set(per_customer.values()) == {1}, "a send step was decided twice"
    assert len(decided) == len(SENDS) * CUSTOMERS
    assert Counter(o for _, _, _, o in decided) == {"bundled": 2 * CUSTOMERS, "sent": CUSTOMERS}
    decisions = {d: c for c, _, d, _ in decided}

    # Every item went out in exactly one delivery (a re-published record keeps its delivery id).
    deliveries_of_item: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    keys = {str(c).encode() for c in customers}
    for record in await read_topic(kafka_bootstrap, DELIVERIES):
        if record.key not in keys:
            continue
        delivery = Delivery.model_validate_json(record.value)
        for item in delivery.items:
            assert decisions.get(item.decision_id) == delivery.customer_id, "an item no decision of its customer made"
            deliveries_of_item[item.id].add(delivery.id)
    twice = [item for item, ids in deliveries_of_item.items() if len(ids) > 1]
    assert not twice, f"{len(twice)} items went out in two deliveries"
    assert len(deliveries_of_item) == len(SENDS) * CUSTOMERS, "an item was lost"
