"""Ingest's Prometheus families (`mc_ingest_*`)."""

from __future__ import annotations

from prometheus_client import Counter

EVENTS = Counter(
    "mc_ingest_events_total",
    "Events posted by channel apps and provider webhooks, by outcome (accepted, rejected, rate_limited, unavailable).",
    ["source", "outcome"],
)
