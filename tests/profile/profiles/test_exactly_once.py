"""Effect exactly once (ARCHITECTURE.md section 6) against the real broker and database: a crash
between the commit and the produce, between the produce and the outbox mark, between the produce
and the offset commit, two replicas on one record, and a worker SIGKILLed in the middle of a batch."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_cli.local._proc import free_port
from metaconnect_common.db import session_factory
from metaconnect_common.kafka.admin import ensure_topics
from metaconnect_common.kafka.producer import Acknowledged, BrokerUnavailable, KafkaPublisher, OutgoingRecord
from metaconnect_common.kafka.records import ConsumedRecord
from metaconnect_common.outbox import OutboxRelay
from metaconnect_common.schemas import Interaction
from metaconnect_common.settings import KafkaSettings
from metaconnect_common.topics import INTERACTIONS, PROFILED
from metaconnect_ingest.events.service import to_record
from metaconnect_profile.app import create_app
from metaconnect_profile.identity.resolution import IdentityConflict
from metaconnect_profile.models import OUTBOX
from metaconnect_profile.profiles import handlers
from metaconnect_profile.profiles.batch import TracedInteraction
from metaconnect_profile.profiles.reporting import profiled_id
from metaconnect_profile.profiles.service import ProfileService
from metaconnect_profile.profiles.state import ProfilePolicy
from tests.profile.conftest import applied, interaction, profile_settings, profiled_for
from tests.support import eventually, read_topic, topic_name

Publish = Callable[[Interaction], Coroutine[Any, Any, None]]


class SimulatedCrash(Exception):
    """The process died here."""


class CrashAfterProduce(KafkaPublisher):
    """The broker acknowledged the records, then the process died before the outbox mark committed."""

    async def publish(self, records: Iterable[OutgoingRecord]) -> list[Acknowledged]:
        await super().publish(records)
        raise SimulatedCrash("after the produce, before the outbox mark")


@pytest.fixture
async def topics(database_url: str, kafka_bootstrap: str) -> None:
    """The service's topics, for tests that run the service without an app (which would create them)."""
    await ensure_topics(profile_settings(database_url, kafka_bootstrap).common.kafka, [INTERACTIONS, PROFILED])


