"""The router's Prometheus families (`mc_router_*`)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DECISIONS = Counter(
    "mc_router_decisions_total",
    "Decisions by outcome (no_match, dropped, sent, bundled) and first reason code (none if there was none).",
    ["outcome", "reason"],
)
BUNDLE_ITEMS = Histogram(
    "mc_router_bundle_items",
    "Items in each bundle the router sent (its size; 1 is a message sent alone).",
    buckets=(1, 2, 3, 4, 5, 8, 13, 21, 50),
)
TIME_IN_BUNDLE = Histogram(
    "mc_router_time_in_bundle_seconds",
    "How long each sent item waited in its bundle, from its decision to the bundle's delivery.",
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600),
)
JOURNEY_STEPS = Counter(
    "mc_router_journey_steps_total",
    "Journey steps run, by journey, kind and outcome (e.g. send/bundled, wait/timeout, goal/converted).",
    ["journey", "kind", "outcome"],
)
TIMER_LATENESS = Histogram(
    "mc_router_journey_timer_lateness_seconds",
    "How long after its due time a journey wait was acted on.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0),
)
