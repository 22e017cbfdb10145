"""Topic names. Every topic is keyed by the customer key, values are JSON."""

from types import MappingProxyType

INTERACTIONS = "mc.interactions.v1"
PROFILED = "mc.profiled.v1"
DELIVERIES = "mc.deliveries.v1"
CUSTOMERS = "mc.customers.v1"
"""Which customer each identifier names now, keyed by the ref (compacted: the latest value per
ref is kept for good, a tombstone forgets it). Profile writes it, ingest reads it."""


def dlq_topic(stage: str) -> str:
    """The dead-letter topic of one consuming stage, e.g. `mc.dlq.profile.v1`."""
    return f"mc.dlq.{stage}.v1"


STAGES = ("profile", "router", "delivery", "ingest")
"""The consuming stages, each with its dead-letter topic."""
ALL_TOPICS = (INTERACTIONS, PROFILED, DELIVERIES, CUSTOMERS, *(dlq_topic(stage) for stage in STAGES))
"""Every topic Metaconnect uses, for the topic-creation step of a deployment."""
_DAY_MS = str(24 * 3600 * 1000)
TOPIC_CONFIGS = MappingProxyType(
    {
        # Compacted, and compacted within a day, tombstones dropped a day later: an erased
        # customer's identifiers (the keys) leave the broker within about two days.
        CUSTOMERS: {"cleanup.policy": "compact", "max.compaction.lag.ms": _DAY_MS, "delete.retention.ms": _DAY_MS},
    }
)
"""Broker settings a topic is created with, besides partitions and replication."""
