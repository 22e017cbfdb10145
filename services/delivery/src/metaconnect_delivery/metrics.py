"""The delivery service's Prometheus families (`mc_delivery_*`)."""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterator
from typing import Protocol

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from metaconnect_delivery.reliability import CircuitBreaker, CircuitState

DELIVERIES = Counter(
    "mc_delivery_deliveries_total",
    "Deliveries finished, by the channel and provider that took them (or the last tried) and status.",
    ["channel", "provider", "status"],
)
ATTEMPTS = Counter(
    "mc_delivery_attempts_total",
    "Provider calls and skipped channels, by outcome (sent, retryable, permanent, skipped).",
    ["channel", "provider", "outcome"],
)
RETRIES = Counter(
    "mc_delivery_retries_total",
    "Provider calls repeated after a retryable failure (5xx, 429, timeout, refused connection).",
    ["channel", "provider"],
)
DEAD_LETTERED = Counter(
    "mc_delivery_dead_lettered_total",
    "Deliveries every channel failed, written to mc.dlq.delivery.v1.",
    ["reason"],
)
ITEMS_LEFT_OUT = Counter(
    "mc_delivery_items_left_out_total",
    "Items that could not render, left out of their delivery with a message.failed receipt of their own.",
    ["reason"],
)
TEMPLATE_FALLBACKS = Counter(
    "mc_delivery_template_fallbacks_total",
    "Items sent with their content's plain-text fallback because a template could not render.",
    ["reason"],
)
PROVIDER_SECONDS = Histogram(
    "mc_delivery_provider_seconds",
    "Duration of one provider call, by outcome.",
    ["channel", "provider", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CIRCUIT_VALUES = {CircuitState.CLOSED: 0.0, CircuitState.HALF_OPEN: 1.0, CircuitState.OPEN: 2.0}


class _CircuitCollector(Collector):
    """Each provider's circuit state at scrape time: 0 closed, 1 half-open, 2 open."""

    def __init__(self) -> None:
        self._sources: weakref.WeakSet[_Source] = weakref.WeakSet()

    def watch(self, source: _Source) -> None:
        self._sources.add(source)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "mc_delivery_circuit_state",
            "Circuit breaker of each provider: 0 closed, 1 half-open, 2 open.",
            labels=["channel", "provider"],
        )
        now = time.monotonic()
        for source in list(self._sources):
            for channel, provider, circuit in source.circuits():
                family.add_metric([channel, provider], CIRCUIT_VALUES[circuit.state(now)])
        yield family


class _Source(Protocol):
    """What the collector asks for the circuits (the provider registry)."""

    def circuits(self) -> list[tuple[str, str, CircuitBreaker]]: ...


CIRCUITS = _CircuitCollector()
REGISTRY.register(CIRCUITS)