async def _scalar(engine: AsyncEngine, sql: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return await conn.scalar(text(sql), params)


async def _counts(engine: AsyncEngine, event: Interaction) -> dict[str, int]:
    """How often the event left a trace in each table it touches."""
    e = event.event_id
    record_id = str(profiled_id(e))
    return {
        "processed": await _scalar(engine, "SELECT count(*) FROM profile.processed_events WHERE event_id = :e", e=e),
        "timeline": await _scalar(engine, "SELECT count(*) FROM profile.timeline WHERE event_id = :e", e=e),
        "evidence": await _scalar(engine, "SELECT count(*) FROM profile.personality_evidence WHERE event_id = :e", e=e),
        "outbox": await _scalar(
            engine,
            "SELECT count(*) FROM profile.outbox WHERE convert_from(value, 'UTF8')::jsonb ->> 'id' = :id",
            id=record_id,
        ),
    }


async def _engagement(engine: AsyncEngine, customer: uuid.UUID, channel: str, receipt: str) -> float:
    document = await _scalar(engine, "SELECT engagement FROM profile.customers WHERE id = :c", c=customer)
    return float(document[channel][receipt]["value"])


def _consumed(event: Interaction) -> ConsumedRecord:
    """The record a consumer would hand the service for `event` (as ingest publishes it)."""
    record = to_record(event)
    return ConsumedRecord(record.topic, 0, 0, record.key, record.value, list(record.headers), 0)


def _closed_port() -> int:
    return free_port()  # nothing listens there


async def _reported(bootstrap: str, events: Sequence[Interaction]) -> dict[str, list[str]]:
    """For each event id, the ids of the `mc.profiled.v1` records reporting it (one per publish)."""
    wanted = {str(e.event_id) for e in events}
    out: dict[str, list[str]] = {}
    for r in await read_topic(bootstrap, PROFILED):
        value = json.loads(r.value)
        if value["interaction"] and value["interaction"]["event_id"] in wanted:
            out.setdefault(value["interaction"]["event_id"], []).append(value["id"])
    return out


async def _drain(engine: AsyncEngine, bootstrap: str, publish: Publish, who: dict[str, Any]) -> None:
    """Publish a sentinel on the customer's key and wait until it is applied and reported: every
    record before it on that partition has been handled, every outbox row before it published."""
    sentinel = interaction(who, "app.opened")
    await publish(sentinel)
    await applied(engine, sentinel.event_id)
    await profiled_for(bootstrap, sentinel.event_id)


async def test_crash_between_commit_and_produce_publishes_once_after_restart(
    database_url: str, kafka_bootstrap: str, engine: AsyncEngine, publish: Publish, topics: None
) -> None:
    settings = profile_settings(database_url, kafka_bootstrap)
    sessions = session_factory(engine)
    dead = KafkaPublisher(KafkaSettings(bootstrap=f"127.0.0.1:{_closed_port()}", publish_timeout_s=1.0))
    crashed = ProfileService(sessions, ProfilePolicy.from_settings(settings))
    who = {"customer_id": f"commit-crash-{uuid.uuid4().hex[:8]}"}
    event = interaction(who, "message.opened", "push")
    await publish(event)  # on the topic; the crashed worker's group never committed it

    await handlers.handle(crashed, _consumed(event))  # committed to the database
    with pytest.raises(BrokerUnavailable):  # the runner's before-commit publish fails: the crash
        await OutboxRelay(sessions, dead, OUTBOX).flush()
    await dead.stop()
    customer = await applied(engine, event.event_id, timeout_s=1)
    assert await _counts(engine, event) == {"processed": 1, "timeline": 1, "evidence": 0, "outbox": 1}
    assert await _reported(kafka_bootstrap, [event]) == {}, "nothing was produced before the crash"

    restarted = create_app(settings)  # a new instance: the relay's loop and the consumer start over
    async with restarted.router.lifespan_context(restarted):
        await _drain(engine, kafka_bootstrap, publish, who)

    assert await _reported(kafka_bootstrap, [event]) == {str(event.event_id): [str(profiled_id(event.event_id))]}
    assert await _counts(engine, event) == {"processed": 1, "timeline": 1, "evidence": 0, "outbox": 1}
    published = await _scalar(
        engine,
        "SELECT published_at FROM profile.outbox WHERE convert_from(value, 'UTF8')::jsonb ->> 'id' = :id",
        id=str(profiled_id(event.event_id)),
    )
    assert published is not None
    assert await _engagement(engine, customer, "push", "opened") == pytest.approx(1.0)


async def test_crash_between_produce_and_outbox_mark_republishes_the_same_record(
    database_url: str, kafka_bootstrap: str, engine: AsyncEngine, topics: None
) -> None:
    settings = profile_settings(database_url, kafka_bootstrap)
    sessions = session_factory(engine)
    policy = ProfilePolicy.from_settings(settings)
    kafka = KafkaSettings(bootstrap=kafka_bootstrap, linger_ms=0)
    crashing, healthy = CrashAfterProduce(kafka), KafkaPublisher(kafka)
    event = interaction({"customer_id": f"mark-crash-{uuid.uuid4().hex[:8]}"}, "message.opened", "push")
    try:
        assert await ProfileService(sessions, policy).apply([TracedInteraction(event)]) == 1
        with pytest.raises(SimulatedCrash):
            await OutboxRelay(sessions, crashing, OUTBOX).flush()
        first = await profiled_for(kafka_bootstrap, event.event_id)
        assert len(first) == 1
        assert await OutboxRelay(sessions, healthy, OUTBOX).flush() >= 1  # the row was still pending
    finally:
        await crashing.stop()
        await healthy.stop()

    again = await profiled_for(kafka_bootstrap, event.event_id)
    assert len(again) == 2, "published twice (at least once) ..."
    assert again[0] == again[1] == first[0], "... as the same record with the same id, which consumers dedupe"
    assert again[0]["id"] == str(profiled_id(event.event_id))
    assert await _counts(engine, event) == {"processed": 1, "timeline": 1, "evidence": 0, "outbox": 1}


async def test_redelivered_record_changes_the_profile_once(
    profile_app: FastAPI, profile_client: Any, publish: Publish, engine: AsyncEngine, kafka_bootstrap: str
) -> None:
    who = {"customer_id": f"redelivered-{uuid.uuid4().hex[:8]}"}
    grant = interaction(who, "consent.changed", "web", purpose="profiling_behaviour", granted=True)
    clicked = interaction(who, "message.clicked", "email", tone="red")
    # The same record on the topic twice (a producer retry, or a crash before the offset commit) ...
    for event in (grant, clicked, clicked):
        await publish(event)
    customer = await applied(engine, clicked.event_id)
    # ... and handled twice more directly, as a second replica would after a rebalance.
    state = profile_app.state.service
    replica = ProfileService(state.sessions, state.policy)
    for _ in range(2):
        await handlers.handle(replica, _consumed(clicked))
    await _drain(engine, kafka_bootstrap, publish, who)

    assert await _counts(engine, clicked) == {"processed": 1, "timeline": 1, "evidence": 1, "outbox": 1}
    behaviour = await _scalar(
        engine, "SELECT count(*) FROM profile.personality_evidence WHERE customer_id = :c", c=customer
    )
    assert behaviour == 1
    assert await _engagement(engine, customer, "email", "clicked") == pytest.approx(1.0)
    reported = await _reported(kafka_bootstrap, [clicked])
    assert reported == {str(clicked.event_id): [str(profiled_id(clicked.event_id))]}


async def test_two_replicas_applying_the_same_record_at_once_apply_it_once(
    database_url: str, kafka_bootstrap: str, engine: AsyncEngine, topics: None
) -> None:
    settings = profile_settings(database_url, kafka_bootstrap)
    policy = ProfilePolicy.from_settings(settings)
    publisher = KafkaPublisher(KafkaSettings(bootstrap=kafka_bootstrap, linger_ms=0))
    replicas = []
    for _ in range(2):
        sessions = session_factory(engine)  # own sessions, own connections, own transactions
        replicas.append(ProfileService(sessions, policy))
    who = {"customer_id": f"race-{uuid.uuid4().hex[:8]}", "email": f"race.{uuid.uuid4().hex[:8]}@example.com"}
    first = interaction(who, "message.clicked", "email")  # creates the customer
    second = interaction(who, "message.clicked", "email")  # finds it
    try:
        for event in (first, second):
            outcomes = await asyncio.gather(
                *(r.apply([TracedInteraction(event)]) for r in replicas), return_exceptions=True
            )
            # The loser either saw the event applied (0), or failed on the unique event id / identifier
            # and is retried by its consumer runner, which then sees it applied.
            results = []
            for replica, outcome in zip(replicas, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    assert isinstance(outcome, IntegrityError | IdentityConflict), repr(outcome)
                    outcome = await replica.apply([TracedInteraction(event)])
                results.append(outcome)
            assert sorted(results) == [0, 1]
        await OutboxRelay(session_factory(engine), publisher, OUTBOX).flush()
    finally:
        await publisher.stop()

    customer = await applied(engine, second.event_id)
    for event in (first, second):
        assert await _counts(engine, event) == {"processed": 1, "timeline": 1, "evidence": 0, "outbox": 1}
    assert await _engagement(engine, customer, "email", "clicked") == pytest.approx(2.0)
    customers = await _scalar(
        engine, "SELECT count(DISTINCT customer_id) FROM profile.identities WHERE value = :v", v=who["email"]
    )
    assert customers == 1
    reported = await _reported(kafka_bootstrap, [first, second])
    assert reported == {str(e.event_id): [str(profiled_id(e.event_id))] for e in (first, second)}


# --- a real worker process, killed with SIGKILL in the middle of a batch ---------------------------------------

CUSTOMERS, PER_CUSTOMER = 3, 80


@contextmanager
def _worker(group: str, database_url: str, bootstrap: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The profile service's own entry point (`python -m metaconnect_profile`) as a separate process."""
    env = os.environ | {
        "MC_ENV": "test",
        "MC_PROFILE_GROUP_ID": group,
        "MC_PROFILE_HOST": "127.0.0.1",
        "MC_PROFILE_PORT": str(free_port()),
        "MC_KAFKA_BOOTSTRAP": bootstrap,
        "MC_KAFKA_TOPIC_PARTITIONS": "3",
        "MC_DATABASE_URL": database_url,
        "MC_LOG_LEVEL": "WARNING",
        # Small fetches: a partition's share of one is a transaction, and the kill must land
        # between batches rather than after one batch applied everything.
        "MC_PROFILE_MAX_RECORDS": "20",
    }
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "metaconnect_profile"], env=env, stdout=out, stderr=out)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


async def _applied_ids(engine: AsyncEngine, events: Sequence[Interaction]) -> set[uuid.UUID]:
    async with engine.connect() as conn:
        rows = await conn.scalars(
            text("SELECT event_id FROM profile.processed_events WHERE event_id = ANY(:ids)"),
            {"ids": [e.event_id for e in events]},
        )
        return set(rows)


async def _committed(bootstrap: str, group: str, partitions: Iterable[int]) -> dict[int, int]:
    """The group's committed offsets on `mc.interactions.v1` (0 where it never committed)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        return {
            p: (await consumer.committed(TopicPartition(topic_name(INTERACTIONS), p))) or 0 for p in set(partitions)
        }
    finally:
        await consumer.stop()


KILL_ATTEMPTS = 4


async def _killed_mid_batch(
    database_url: str, kafka_bootstrap: str, engine: AsyncEngine, log: Path
) -> tuple[list[Interaction], str, bool]:
    """Post the events, start a worker and SIGKILL it once a quarter of them is applied. Returns
    the events, the group, and whether the kill landed between a batch's work and its offset
    commit (some applied event will be delivered again): a window of milliseconds, which a kill
    on a busy machine can miss by landing just after a commit."""
    tag = uuid.uuid4().hex[:8]
    who = [{"customer_id": f"kill-{tag}-{n}"} for n in range(CUSTOMERS)]
    events = [interaction(c, "message.opened", "in_app") for _ in range(PER_CUSTOMER) for c in who]
    publisher = KafkaPublisher(KafkaSettings(bootstrap=kafka_bootstrap))
    try:
        acks = await publisher.publish([to_record(e) for e in events])
    finally:
        await publisher.stop()
    group = f"profile-kill-{tag}"

    with _worker(group, database_url, kafka_bootstrap, log) as first:
        deadline = asyncio.get_running_loop().time() + 60
        while len(await _applied_ids(engine, events)) < len(events) // 4:
            assert first.poll() is None, log.read_text()
            assert asyncio.get_running_loop().time() < deadline, "the first worker applied too little"
            await asyncio.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait()
    at_kill = await _applied_ids(engine, events)
    assert len(at_kill) < len(events), "killed after the last event: nothing left mid-batch"
    # Applied but not committed: the new worker gets these again and must skip them.
    committed = await _committed(kafka_bootstrap, group, (ack.partition for ack in acks))
    redelivered = {e.event_id for e, ack in zip(events, acks, strict=True) if ack.offset >= committed[ack.partition]}
    return events, group, bool(redelivered & at_kill)


async def test_worker_killed_mid_batch_then_a_new_worker_applies_every_event_once(
    database_url: str, kafka_bootstrap: str, engine: AsyncEngine, tmp_path: Path, topics: None
) -> None:
    for attempt in range(KILL_ATTEMPTS):
        events, group, mid_batch = await _killed_mid_batch(
            database_url, kafka_bootstrap, engine, tmp_path / f"first-{attempt}.log"
        )
        if mid_batch:
            break
    assert mid_batch, f"in {KILL_ATTEMPTS} attempts the kill never came between a batch's work and its offset commit"

    with _worker(group, database_url, kafka_bootstrap, tmp_path / "second.log"):

        async def all_applied() -> bool:
            return len(await _applied_ids(engine, events)) == len(events)

        async def all_reported() -> bool:
            return len(await _reported(kafka_bootstrap, events)) == len(events)

        await eventually(all_applied, timeout_s=60)
        await eventually(all_reported, timeout_s=30, every_s=0.5)

    ids = [e.event_id for e in events]
    async with engine.connect() as conn:
        timeline = await conn.scalar(text("SELECT count(*) FROM profile.timeline WHERE event_id = ANY(:i)"), {"i": ids})
        customers = list(
            await conn.scalars(
                text("SELECT DISTINCT customer_id FROM profile.processed_events WHERE event_id = ANY(:i)"), {"i": ids}
            )
        )
    assert timeline == len(events)
    assert len(customers) == CUSTOMERS
    for customer in customers:
        # 80 opens within seconds at a 30-day half-life: a double application would make it 81.
        assert await _engagement(engine, customer, "in_app", "opened") == pytest.approx(PER_CUSTOMER, rel=1e-4)
    reported = await _reported(kafka_bootstrap, events)
    assert {e: set(r) for e, r in reported.items()} == {str(e.event_id): {str(profiled_id(e.event_id))} for e in events}
