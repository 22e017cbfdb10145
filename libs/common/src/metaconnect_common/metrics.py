"""Prometheus metrics shared by every service's plumbing: database pool and outbox relay.

The consumer runner's families are in `metaconnect_common.kafka.metrics`, the HTTP ones in
`metaconnect_common.http`; each service's own families are in its `metrics` module. Every
family is named `mc_*` and registered once per process.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

OUTBOX_PUBLISHED = Counter(
    "mc_outbox_published_total",
    "Outbox rows the relay published to Kafka.",
    ["service"],
)
OUTBOX_FAILURES = Counter(
    "mc_outbox_publish_failures_total",
    "Relay flushes that failed (the rows stay pending and are published later).",
    ["service"],
)


class _PoolCollector(Collector):
    """Connections of each registered engine's pool, read at scrape time."""

    def __init__(self) -> None:
        self._engines: weakref.WeakValueDictionary[str, AsyncEngine] = weakref.WeakValueDictionary()
        self._limits: dict[str, int] = {}

    def watch(self, service: str, engine: AsyncEngine, *, limit: int) -> None:
        """Report `engine`'s pool as `service`'s (until the engine is gone)."""
        self._engines[service] = engine
        self._limits[service] = limit

    def collect(self) -> Iterator[GaugeMetricFamily]:
        used = GaugeMetricFamily(
            "mc_db_pool_connections",
            "Database connections of the service's pool, by state (in_use, idle).",
            labels=["service", "state"],
        )
        limit = GaugeMetricFamily(
            "mc_db_pool_limit",
            "The most connections the pool may open (pool size plus overflow).",
            labels=["service"],
        )
        for service, engine in list(self._engines.items()):
            pool = engine.sync_engine.pool
            if not isinstance(pool, QueuePool):
                continue
            used.add_metric([service, "in_use"], pool.checkedout())
            used.add_metric([service, "idle"], pool.checkedin())
            limit.add_metric([service], self._limits[service])
        yield used
        yield limit


POOLS = _PoolCollector()
REGISTRY.register(POOLS)
