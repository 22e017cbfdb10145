"""Prometheus metrics of the Kafka consumer runner.

Module-level objects registered once per process: several runners in one process
(one per consumed stage) share them and differ only by their labels, so creating a
second runner never raises "Duplicated timeseries in CollectorRegistry".
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import Counter, Gauge, Histogram

CONSUMER_LAG = Gauge(
    "mc_kafka_consumer_lag",
    "Records not yet consumed: highwater minus position, updated after each batch.",
    ["group", "topic", "partition"],
)
HANDLER_SECONDS = Histogram(
    "mc_kafka_handler_seconds",
    "Duration of one handler call (one attempt on one record).",
    ["group", "topic"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PROCESSED = Counter(
    "mc_kafka_consumer_processed_total",
    "Records the handler completed successfully.",
    ["group", "topic"],
)
RETRIES = Counter(
    "mc_kafka_consumer_retries_total",
    "Handler attempts that failed and were retried after a backoff.",
    ["group", "topic"],
)
DEAD_LETTERED = Counter(
    "mc_kafka_consumer_dead_lettered_total",
    "Records written to the stage's dead-letter topic.",
    ["group", "topic"],
)
BATCH_SECONDS = Histogram(
    "mc_kafka_batch_handler_seconds",
    "Duration of one batch handler call (one partition's records of one fetch, together).",
    ["group", "topic"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BATCH_FALLBACKS = Counter(
    "mc_kafka_batch_fallbacks_total",
    "Batch handler calls that failed, after which the records were handled one by one.",
    ["group", "topic"],
)


async def record_lag(consumer: AIOKafkaConsumer, group_id: str, partitions: Iterable[TopicPartition]) -> None:
    """Set the lag of the consumer's assigned `partitions` (highwater minus position)."""
    assigned: set[TopicPartition] = consumer.assignment()
    for tp in partitions:
        if tp not in assigned:
            continue
        highwater: int | None = consumer.highwater(tp)
        if highwater is None:
            continue
        position: int = await consumer.position(tp)
        CONSUMER_LAG.labels(group_id, tp.topic, str(tp.partition)).set(max(0, highwater - position))


def forget_lag(group_id: str, partitions: Iterable[TopicPartition]) -> None:
    """A revoked partition's lag is now reported by its new owner."""
    for tp in partitions:
        with suppress(KeyError):
            CONSUMER_LAG.remove(group_id, tp.topic, str(tp.partition))
