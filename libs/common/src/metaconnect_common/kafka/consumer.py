"""The consumer runner every service uses: at-least-once, bounded retries, then DLQ.

One `ConsumerRunner` per consuming stage. It fetches batches with `getmany`, hands each
record to an async handler, and commits `{partition: last handled offset + 1}` only
after the handler returned for every record up to that offset (and any DLQ write was
acknowledged). Records of one partition are handled strictly in order; the partitions
of one batch run concurrently (one task each), so a slow customer key delays only
its own partition. Handlers must therefore be idempotent (a crash before the commit
redelivers the batch) and safe to run concurrently for different keys.

With a `batch_handler`, a partition's records of one fetch go to it together first (one
transaction for all of them, say); if it raises, they are handled one by one as above,
so a poison record still ends in the DLQ alone. A batch handler must be all or nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from metaconnect_common.kafka import metrics
from metaconnect_common.kafka.admin import ensure_topics
from metaconnect_common.kafka.dead_letters import DeadLetterFailed, dead_letter, where
from metaconnect_common.kafka.producer import KafkaPublisher
from metaconnect_common.kafka.records import BatchHandler, ConsumedRecord, Handler, RetryPolicy, is_permanent
from metaconnect_common.kafka.tracing import extract_context
from metaconnect_common.settings import KafkaSettings
from metaconnect_common.topics import dlq_topic

log = logging.getLogger(__name__)
tracer = trace.get_tracer("metaconnect.kafka")

START_TIMEOUT_S = 30.0
LAG_EVERY_S = 1.0  # how often the lag of every assigned partition is recorded


@dataclass
class _PartitionOutcome:
    next_offset: int | None = None  # what to commit; None when nothing was handled
    failure: DeadLetterFailed | None = None


class ConsumerRunner:
    """Consumes `topics` as consumer group `group_id` and runs `handler` on every record.

    `stage` names the dead-letter topic (`mc.dlq.<stage>.v1`). Failed records are retried
    per `retry`; a `PermanentError`, or a database error over a value the record carried
    (`records.is_permanent`), skips the retries. A record that still fails goes to
    the DLQ with error headers and its partition moves on. A handler call running longer
    than `handler_timeout_s` counts as a failure. `before_commit`, if given, runs after a
    batch's handlers and before its offsets are committed (retried until it succeeds):
    work the handlers left to finish once per batch, such as publishing an outbox.
    `batch_handler`, if given, gets each partition's records of a fetch together first
    (see the module's doc). `run()` returns after `stop()` once the batch in flight is handled and committed.

    A batch holds up to `max_records`; keep `max_records` x worst-case retry time well
    under the consumer's `max.poll.interval` (300 s), or the group evicts the member.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        group_id: str,
        topics: Sequence[str],
        stage: str,
        handler: Handler,
        retry: RetryPolicy | None = None,
        max_records: int = 100,
        handler_timeout_s: float | None = 30.0,
        poll_timeout_ms: int = 1000,
        auto_offset_reset: Literal["earliest", "latest"] = "earliest",
        dead_letters: KafkaPublisher | None = None,
        client_id: str | None = None,
        before_commit: Callable[[], Awaitable[object]] | None = None,
        batch_handler: BatchHandler | None = None,
    ) -> None:
        if not group_id or not topics or not stage:
            raise ValueError("group_id, topics and stage are required")
        self._settings = settings
        self._group_id = group_id
        self._topics = list(topics)  # as the code names them; on the broker with the settings' prefix
        for topic in topics:  # every series from zero, so rates and alerts see the first increase
            for counter in (metrics.PROCESSED, metrics.RETRIES, metrics.DEAD_LETTERED, metrics.BATCH_FALLBACKS):
                counter.labels(group_id, settings.topic(topic))
        self._stage = stage
        self.dlq_topic = dlq_topic(stage)
        self._handler = handler
        self._retry = retry or RetryPolicy()
        self._max_records = max_records
        self._handler_timeout_s = handler_timeout_s
        self._poll_timeout_ms = poll_timeout_ms
        self._auto_offset_reset = auto_offset_reset
        self._client_id = client_id or f"{settings.client_id}-{stage}"
        self._before_commit = before_commit
        self._batch_handler = batch_handler
        # A shared publisher stays the caller's to start and stop.
        self._owns_publisher = dead_letters is None
        self._dead_letters = dead_letters or KafkaPublisher(settings, client_id=f"{self._client_id}-dlq")
        self._consumer: AIOKafkaConsumer | None = None
        self._assigned = False
        self._running = False
        self._stop_requested = asyncio.Event()
        # Set while no batch is in flight; a revocation waits for it (see _DrainOnRevoke).
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def group_id(self) -> str:
        """The consumer group this runner commits for."""
        return self._group_id

    @property
    def ready(self) -> bool:
        """True once the consumer is started and has joined its group (for `/readyz`).

        A member that got no partitions (more replicas than partitions) is still ready.
        """
        return self._consumer is not None and self._assigned and not self._stop_requested.is_set()

    def stop(self) -> None:
        """Ask `run()` to finish the batch in flight, commit it, close and return.

        Safe to call from a signal handler and more than once. A record waiting for a
        retry backoff is not retried; it and the rest of its partition are left
        uncommitted and consumed again by the next owner.
        """
        self._stop_requested.set()

    async def run(self) -> None:
        """Create the topics (unless `create_topics` is off), join the group and consume
        until `stop()`.

        Raises `DeadLetterFailed` (after committing everything before the record) when
        a failed record cannot be dead-lettered.
        """
        if self._running:
            raise RuntimeError("this runner is already running")
        self._running = True
        try:
            if self._settings.create_topics:
                await ensure_topics(self._settings, [*self._topics, self.dlq_topic])
            await self._dead_letters.start()
            consumer = self._make_consumer()
            try:
                await asyncio.wait_for(consumer.start(), START_TIMEOUT_S)
                consumer.subscribe([self._settings.topic(t) for t in self._topics], listener=_DrainOnRevoke(self))
                self._consumer = consumer
                await self._consume(consumer)
            finally:
                self._consumer = None
                self._assigned = False
                await _quietly(consumer.stop(), "consumer stop")
        finally:
            if self._owns_publisher:
                await _quietly(self._dead_letters.stop(), "DLQ publisher stop")
            self._running = False

    def _make_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self._settings.bootstrap,
            client_id=self._client_id,
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset=self._auto_offset_reset,
            max_poll_records=self._max_records,
            # request_timeout_ms stays at aiokafka's 40 s: JoinGroup may legitimately
            # block for the rebalance timeout, longer than the producer's setting.
        )

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        stop_wait = asyncio.ensure_future(self._stop_requested.wait())
        lag_recorded_at = -LAG_EVERY_S
        try:
            while not self._stop_requested.is_set():
                fetch = asyncio.ensure_future(
                    consumer.getmany(timeout_ms=self._poll_timeout_ms, max_records=self._max_records)
                )
                # getmany blocks past its timeout while the group rebalances; racing it
                # with stop() keeps shutdown prompt. Cancelling it loses no records: it
                # only advances the position when it returns them.
                await asyncio.wait({fetch, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
                if not fetch.done():
                    fetch.cancel()
                    await asyncio.wait({fetch})
                    break
                batch: dict[TopicPartition, list[Any]] = fetch.result()
                if batch and self._settings.consumer_linger_ms:
                    await self._linger(consumer, batch)
                if batch:
                    await self._process_batch(consumer, batch)
                if time.monotonic() - lag_recorded_at >= LAG_EVERY_S:
                    # Every assigned partition, also the quiet ones (fetches report their highwater).
                    await metrics.record_lag(consumer, self._group_id, consumer.assignment())
                    lag_recorded_at = time.monotonic()
        finally:
            stop_wait.cancel()

    async def _linger(self, consumer: AIOKafkaConsumer, batch: dict[TopicPartition, list[Any]]) -> None:
        """Short of a full batch: wait `consumer_linger_ms`, then add what arrived meanwhile (after
        each partition's records, so their order holds)."""
        room = self._max_records - sum(len(records) for records in batch.values())
        deadline = time.monotonic() + self._settings.consumer_linger_ms / 1000
        while room > 0 and (left := deadline - time.monotonic()) > 0:
            more: dict[TopicPartition, list[Any]] = await consumer.getmany(
                timeout_ms=max(1, int(left * 1000)), max_records=room
            )
            for tp, records in more.items():
                batch.setdefault(tp, []).extend(records)
                room -= len(records)

    async def _process_batch(self, consumer: AIOKafkaConsumer, batch: dict[TopicPartition, list[Any]]) -> None:
        self._idle.clear()
        try:
            outcomes = await asyncio.gather(*(self._process_partition(records) for records in batch.values()))
            offsets = {
                tp: outcome.next_offset
                for tp, outcome in zip(batch, outcomes, strict=True)
                if outcome.next_offset is not None
            }
            if offsets and not await self._finish_batch():
                return  # stopping before the batch's work was durable: it is consumed again
            # Commit what is durable even when one partition failed, so only the
            # failed record and what follows it is consumed again.
            await self._commit(consumer, offsets)
            await metrics.record_lag(consumer, self._group_id, batch)
            for outcome in outcomes:
                if outcome.failure is not None:
                    raise outcome.failure
        finally:
            self._idle.set()

    async def _finish_batch(self) -> bool:
        """Run `before_commit` (e.g. publish an outbox) until it succeeds; False if stopped first."""
        if self._before_commit is None:
            return True
        attempt = 0
        while True:
            try:
                await self._before_commit()
                return True
            except Exception as exc:  # the broker or database may be away: keep the offsets, try again
                attempt += 1
                log.warning("before-commit step failed (attempt %d): %s", attempt, type(exc).__name__)
                if self._stop_requested.is_set():
                    return False
                await asyncio.sleep(self._retry.delay_s(min(attempt, 8)))

    async def _process_partition(self, raws: Iterable[Any]) -> _PartitionOutcome:
        outcome = _PartitionOutcome()
        records = [
            ConsumedRecord(
                raw.topic, raw.partition, raw.offset, raw.key, raw.value, list(raw.headers or ()), raw.timestamp
            )
            for raw in raws
        ]
        if len(records) > 1 and await self._process_together(records):
            outcome.next_offset = records[-1].offset + 1
            return outcome
        for record in records:
            try:
                if not await self._process_record(record):
                    break  # stop() came during a backoff: leave the rest for the next owner
            except DeadLetterFailed as exc:
                outcome.failure = exc
                break
            outcome.next_offset = record.offset + 1
        return outcome

    async def _process_together(self, records: Sequence[ConsumedRecord]) -> bool:
        """One batch handler call for a partition's records; False (handle them one by one) if it failed."""
        if self._batch_handler is None:
            return False
        first = records[0]
        labels = (self._group_id, first.topic)
        # Semantic conventions for batch processing: one span, linked to every record's producer.
        links = [
            trace.Link(context)
            for record in records
            if (context := trace.get_current_span(extract_context(record.headers)).get_span_context()).is_valid
        ]
        span = tracer.start_span(
            f"{first.topic} process",
            kind=SpanKind.CONSUMER,
            links=links,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": first.topic,
                "messaging.destination.partition.id": str(first.partition),
                "messaging.batch.message_count": len(records),
                "messaging.consumer.group.name": self._group_id,
            },
        )
        started = time.perf_counter()
        with trace.use_span(span, end_on_exit=True):
            try:
                async with asyncio.timeout(self._handler_timeout_s):
                    await self._batch_handler(records)
            except Exception as exc:
                metrics.BATCH_FALLBACKS.labels(*labels).inc()
                span.add_event("exception", {"exception.type": type(exc).__qualname__})
                log.info(
                    "batch of %d on %s failed (%s); handling them one by one",
                    len(records),
                    where(first),
                    type(exc).__qualname__,
                )
                return False
            finally:
                metrics.BATCH_SECONDS.labels(*labels).observe(time.perf_counter() - started)
        metrics.PROCESSED.labels(*labels).inc(len(records))
        return True

    async def _process_record(self, record: ConsumedRecord) -> bool:
        """Handle one record with retries; False if stop() interrupted a backoff."""
        labels = (self._group_id, record.topic)
        span = tracer.start_span(
            f"{record.topic} process",
            context=extract_context(record.headers),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": record.topic,
                "messaging.destination.partition.id": str(record.partition),
                "messaging.kafka.offset": record.offset,
                "messaging.consumer.group.name": self._group_id,
            },
        )
        # The span stays current while the handler runs, so its DB and HTTP spans and
        # the records it publishes belong to the producer's trace.
        with trace.use_span(span, end_on_exit=True):
            attempt = 0
            while True:
                attempt += 1
                started = time.perf_counter()
                try:
                    # A hung handler would block the partition and stop() for ever: a
                    # timeout makes it an ordinary, retried failure.
                    async with asyncio.timeout(self._handler_timeout_s):
                        await self._handler(record)
                except Exception as exc:
                    metrics.HANDLER_SECONDS.labels(*labels).observe(time.perf_counter() - started)
                    # The type only: messages of database errors can quote the identifiers
                    # they tripped over, and spans must carry no personal data.
                    span.add_event("exception", {"exception.type": type(exc).__qualname__, "mc.attempt": attempt})
                    if is_permanent(exc) or attempt >= self._retry.attempts:
                        span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))
                        await self._dead_letter(record, exc, attempt)
                        return True
                    metrics.RETRIES.labels(*labels).inc()
                    log.warning("handler failed on %s (attempt %d): %r", where(record), attempt, type(exc))
                    if await self._stopped_within(self._retry.delay_s(attempt)):
                        return False
                else:
                    metrics.HANDLER_SECONDS.labels(*labels).observe(time.perf_counter() - started)
                    metrics.PROCESSED.labels(*labels).inc()
                    return True

    async def _stopped_within(self, delay_s: float) -> bool:
        try:
            await asyncio.wait_for(self._stop_requested.wait(), delay_s)
        except TimeoutError:
            return False
        return True

    async def _dead_letter(self, record: ConsumedRecord, exc: Exception, attempts: int) -> None:
        dead = dead_letter(record, exc, stage=self._stage, attempts=attempts, topic=self.dlq_topic)
        try:
            await self._dead_letters.publish([dead])
        except Exception as publish_error:
            raise DeadLetterFailed(f"cannot dead-letter {where(record)}") from publish_error
        metrics.DEAD_LETTERED.labels(self._group_id, record.topic).inc()
        log.error(
            "dead-lettered %s to %s after %d attempt(s)", where(record), self._settings.topic(self.dlq_topic), attempts
        )

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The group rebalanced under us: the new owner starts at the last commit and
            # handles these records again, which idempotent handlers make harmless.
            log.warning("commit for group %s failed after a rebalance: %r", self._group_id, exc)


class _DrainOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """Lets the batch in flight finish and commit before the partitions are given away.

    aiokafka calls this before it rejoins the group, while this member still owns the
    partitions, so the batch's commit succeeds instead of being redone by the next owner.
    """

    def __init__(self, runner: ConsumerRunner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._runner._idle.wait()
        metrics.forget_lag(self._runner.group_id, revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._runner._assigned = True
        log.info("group %s assigned %s", self._runner.group_id, sorted(assigned))


async def _quietly(closing: Awaitable[None], what: str) -> None:
    try:
        await asyncio.wait_for(closing, 30)
    except Exception:  # closing must never mask the error that made us close
        log.warning("%s failed", what, exc_info=True)
