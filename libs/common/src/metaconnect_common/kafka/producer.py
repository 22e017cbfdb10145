"""Producer wrapper: `acks=all`, idempotent where the broker supports it, compressed,
keyed by the customer key, trace context injected into the headers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from metaconnect_common.kafka.tracing import Headers, inject_headers
from metaconnect_common.settings import KafkaSettings

log = logging.getLogger(__name__)
tracer = trace.get_tracer("metaconnect.kafka")


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
        """
        producer = await self._ensure()
        batch = list(records)
        if not batch:
            return []
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
        futures = []
        try:
            async with asyncio.timeout(self._settings.publish_timeout_s):
                for record in batch:
                    headers: Headers = list(record.headers)
                    if not _has_traceparent(headers):
                        headers.extend(trace_headers)
                    futures.append(await producer.send(record.topic, record.value, key=record.key, headers=headers))
                metas = await asyncio.gather(*futures)
        except (KafkaError, TimeoutError) as exc:
            for future in futures:
                future.cancel()
            span.set_status(StatusCode.ERROR, type(exc).__name__)
            span.end()
            raise BrokerUnavailable(f"Kafka did not acknowledge: {exc!r}") from exc
        if len(metas) == 1:
            span.set_attribute("messaging.destination.partition.id", str(metas[0].partition))
            span.set_attribute("messaging.kafka.offset", metas[0].offset)
        span.end()
        return [Acknowledged(m.topic, m.partition, m.offset) for m in metas]

    async def publish_one(self, record: OutgoingRecord) -> Acknowledged:
        return (await self.publish([record]))[0]


def _has_traceparent(headers: Sequence[tuple[str, bytes]]) -> bool:
    return any(k == "traceparent" for k, _ in headers)


async def _quietly_stop(producer: AIOKafkaProducer) -> None:
    try:
        await asyncio.wait_for(producer.stop(), 10)
    except Exception:  # stopping a broken producer must never mask the real error
        log.debug("producer stop failed", exc_info=True)
