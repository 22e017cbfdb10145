"""Producer wrapper: `acks=all`, idempotent where the broker supports it, compressed,
keyed by the customer key, trace context injected into the headers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from metaconnect_common.kafka.tracing import has_traceparent, inject_headers
from metaconnect_common.settings import KafkaSettings

log = logging.getLogger(__name__)
tracer = trace.get_tracer("metaconnect.kafka")
_partitioner = DefaultPartitioner()
# From this many records on, a publish builds one record batch per partition itself.
_BATCH_THRESHOLD = 16


class BrokerUnavailable(Exception):
    """The broker did not acknowledge in time; the caller should retry later."""


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()


@dataclass(frozen=True)
class Acknowledged:
    topic: str
    partition: int
    offset: int


class KafkaPublisher:
    """Sends records and waits for the broker's acknowledgement.

    Starts lazily and re-creates the underlying producer after it failed to start, so
    a service that came up while the broker was down recovers without a restart.
    """

    def __init__(self, settings: KafkaSettings, *, client_id: str | None = None) -> None:
        self._settings = settings
        self._client_id = client_id or settings.client_id
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    def _make(self) -> AIOKafkaProducer:
        s = self._settings
        return AIOKafkaProducer(
            bootstrap_servers=s.bootstrap,
            client_id=self._client_id,
            acks="all",
            enable_idempotence=s.idempotence,
            compression_type=None if s.compression == "none" else s.compression,
            linger_ms=s.linger_ms,
            request_timeout_ms=s.request_timeout_ms,
            max_batch_size=256 * 1024,
        )

    async def start(self) -> None:
        """Connect now; raises BrokerUnavailable when the broker cannot be reached."""
        await self._ensure()

    async def _ensure(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is None:
                producer = self._make()
                try:
                    await asyncio.wait_for(producer.start(), self._settings.publish_timeout_s)
                except (KafkaError, OSError, TimeoutError) as exc:
                    await _quietly_stop(producer)
                    raise BrokerUnavailable(f"cannot reach Kafka at {self._settings.bootstrap}: {exc!r}") from exc
                self._producer = producer
        return self._producer

    async def stop(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await _quietly_stop(producer)

    @property
    def connected(self) -> bool:
        return self._producer is not None

    async def ping(self) -> None:
        """Raise unless the broker answers a metadata request now."""
        producer = await self._ensure()
        await producer.client.fetch_all_metadata()

    async def publish(self, records: Iterable[OutgoingRecord]) -> list[Acknowledged]:
        """Send all records, then wait until every one is acknowledged by the broker.

        Raises BrokerUnavailable if that does not happen within `publish_timeout_s`.
        A timed-out record may still be written later: consumers deduplicate by id.
        Records name their topic as the code does; the settings' prefix is added here.
        """
        producer = await self._ensure()
        batch = list(records)
        if not batch:
            return []
        if self._settings.topic_prefix:
            batch = [replace(r, topic=self._settings.topic(r.topic)) for r in batch]
        # One PRODUCER span per call (a span per record costs more than the send itself),
        # ended when the last acknowledgement arrived. Records that already carry trace
        # context (outbox rows written while handling a consumed record) keep theirs.
        span = tracer.start_span(
            f"{batch[0].topic} publish",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.destination.name": batch[0].topic,
                "messaging.batch.message_count": len(batch),
            },
        )
        trace_headers = inject_headers((), trace.set_span_in_context(span))
        staged = [(r, r.headers if has_traceparent(r.headers) else [*r.headers, *trace_headers]) for r in batch]
        futures: list[asyncio.Future[Any]] = []
        try:
            async with asyncio.timeout(self._settings.publish_timeout_s):
                if len(batch) >= _BATCH_THRESHOLD:
                    acks = await self._send_batched(producer, staged, futures)
                else:
                    for record, headers in staged:
                        futures.append(
                            await producer.send(record.topic, record.value, key=record.key, headers=list(headers))
                        )
                    metas = await asyncio.gather(*futures)
                    acks = [Acknowledged(m.topic, m.partition, m.offset) for m in metas]
        except (KafkaError, TimeoutError) as exc:
            for future in futures:
                future.cancel()
            span.set_status(StatusCode.ERROR, type(exc).__name__)
            span.end()
            raise BrokerUnavailable(f"Kafka did not acknowledge: {exc!r}") from exc
        if len(acks) == 1:
            span.set_attribute("messaging.destination.partition.id", str(acks[0].partition))
            span.set_attribute("messaging.kafka.offset", acks[0].offset)
        span.end()
        return acks

    async def _send_batched(
        self,
        producer: AIOKafkaProducer,
        staged: Sequence[tuple[OutgoingRecord, Sequence[tuple[str, bytes]]]],
        futures: list[asyncio.Future[Any]],
    ) -> list[Acknowledged]:
        """Many records at once: one record batch per partition instead of one `send` each.

        Partitions are chosen as `send` chooses them (murmur2 of the key), so a customer's
        records land on the same partition whichever path wrote them.
        """
        by_partition: dict[tuple[str, int], list[int]] = {}
        partitions: dict[str, list[int]] = {}
        for index, (record, _) in enumerate(staged):
            if record.topic not in partitions:
                partitions[record.topic] = sorted(await producer.partitions_for(record.topic))
            all_partitions = partitions[record.topic]
            partition = _partitioner(record.key, all_partitions, all_partitions)
            by_partition.setdefault((record.topic, partition), []).append(index)
        sent: list[tuple[int, list[int]]] = []  # (future index, record indexes in batch order)
        for (topic, partition), indexes in by_partition.items():
            builder = producer.create_batch()
            members: list[int] = []
            for index in indexes:
                record, headers = staged[index]
                fields = {"key": record.key, "value": record.value, "timestamp": None, "headers": list(headers)}
                if builder.append(**fields) is None:  # full: send it, start the next
                    futures.append(await producer.send_batch(builder, topic, partition=partition))
                    sent.append((len(futures) - 1, members))
                    builder, members = producer.create_batch(), []
                    if builder.append(**fields) is None:
                        raise ValueError(f"a record of {len(record.value or b'')} bytes exceeds the batch size")
                members.append(index)
            futures.append(await producer.send_batch(builder, topic, partition=partition))
            sent.append((len(futures) - 1, members))
        metas = await asyncio.gather(*futures)
        acks: list[Acknowledged | None] = [None] * len(staged)
        for future_index, members in sent:
            meta = metas[future_index]
            for relative, index in enumerate(members):
                acks[index] = Acknowledged(meta.topic, meta.partition, meta.offset + relative)
        return [a for a in acks if a is not None]

    async def publish_one(self, record: OutgoingRecord) -> Acknowledged:
        return (await self.publish([record]))[0]


async def _quietly_stop(producer: AIOKafkaProducer) -> None:
    try:
        await asyncio.wait_for(producer.stop(), 10)
    except Exception:  # stopping a broken producer must never mask the real error
        log.debug("producer stop failed", exc_info=True)
