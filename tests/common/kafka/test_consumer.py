"""ConsumerRunner against a real Kafka broker (and Postgres for the crash test)."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_common.db import create_engine
from metaconnect_common.kafka.admin import ensure_topics
from metaconnect_common.kafka.consumer import ConsumerRunner
from metaconnect_common.kafka.dead_letters import DeadLetterFailed, describe
from metaconnect_common.kafka.producer import KafkaPublisher, OutgoingRecord
from metaconnect_common.kafka.records import ConsumedRecord, PermanentError, RetryPolicy
from metaconnect_common.settings import DatabaseSettings, KafkaSettings
from tests.support import read_topic, topic_name

pytestmark = pytest.mark.timeout(60)

FAST_RETRY = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.05)
WORKER = Path(__file__).with_name("_kill_worker.py")


@pytest.fixture
def group() -> str:
    return f"group-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def stage() -> str:
    return f"test{uuid.uuid4().hex[:12]}"


async def publish(settings: KafkaSettings, records: list[OutgoingRecord]) -> None:
    await ensure_topics(settings, {r.topic for r in records})
    publisher = KafkaPublisher(settings)
    try:
        await publisher.publish(records)
    finally:
        await publisher.stop()


async def committed_offsets(settings: KafkaSettings, group: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    await admin.start()
    try:
        offsets: dict[TopicPartition, Any] = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == settings.topic(topic)}


async def end_offsets(settings: KafkaSettings, topic: str) -> dict[int, int]:
    """End offsets of the partitions that hold records."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(settings.topic(topic), p) for p in range(settings.topic_partitions)]
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return {tp.partition: offset for tp, offset in ends.items() if offset > 0}


@asynccontextmanager
async def running(runner: ConsumerRunner) -> AsyncIterator[asyncio.Task[None]]:
    """Runs the runner in a task; on exit stops it and waits for the drain."""
    task = asyncio.create_task(runner.run())
    try:
        yield task
    finally:
        runner.stop()
        await asyncio.wait_for(task, 30)


async def eventually(condition: Callable[[], bool], task: asyncio.Task[None], timeout: float = 20) -> None:
    """Waits for `condition`, failing early if the runner died."""
    async with asyncio.timeout(timeout):
        while not condition():
            if task.done():
                task.result()
                pytest.fail("the runner returned before the condition held")
            await asyncio.sleep(0.02)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def make_runner(
    settings: KafkaSettings,
    topic: str,
    group: str,
    stage: str,
    handler: Callable[[ConsumedRecord], Awaitable[None]],
    **options: Any,
) -> ConsumerRunner:
    return ConsumerRunner(settings, group_id=group, topics=[topic], stage=stage, handler=handler, **options)


async def test_handles_every_record_in_partition_order_and_commits(
    kafka_settings: KafkaSettings, topic: str, group: str, stage: str
) -> None:
    keys = [f"customer-{k}" for k in range(10)]
    sent = [OutgoingRecord(topic, k.encode(), f"{k}|{i}".encode()) for i in range(4) for k in keys]
    await publish(kafka_settings, sent)
    seen: list[ConsumedRecord] = []

    async def handle(record: ConsumedRecord) -> None:
        await asyncio.sleep(0)  # let the partitions interleave
        seen.append(record)

    runner = make_runner(kafka_settings, topic, group, stage, handle)
    async with running(runner) as task:
        await eventually(lambda: len(seen) == len(sent), task)
        assert runner.ready

    assert not runner.ready
    by_partition: dict[int, list[int]] = defaultdict(list)
    by_key: dict[bytes, list[bytes]] = defaultdict(list)
    for record in seen:
        by_partition[record.partition].append(record.offset)
        by_key[record.key or b""].append(record.value or b"")
    assert all(offsets == sorted(set(offsets)) for offsets in by_partition.values())
    assert by_key == {k.encode(): [f"{k}|{i}".encode() for i in range(4)] for k in keys}
    ends = await end_offsets(kafka_settings, topic)
    assert await committed_offsets(kafka_settings, group, topic) == ends
    assert sample("mc_kafka_consumer_processed_total", group=group, topic=topic_name(topic)) == len(sent)
    for partition in ends:
        lag = sample("mc_kafka_consumer_lag", group=group, topic=topic_name(topic), partition=str(partition))
        assert lag == 0


async def test_handler_runs_inside_the_producers_trace(
    kafka_settings: KafkaSettings,
    topic: str,
    group: str,
    stage: str,
    span_exporter: InMemorySpanExporter,
) -> None:
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("publish events") as parent:
        await publish(kafka_settings, [OutgoingRecord(topic, b"customer-1", b"event")])
    trace_id = parent.get_span_context().trace_id
    current: list[trace.Span] = []

    async def handle(record: ConsumedRecord) -> None:
        current.append(trace.get_current_span())

    runner = make_runner(kafka_settings, topic, group, stage, handle)
    async with running(runner) as task:
        await eventually(lambda: len(current) == 1, task)

    assert current[0].get_span_context().trace_id == trace_id
    spans = [s for s in span_exporter.get_finished_spans() if s.name == f"{topic_name(topic)} process"]
    assert len(spans) == 1
    span: ReadableSpan = spans[0]
    assert span.get_span_context() == current[0].get_span_context()
    assert span.kind is SpanKind.CONSUMER
    assert span.parent is not None
    assert span.parent.trace_id == trace_id
    assert span.attributes is not None
    assert dict(span.attributes) == {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": topic_name(topic),
        "messaging.destination.partition.id": span.attributes["messaging.destination.partition.id"],
        "messaging.kafka.offset": 0,
        "messaging.consumer.group.name": group,
    }
    assert span.attributes["messaging.destination.partition.id"] in {"0", "1", "2"}


@pytest.mark.parametrize(
    ("failure", "attempts"),
    [(PermanentError("unknown schema_version 9"), 1), (RuntimeError("database gone"), 3)],
    ids=["permanent", "transient-forever"],
)
async def test_poison_record_goes_to_the_dlq_and_the_partition_moves_on(
    span_exporter: InMemorySpanExporter,  # records carry a traceparent only under a recording tracer
    kafka_settings: KafkaSettings,
    topic: str,
    group: str,
    stage: str,
    failure: Exception,
    attempts: int,
) -> None:
    values = [b"a", b"b", b"poison", b"c", b"d"]
    # One key, so one partition: the records after the poison one must still be handled.
    await publish(
        kafka_settings,
        [OutgoingRecord(topic, b"customer-7", v, [("mc.event-type", b"test")]) for v in values],
    )
    handled: list[bytes] = []
    calls: list[bytes] = []

    async def handle(record: ConsumedRecord) -> None:
        calls.append(record.value or b"")
        if record.value == b"poison":
            raise failure
        handled.append(record.value or b"")

    runner = make_runner(kafka_settings, topic, group, stage, handle, retry=FAST_RETRY)
    async with running(runner) as task:
        await eventually(lambda: len(handled) == 4, task)

    assert handled == [b"a", b"b", b"c", b"d"]
    assert calls.count(b"poison") == attempts
    [dead] = await read_topic(kafka_settings.bootstrap, f"mc.dlq.{stage}.v1")
    assert (dead.key, dead.value) == (b"customer-7", b"poison")
    headers = dict(dead.headers)
    assert headers["mc.event-type"] == b"test"
    assert "traceparent" in headers
    assert headers["mc.error.type"] == type(failure).__qualname__.encode()
    assert headers["mc.error.message"] == describe(failure).encode()  # no value of the record
    assert headers["mc.error.stage"] == stage.encode()
    assert headers["mc.error.attempts"] == str(attempts).encode()
    assert headers["mc.source.topic"] == topic_name(topic).encode()
    assert headers["mc.source.offset"] == b"2"
    partition = int(headers["mc.source.partition"])
    assert await committed_offsets(kafka_settings, group, topic) == {partition: 5}
    assert sample("mc_kafka_consumer_dead_lettered_total", group=group, topic=topic_name(topic)) == 1
    assert sample("mc_kafka_consumer_retries_total", group=group, topic=topic_name(topic)) == attempts - 1


async def test_transient_failures_are_retried_without_dlq(
    kafka_settings: KafkaSettings, topic: str, group: str, stage: str
) -> None:
    await publish(kafka_settings, [OutgoingRecord(topic, b"customer-3", b"flaky")])
    calls = 0
    done = asyncio.Event()

    async def handle(record: ConsumedRecord) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("connection reset")
        if calls == 2:
            await asyncio.sleep(30)  # hangs: the runner's handler timeout turns it into a failure
        done.set()

    runner = make_runner(kafka_settings, topic, group, stage, handle, retry=FAST_RETRY, handler_timeout_s=0.3)
    async with running(runner) as task:
        await eventually(done.is_set, task)

    assert calls == 3
    assert sample("mc_kafka_consumer_retries_total", group=group, topic=topic_name(topic)) == 2
    assert sample("mc_kafka_consumer_dead_lettered_total", group=group, topic=topic_name(topic)) == 0
    assert await end_offsets(kafka_settings, f"mc.dlq.{stage}.v1") == {}
    assert sum((await committed_offsets(kafka_settings, group, topic)).values()) == 1


async def test_a_failed_dlq_write_leaves_the_record_uncommitted(
    kafka_settings: KafkaSettings, topic: str, group: str, stage: str
) -> None:
    # A DLQ topic that vanished after start makes the DLQ write time out like an outage.
    # (`create_topics` off, or run() would recreate it.)
    settings = kafka_settings.model_copy(update={"publish_timeout_s": 1.0, "create_topics": False})
    dead_letters = KafkaPublisher(settings)
    await publish(settings, [OutgoingRecord(topic, b"customer-9", v) for v in (b"ok", b"poison")])

    async def handle(record: ConsumedRecord) -> None:
        if record.value == b"poison":
            raise PermanentError("cannot decode")

    runner = make_runner(settings, topic, group, stage, handle, dead_letters=dead_letters)
    await ensure_topics(settings, [f"mc.dlq.{stage}.v1"])
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([settings.topic(f"mc.dlq.{stage}.v1")])
    finally:
        await admin.close()
    try:
        with pytest.raises(DeadLetterFailed):
            await asyncio.wait_for(runner.run(), 30)
    finally:
        await dead_letters.stop()
    [(partition, offset)] = (await committed_offsets(settings, group, topic)).items()
    assert offset == 1, f"partition {partition}: only the record before the poison one is done"


class _RevocationWatch(logging.Handler):
    """Notices when aiokafka starts revoking a non-empty assignment of `group`."""

    def __init__(self, group: str) -> None:
        super().__init__(logging.INFO)
        self.group = group
        self.started = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        revoking = message.startswith("Revoking previously assigned partitions")
        if revoking and "TopicPartition(" in message and self.group in message:
            self.started.set()


async def test_a_rebalance_lets_the_batch_in_flight_commit_first(
    kafka_settings: KafkaSettings, topic: str, group: str, stage: str, caplog: pytest.LogCaptureFixture
) -> None:
    await publish(kafka_settings, [OutgoingRecord(topic, f"customer-{i}".encode(), b"e") for i in range(30)])
    # aiokafka logs the revocation just before it calls the runner's listener; holding the
    # first member's batch until then makes the rebalance happen while the batch is in flight.
    coordinator_log = "aiokafka.consumer.group_coordinator"
    caplog.set_level(logging.INFO, logger=coordinator_log)
    watch = _RevocationWatch(group)
    logging.getLogger(coordinator_log).addHandler(watch)
    handled: list[tuple[str, int, int]] = []
    first_busy = asyncio.Event()

    def handler_for(member: str) -> Callable[[ConsumedRecord], Awaitable[None]]:
        async def handle(record: ConsumedRecord) -> None:
            if member == "first":
                first_busy.set()
                await watch.started.wait()
            handled.append((member, record.partition, record.offset))

        return handle

    first = make_runner(kafka_settings, topic, group, stage, handler_for("first"))
    second = make_runner(kafka_settings, topic, group, stage, handler_for("second"))
    try:
        async with running(first) as first_task:
            await asyncio.wait_for(first_busy.wait(), 20)
            async with running(second) as second_task:
                await eventually(lambda: len(handled) >= 30 and second.ready, second_task)
                # After the rebalance both members own partitions and share new records.
                await publish(kafka_settings, [OutgoingRecord(topic, f"c-{i}".encode(), b"e") for i in range(30)])
                await eventually(lambda: len(handled) >= 60, second_task)
                assert not first_task.done()
    finally:
        logging.getLogger(coordinator_log).removeHandler(watch)

    positions = [(partition, offset) for _, partition, offset in handled]
    assert len(positions) == len(set(positions)) == 60, "no record handled twice"
    assert {member for member, _, _ in handled} == {"first", "second"}
    assert await committed_offsets(kafka_settings, group, topic) == await end_offsets(kafka_settings, topic)
    assert "failed after a rebalance" not in caplog.text


async def test_stop_finishes_the_batch_and_commits_it(
    kafka_settings: KafkaSettings, topic: str, group: str, stage: str
) -> None:
    await publish(kafka_settings, [OutgoingRecord(topic, b"customer-5", str(i).encode()) for i in range(20)])
    handled: list[int] = []
    runner: ConsumerRunner

    async def handle(record: ConsumedRecord) -> None:
        runner.stop()  # as SIGTERM would, while the batch is being handled
        await asyncio.sleep(0.01)
        handled.append(record.offset)

    runner = make_runner(kafka_settings, topic, group, stage, handle)
    await asyncio.wait_for(runner.run(), 30)

    assert len(handled) > 1, "the whole batch in flight is handled after stop()"
    assert handled == list(range(len(handled)))
    [committed] = (await committed_offsets(kafka_settings, group, topic)).values()
    assert committed == len(handled)


async def _worker(mode: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), mode, *args, stdout=asyncio.subprocess.PIPE
    )


async def test_a_crash_before_commit_redelivers_and_the_effect_stays_once(
    kafka_settings: KafkaSettings, topic: str, group: str, engine: AsyncEngine, database_url: str
) -> None:
    tables = f"kill_{uuid.uuid4().hex[:8]}"
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE TABLE {tables}_effects (event_id text PRIMARY KEY)"))
        await conn.execute(text(f"CREATE TABLE {tables}_attempts (event_id text PRIMARY KEY, n int NOT NULL)"))
    events = [f"evt-{i}" for i in range(12)]
    await publish(
        kafka_settings,
        [OutgoingRecord(topic, f"customer-{i % 5}".encode(), e.encode()) for i, e in enumerate(events)],
    )
    args = (kafka_settings.bootstrap, topic, group, database_url, tables)

    # 1. Handle a batch, then die before its offsets are committed.
    worker = await _worker("block", *args)
    try:
        assert worker.stdout is not None
        line = await asyncio.wait_for(worker.stdout.readline(), 30)
        assert line.startswith(b"BLOCKED "), line
        first_batch: dict[str, int] = json.loads(line.removeprefix(b"BLOCKED "))
    finally:
        worker.kill()
        await worker.wait()
    assert await committed_offsets(kafka_settings, group, topic) == {}

    # 2. The next member of the group gets the same records again, commits, and drains
    #    on SIGTERM like a service does.
    ends = await end_offsets(kafka_settings, topic)
    worker = await _worker("drain", *args)
    try:
        async with asyncio.timeout(40):
            while await committed_offsets(kafka_settings, group, topic) != ends:
                await asyncio.sleep(0.2)
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(worker.wait(), 20) == 0
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()

    async with engine.begin() as conn:
        effects = (await conn.execute(text(f"SELECT event_id FROM {tables}_effects"))).scalars().all()
        rows = await conn.execute(text(f"SELECT event_id, n FROM {tables}_attempts"))
        attempts: dict[str, int] = {row.event_id: row.n for row in rows}
        await conn.execute(text(f"DROP TABLE {tables}_effects, {tables}_attempts"))
    assert sorted(effects) == sorted(events)
    redelivered = sum(1 for n in attempts.values() if n >= 2)
    assert redelivered == sum(first_batch.values()), "every record of the lost batch came again"
    assert set(attempts.values()) <= {1, 2}
    assert await committed_offsets(kafka_settings, group, topic) == await end_offsets(kafka_settings, topic)


async def test_offsets_wait_for_the_before_commit_step(
    kafka_settings: KafkaSettings, topic: str, group: str, stage: str
) -> None:
    sent = [OutgoingRecord(topic, f"k{i}".encode(), b"v") for i in range(6)]
    await publish(kafka_settings, sent)
    handled: list[int] = []
    calls = 0

    async def handle(record: ConsumedRecord) -> None:
        handled.append(record.offset)

    async def flaky_flush() -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:
            assert await committed_offsets(kafka_settings, group, topic) == {}, "committed before the flush"
            raise ConnectionError("broker away")

    runner = make_runner(
        kafka_settings, topic, group, stage, handle, before_commit=flaky_flush, retry=RetryPolicy(base_delay_s=0.05)
    )
    async with running(runner) as task:
        await eventually(lambda: calls >= 3 and len(handled) == len(sent), task)
        ends = await end_offsets(kafka_settings, topic)
        async with asyncio.timeout(20):
            while await committed_offsets(kafka_settings, group, topic) != ends:
                await asyncio.sleep(0.05)
    assert len(handled) == len(sent), "a failing before-commit step retries itself, not the handlers"


async def test_failure_spans_carry_the_error_type_but_never_its_message(
    kafka_settings: KafkaSettings, topic: str, group: str, stage: str, span_exporter: InMemorySpanExporter
) -> None:
    await publish(kafka_settings, [OutgoingRecord(topic, b"customer-9", b"x")])
    secret = "Key (kind, value)=(email, ada@example.com) already exists"

    async def handle(record: ConsumedRecord) -> None:
        raise PermanentError(secret)

    runner = make_runner(kafka_settings, topic, group, stage, handle, retry=FAST_RETRY)
    async with running(runner) as task:
        await eventually(
            lambda: sample("mc_kafka_consumer_dead_lettered_total", group=group, topic=topic_name(topic)) == 1, task
        )

    [span] = [s for s in span_exporter.get_finished_spans() if s.name == f"{topic_name(topic)} process"]
    assert [dict(e.attributes or {}) for e in span.events] == [{"exception.type": "PermanentError", "mc.attempt": 1}]
    assert "ada@example.com" not in str(span.to_json())


async def test_a_batch_handler_gets_each_partitions_records_together_in_order(
    kafka_settings: KafkaSettings, topic: str, group: str, stage: str, span_exporter: InMemorySpanExporter
) -> None:
    keys = [f"customer-{k}" for k in range(6)]
    sent = [OutgoingRecord(topic, k.encode(), f"{k}|{i}".encode()) for i in range(5) for k in keys]
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("publish events") as parent:
        await publish(kafka_settings, sent)
    batches: list[list[ConsumedRecord]] = []
    singles: list[ConsumedRecord] = []

    async def handle(record: ConsumedRecord) -> None:
        singles.append(record)

    async def handle_batch(records: Sequence[ConsumedRecord]) -> None:
        batches.append(list(records))

    runner = make_runner(kafka_settings, topic, group, stage, handle, batch_handler=handle_batch)
    async with running(runner) as task:
        await eventually(lambda: sum(len(b) for b in batches) + len(singles) == len(sent), task)

    assert batches, "the batch handler was never used"
    for batch in batches:
        assert len({r.partition for r in batch}) == 1
        assert [r.offset for r in batch] == list(range(batch[0].offset, batch[0].offset + len(batch)))
    by_key: dict[bytes, list[bytes]] = defaultdict(list)
    for record in sorted([r for b in batches for r in b] + singles, key=lambda r: (r.partition, r.offset)):
        by_key[record.key or b""].append(record.value or b"")
    assert by_key == {k.encode(): [f"{k}|{i}".encode() for i in range(5)] for k in keys}
    assert await committed_offsets(kafka_settings, group, topic) == await end_offsets(kafka_settings, topic)
    assert sample("mc_kafka_consumer_processed_total", group=group, topic=topic_name(topic)) == len(sent)
    spans = [s for s in span_exporter.get_finished_spans() if s.name == f"{topic_name(topic)} process"]
    counts = sorted(int(str(s.attributes.get("messaging.batch.message_count", 1))) for s in spans if s.attributes)
    assert counts == sorted([len(b) for b in batches] + [1] * len(singles))
    trace_id = parent.get_span_context().trace_id
    for span in spans:
        assert span.kind is SpanKind.CONSUMER
        if span.attributes and "messaging.batch.message_count" in span.attributes:
            assert span.parent is None
            assert span.links
            assert all(link.context.trace_id == trace_id for link in span.links)


async def test_a_failed_batch_is_handled_record_by_record_and_only_the_poison_is_dead_lettered(
    kafka_settings: KafkaSettings, topic: str, group: str, stage: str
) -> None:
    values = [b"a", b"b", b"poison", b"c", b"d"]
    await publish(kafka_settings, [OutgoingRecord(topic, b"customer-7", v) for v in values])
    handled: list[bytes] = []
    batch_calls: list[int] = []

    async def handle(record: ConsumedRecord) -> None:
        if record.value == b"poison":
            raise PermanentError("not an event")
        handled.append(record.value or b"")

    async def handle_batch(records: Sequence[ConsumedRecord]) -> None:
        batch_calls.append(len(records))
        if any(r.value == b"poison" for r in records):
            raise PermanentError("not an event")  # all or nothing: it wrote nothing
        handled.extend(r.value or b"" for r in records)

    runner = make_runner(kafka_settings, topic, group, stage, handle, batch_handler=handle_batch, retry=FAST_RETRY)
    async with running(runner) as task:
        await eventually(lambda: len(handled) == 4, task)

    assert handled == [b"a", b"b", b"c", b"d"]
    assert batch_calls == [5]
    [dead] = await read_topic(kafka_settings.bootstrap, f"mc.dlq.{stage}.v1")
    assert dead.value == b"poison"
    partition = int(dict(dead.headers)["mc.source.partition"])
    assert await committed_offsets(kafka_settings, group, topic) == {partition: 5}
    assert sample("mc_kafka_batch_fallbacks_total", group=group, topic=topic_name(topic)) == 1


async def test_a_value_postgres_refuses_is_dead_lettered_at_once_and_quoted_nowhere(
    kafka_settings: KafkaSettings,
    database_settings: DatabaseSettings,
    topic: str,
    group: str,
    stage: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A record naming a customer by e-mail whose value holds U+0000: PostgreSQL refuses it
    # (SQLSTATE 22021) however often it is tried, and the failing statement's parameters
    # hold an API key hash and an e-mail address.
    key_hash, email = f"keyhash-{uuid.uuid4().hex}", f"planted.{uuid.uuid4().hex[:8]}@example.com"
    await publish(
        kafka_settings, [OutgoingRecord(topic, b"customer-9", b"nul"), OutgoingRecord(topic, b"customer-9", b"ok")]
    )
    engine = create_engine(database_settings, application_name="metaconnect-dlqtest")
    calls: list[bytes] = []

    async def handle(record: ConsumedRecord) -> None:
        calls.append(record.value or b"")
        if record.value == b"nul":
            async with engine.begin() as conn:
                await conn.execute(
                    text("SELECT CAST(:hash AS text), CAST(:email AS text), CAST(:bad AS text)"),
                    {"hash": key_hash, "email": email, "bad": "a\x00b"},
                )

    runner = make_runner(kafka_settings, topic, group, stage, handle, retry=RetryPolicy(attempts=8, base_delay_s=2))
    caplog.set_level(logging.DEBUG)
    try:
        async with running(runner) as task:
            await eventually(lambda: calls[-1:] == [b"ok"], task)
    finally:
        await engine.dispose()

    assert calls == [b"nul", b"ok"]  # no retry: the same value fails the same way
    [dead] = await read_topic(kafka_settings.bootstrap, f"mc.dlq.{stage}.v1")
    headers = dict(dead.headers)
    assert headers["mc.error.attempts"] == b"1"
    assert headers["mc.error.message"] == b"the database refused the statement (SQLSTATE 22021)"
    written = b"".join(headers.values()).decode() + caplog.text + "".join(capsys.readouterr())
    for planted in (key_hash, email):
        assert planted not in written


async def test_with_a_linger_records_that_arrive_just_after_a_fetch_join_its_batch(
    kafka_settings: KafkaSettings, topic: str, group: str, stage: str
) -> None:
    """Under load a short wait makes fewer, larger transactions; the records keep their order."""
    lingering = kafka_settings.model_copy(update={"consumer_linger_ms": 400})
    key = b"customer-1"
    await publish(kafka_settings, [OutgoingRecord(topic, key, b"warm-up")])
    batches: list[list[bytes]] = []

    async def handle(record: ConsumedRecord) -> None:
        batches.append([record.value or b""])

    async def handle_batch(records: Sequence[ConsumedRecord]) -> None:
        batches.append([r.value or b"" for r in records])

    runner = make_runner(lingering, topic, group, stage, handle, batch_handler=handle_batch)
    async with running(runner) as task:
        await eventually(lambda: batches == [[b"warm-up"]], task)
        publisher = KafkaPublisher(kafka_settings)
        try:
            for n in range(3):  # one at a time, 50 ms apart: each would be a fetch of its own
                await publisher.publish([OutgoingRecord(topic, key, f"r{n}".encode())])
                await asyncio.sleep(0.05)
        finally:
            await publisher.stop()
        await eventually(lambda: sum(len(b) for b in batches) == 4, task)
    assert batches[1:] == [[b"r0", b"r1", b"r2"]]
