"""Writes the Grafana dashboards in `dashboards/` from the descriptions below.

    uv run python deploy/observability/grafana/build.py          # rewrite the JSON files
    uv run python deploy/observability/grafana/build.py --check  # exit 1 if they are stale

Generated so that every service's dashboard reads the same way (summary, HTTP, consumer,
database and outbox, then the service's own panels) and the grid layout never drifts.
Edit this file, run it, and commit both.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
GRID_WIDTH = 24
JOBS = "ingest|profile|router|delivery|console"

Json = dict[str, Any]


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"
    width: int = 12
    height: int = 8
    # (color, from value) steps; on a timeseries they are drawn as dashed lines.
    thresholds: tuple[tuple[str, float], ...] = ()
    mappings: tuple[tuple[int, str, str], ...] = ()  # value, text, color
    stepped: bool = False
    stacked: bool = False
    max: float | None = None


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: tuple[Row, ...]


def quantiles(metric: str, matchers: str, by: str = "", legend: str = "") -> tuple[Query, ...]:
    """p50, p95 and p99 of a histogram, optionally per `by` labels."""
    labels = f"{by}, le" if by else "le"
    selector = f"{metric}_bucket{{{matchers}}}" if matchers else f"{metric}_bucket"
    return tuple(
        Query(
            f"histogram_quantile({q}, sum by ({labels}) (rate({selector}[{RATE}])))",
            f"{legend} p{round(q * 100)}".strip(),
        )
        for q in (0.5, 0.95, 0.99)
    )


def stat(title: str, description: str, expr: str, unit: str, *steps: tuple[str, float]) -> Panel:
    return Panel(title, description, (Query(expr),), unit=unit, kind="stat", width=4, height=4, thresholds=steps)


CIRCUIT_MAPPINGS = ((0, "closed", "green"), (1, "half-open", "orange"), (2, "open", "red"))


# Sections every service dashboard shares.


def lag_stat(topic: str) -> Panel:
    return stat(
        "Consumer lag",
        f"Records of {topic} not yet consumed, all partitions.",
        f'sum(mc_kafka_consumer_lag{{topic="{topic}"}})',
        "short",
        ("orange", 1000),
        ("red", 5000),
    )


def summary_row(service: str, own: Panel) -> Row:
    """Instances up, requests, 5xx ratio, p99, the service's `own` figure, its pool's use."""
    return Row(
        "Summary",
        (
            stat(
                "Instances up",
                f"Scrape targets of job {service} that answered the last scrape.",
                f'sum(up{{job="{service}"}})',
                "short",
                ("red", 0),
                ("green", 1),
            ),
            stat(
                "Requests",
                "HTTP requests per second, all routes.",
                f'sum(rate(mc_http_requests_total{{service="{service}"}}[{RATE}]))',
                "reqps",
            ),
            stat(
                "5xx ratio (5m)",
                "Share of requests answered 5xx; the SLO allows 0.1 %.",
                f'metaconnect:http_errors:ratio_rate5m{{service="{service}"}}',
                "percentunit",
                ("orange", 0.001),
                ("red", 0.01),
            ),
            stat(
                "p99 latency (5m)",
                "99th percentile of request duration, all routes; the SLO is 0.5 s.",
                f'metaconnect:http_request_duration_seconds:p99_rate5m{{service="{service}"}}',
                "s",
                ("orange", 0.25),
                ("red", 0.5),
            ),
            own,
            stat(
                "DB pool in use",
                "The busiest instance's pool: connections in use over the pool's limit.",
                f'max(metaconnect:db_pool_connections:utilisation{{service="{service}"}})',
                "percentunit",
                ("orange", 0.75),
                ("red", 0.9),
            ),
        ),
    )


def http_row(service: str) -> Row:
    sel = f'service="{service}"'
    return Row(
        "HTTP",
        (
            Panel(
                "Requests by route",
                "Requests per second by method and route template (`unmatched` is a path no route knows).",
                (
                    Query(
                        f"sum by (method, route) (rate(mc_http_requests_total{{{sel}}}[{RATE}]))",
                        "{{method}} {{route}}",
                    ),
                ),
                unit="reqps",
                width=8,
            ),
            Panel(
                "Responses by status",
                "Responses per second by status code.",
                (Query(f"sum by (status) (rate(mc_http_requests_total{{{sel}}}[{RATE}]))", "{{status}}"),),
                unit="reqps",
                width=8,
                stacked=True,
            ),
            Panel(
                "5xx ratio by route",
                "Share of each route's requests answered 5xx. The dashed line is the 99.9 % objective.",
                (
                    Query(
                        f'sum by (method, route) (rate(mc_http_requests_total{{{sel}, status=~"5.."}}[{RATE}]))'
                        f" / sum by (method, route) (rate(mc_http_requests_total{{{sel}}}[{RATE}]))",
                        "{{method}} {{route}}",
                    ),
                ),
                unit="percentunit",
                width=8,
                thresholds=(("red", 0.001),),
            ),
            Panel(
                "Latency",
                "Request duration quantiles over all routes. The dashed line is the 0.5 s p99 objective.",
                quantiles("mc_http_request_duration_seconds", sel),
                unit="s",
                thresholds=(("red", 0.5),),
            ),
            Panel(
                "p99 latency by route",
                "99th percentile of request duration per route.",
                (
                    Query(
                        "histogram_quantile(0.99, sum by (method, route, le) "
                        f"(rate(mc_http_request_duration_seconds_bucket{{{sel}}}[{RATE}])))",
                        "{{method}} {{route}}",
                    ),
                ),
                unit="s",
            ),
        ),
    )


def consumer_row(topic: str) -> Row:
    sel = f'topic="{topic}"'
    return Row(
        f"Kafka consumer ({topic})",
        (
            Panel(
                "Consumer lag by partition",
                "Records not yet consumed (highwater minus position), updated after each batch.",
                (Query(f"sum by (group, partition) (mc_kafka_consumer_lag{{{sel}}})", "{{group}} p{{partition}}"),),
                width=8,
            ),
            Panel(
                "Records processed",
                "Records the handler completed, per second.",
                (Query(f"sum by (group) (rate(mc_kafka_consumer_processed_total{{{sel}}}[{RATE}]))", "{{group}}"),),
                unit="ops",
                width=8,
            ),
            Panel(
                "Retries and dead letters",
                "Per minute: failed attempts retried after a backoff, and records sent to the stage's DLQ topic.",
                (
                    Query(
                        f"60 * sum by (group) (rate(mc_kafka_consumer_retries_total{{{sel}}}[{RATE}]))",
                        "{{group}} retried",
                    ),
                    Query(
                        f"60 * sum by (group) (rate(mc_kafka_consumer_dead_lettered_total{{{sel}}}[{RATE}]))",
                        "{{group}} dead-lettered",
                    ),
                ),
                unit="opm",
                width=8,
            ),
            Panel(
                "Handler latency (one record)",
                "Duration of one handler call on one record, one attempt.",
                quantiles("mc_kafka_handler_seconds", sel),
                unit="s",
                width=8,
            ),
            Panel(
                "Batch handler latency",
                "Duration of one batch handler call (one partition's records of one fetch).",
                quantiles("mc_kafka_batch_handler_seconds", sel),
                unit="s",
                width=8,
            ),
            Panel(
                "Batch fallbacks",
                "Per minute: batch calls that failed, after which the records were handled one by one.",
                (
                    Query(
                        f"60 * sum by (group) (rate(mc_kafka_batch_fallbacks_total{{{sel}}}[{RATE}]))",
                        "{{group}}",
                    ),
                ),
                unit="opm",
                width=8,
            ),
        ),
    )


def storage_row(service: str, *, outbox: bool) -> Row:
    sel = f'service="{service}"'
    width = 8 if outbox else 12
    pool = (
        Panel(
            "DB pool connections",
            "Connections of each instance's pool by state, and the pool's limit (size plus overflow).",
            (
                Query(f"sum by (instance, state) (mc_db_pool_connections{{{sel}}})", "{{instance}} {{state}}"),
                Query(f"max by (instance) (mc_db_pool_limit{{{sel}}})", "{{instance}} limit"),
            ),
            width=width,
        ),
        Panel(
            "DB pool utilisation",
            "Connections in use over the limit, per instance. The alert fires above 90 % for 5 minutes.",
            (Query(f"metaconnect:db_pool_connections:utilisation{{{sel}}}", "{{instance}}"),),
            unit="percentunit",
            width=width,
            max=1,
            thresholds=(("red", 0.9),),
        ),
    )
    relay = (
        Panel(
            "Outbox relay",
            "Outbox rows published to Kafka per second, and failed relay flushes per minute "
            "(the rows stay pending and are published later).",
            (
                Query(f"sum(rate(mc_outbox_published_total{{{sel}}}[{RATE}]))", "published /s"),
                Query(f"60 * sum(rate(mc_outbox_publish_failures_total{{{sel}}}[{RATE}]))", "failed flushes /min"),
            ),
            width=8,
        ),
    )
    return Row("Database and outbox" if outbox else "Database", pool + relay if outbox else pool)


# The dashboards.


def overview() -> Dashboard:
    accepted = f'sum(rate(mc_ingest_events_total{{outcome="accepted"}}[{RATE}]))'
    profiled = f'sum(rate(mc_kafka_consumer_processed_total{{topic="mc.interactions.v1"}}[{RATE}]))'
    decided = f"sum(rate(mc_router_decisions_total[{RATE}]))"
    delivered = f'sum(rate(mc_delivery_deliveries_total{{status="sent"}}[{RATE}]))'
    pipeline = Row(
        "Pipeline",
        (
            stat("Events accepted", "Events ingest accepted, per second.", accepted, "ops"),
            stat("Profiled", "Interactions the profile consumer processed, per second.", profiled, "ops"),
            stat("Decided", "Decisions the router made, per second.", decided, "ops"),
            stat("Delivered", "Deliveries sent, per second.", delivered, "ops"),
            stat(
                "Consumer lag",
                "Records not yet consumed, every group and partition.",
                "sum(mc_kafka_consumer_lag)",
                "short",
                ("orange", 1000),
                ("red", 5000),
            ),
            stat(
                "Open circuits",
                "Provider circuit breakers open now.",
                "count(mc_delivery_circuit_state == 2) or vector(0)",
                "short",
                ("red", 1),
            ),
            Panel(
                "Pipeline throughput",
                "Each stage per second: events in, interactions profiled, decisions, deliveries sent. "
                "A stage falling behind the one before shows as consumer lag.",
                (
                    Query(accepted, "ingest: accepted"),
                    Query(profiled, "profile: processed"),
                    Query(decided, "router: decided"),
                    Query(delivered, "delivery: sent"),
                ),
                unit="ops",
                width=24,
            ),
            Panel(
                "Events in by source and outcome",
                "Events from channel apps (api) and provider webhooks, by outcome.",
                (
                    Query(
                        f"sum by (source, outcome) (rate(mc_ingest_events_total[{RATE}]))",
                        "{{source}} {{outcome}}",
                    ),
                ),
                unit="ops",
                width=8,
            ),
            Panel(
                "Decisions by outcome",
                "Router decisions: sent now, bundled for later, dropped, or no route matched.",
                (Query(f"sum by (outcome) (rate(mc_router_decisions_total[{RATE}]))", "{{outcome}}"),),
                unit="ops",
                width=8,
                stacked=True,
            ),
            Panel(
                "Deliveries by channel and status",
                "Deliveries finished, by the channel that took them (or the last tried) and status.",
                (
                    Query(
                        f"sum by (channel, status) (rate(mc_delivery_deliveries_total[{RATE}]))",
                        "{{channel}} {{status}}",
                    ),
                ),
                unit="ops",
                width=8,
            ),
        ),
    )
    health = Row(
        "Health",
        (
            Panel(
                "Consumer lag by group",
                "Records not yet consumed per consumer group. Growing lag means the stage is falling behind.",
                (Query("metaconnect:kafka_consumer_lag:sum", "{{group}} ({{topic}})"),),
                width=8,
            ),
            Panel(
                "HTTP 5xx ratio by service",
                "Share of requests answered 5xx over 5 minutes. The dashed line is the 99.9 % objective.",
                (Query("metaconnect:http_errors:ratio_rate5m", "{{service}}"),),
                unit="percentunit",
                width=8,
                thresholds=(("red", 0.001),),
            ),
            Panel(
                "HTTP p99 latency by service",
                "99th percentile of request duration over 5 minutes. The dashed line is the 0.5 s objective.",
                (Query("metaconnect:http_request_duration_seconds:p99_rate5m", "{{service}}"),),
                unit="s",
                width=8,
                thresholds=(("red", 0.5),),
            ),
            Panel(
                "Dead letters",
                "Per minute: records each consumer group sent to its DLQ topic (mc.dlq.<stage>.v1), "
                "and deliveries every channel failed, by reason.",
                (
                    Query(
                        f"60 * sum by (group) (rate(mc_kafka_consumer_dead_lettered_total[{RATE}]))",
                        "{{group}}",
                    ),
                    Query(
                        f"60 * sum by (reason) (rate(mc_delivery_dead_lettered_total[{RATE}]))",
                        "delivery: {{reason}}",
                    ),
                ),
                unit="opm",
                width=8,
            ),
            Panel(
                "Circuit state by provider",
                "Each provider's circuit breaker, worst instance: closed, half-open (trying one call) or open.",
                (Query("max by (channel, provider) (mc_delivery_circuit_state)", "{{channel}} {{provider}}"),),
                width=8,
                max=2,
                mappings=CIRCUIT_MAPPINGS,
                stepped=True,
            ),
            Panel(
                "Outbox publish failures",
                "Per minute: outbox relay flushes that failed to publish to Kafka, by service.",
                (
                    Query(
                        f"60 * sum by (service) (rate(mc_outbox_publish_failures_total[{RATE}]))",
                        "{{service}}",
                    ),
                ),
                unit="opm",
                width=8,
            ),
            Panel(
                "Scrape targets",
                "Whether Prometheus reached each service instance at its last scrape.",
                (Query(f'up{{job=~"{JOBS}"}}', "{{job}} {{instance}}"),),
                kind="stat",
                width=24,
                height=4,
                mappings=((0, "down", "red"), (1, "up", "green")),
            ),
        ),
    )
    return Dashboard(
        "mc-overview",
        "Metaconnect / Overview",
        "The pipeline end to end: ingest, profile, router, delivery; lag, errors, dead letters, circuits.",
        (pipeline, health),
    )


def ingest() -> Dashboard:
    events = Row(
        "Events",
        (
            Panel(
                "Events by source and outcome",
                "Events posted by channel apps (api) and provider webhooks (twilio, whatsapp), by outcome.",
                (
                    Query(
                        f"sum by (source, outcome) (rate(mc_ingest_events_total[{RATE}]))",
                        "{{source}} {{outcome}}",
                    ),
                ),
                unit="ops",
            ),
            Panel(
                "Events refused",
                "Events not accepted: rejected (invalid), rate_limited (the key's quota), unavailable (Kafka did "
                "not acknowledge in time; the client got a 503 and retries).",
                (
                    Query(
                        f'sum by (outcome) (rate(mc_ingest_events_total{{outcome!="accepted"}}[{RATE}]))',
                        "{{outcome}}",
                    ),
                ),
                unit="ops",
                stacked=True,
            ),
        ),
    )
    return Dashboard(
        "mc-ingest",
        "Metaconnect / Ingest",
        "The event API and provider webhooks: requests, events by outcome, the customer refs consumer "
        "(inbox tokens), database pool.",
        (
            summary_row(
                "ingest",
                stat(
                    "Events accepted",
                    "Events accepted from channel apps and provider webhooks.",
                    f'sum(rate(mc_ingest_events_total{{outcome="accepted"}}[{RATE}]))',
                    "ops",
                ),
            ),
            http_row("ingest"),
            events,
            consumer_row("mc.customers.v1"),
            storage_row("ingest", outbox=False),
        ),
    )


def profile() -> Dashboard:
    topic = "mc.interactions.v1"
    return Dashboard(
        "mc-profile",
        "Metaconnect / Profile",
        "Profiles built from interactions: requests, the interactions consumer, database pool and outbox.",
        (
            summary_row("profile", lag_stat(topic)),
            http_row("profile"),
            consumer_row(topic),
            storage_row("profile", outbox=True),
        ),
    )


def router() -> Dashboard:
    topic = "mc.profiled.v1"
    decisions = Row(
        "Decisions and bundles",
        (
            Panel(
                "Decisions by outcome",
                "Decisions per second: sent now, bundled for later, dropped, or no route matched.",
                (Query(f"sum by (outcome) (rate(mc_router_decisions_total[{RATE}]))", "{{outcome}}"),),
                unit="ops",
                width=8,
                stacked=True,
            ),
            Panel(
                "Decisions by outcome and reason",
                "Decisions per second by outcome and first reason code (none when there was none).",
                (
                    Query(
                        f"sum by (outcome, reason) (rate(mc_router_decisions_total[{RATE}]))",
                        "{{outcome}} {{reason}}",
                    ),
                ),
                unit="ops",
                width=16,
            ),
            Panel(
                "Bundle size",
                "Items in each delivery the router sent (1 is a message sent alone): quantiles and mean.",
                (
                    *quantiles("mc_router_bundle_items", ""),
                    Query(
                        f"sum(rate(mc_router_bundle_items_sum[{RATE}]))"
                        f" / sum(rate(mc_router_bundle_items_count[{RATE}]))",
                        "mean",
                    ),
                ),
                width=8,
            ),
            Panel(
                "Time in bundle",
                "How long each sent item waited in its bundle, from its decision to the bundle's delivery.",
                quantiles("mc_router_time_in_bundle_seconds", ""),
                unit="s",
                width=8,
            ),
            Panel(
                "Deliveries sent by the router",
                "Deliveries (bundles and single messages) the router handed to the delivery service.",
                (Query(f"sum(rate(mc_router_bundle_items_count[{RATE}]))", "deliveries"),),
                unit="ops",
                width=8,
            ),
        ),
    )
    journeys = Row(
        "Journeys",
        (
            Panel(
                "Journey steps",
                "Steps customers' walks ran per second, by kind and outcome (send/bundled, wait/timeout, "
                "goal/converted, ...).",
                (
                    Query(
                        f"sum by (kind, outcome) (rate(mc_router_journey_steps_total[{RATE}]))",
                        "{{kind}} {{outcome}}",
                    ),
                ),
                unit="ops",
                width=12,
            ),
            Panel(
                "Journey timer lateness",
                "How long after its due time a journey wait was acted on (the timer loop's lateness).",
                quantiles("mc_router_journey_timer_lateness_seconds", ""),
                unit="s",
                width=12,
            ),
        ),
    )
    return Dashboard(
        "mc-router",
        "Metaconnect / Router",
        "Routing decisions, bundles and journeys: requests, the profiled-events consumer, decisions, journey "
        "steps and timers, database and outbox.",
        (
            summary_row("router", lag_stat(topic)),
            http_row("router"),
            consumer_row(topic),
            decisions,
            journeys,
            storage_row("router", outbox=True),
        ),
    )


def delivery() -> Dashboard:
    topic = "mc.deliveries.v1"
    deliveries = Row(
        "Deliveries",
        (
            Panel(
                "Deliveries by channel and status",
                "Deliveries finished, by the channel that took them (or the last tried) and status.",
                (
                    Query(
                        f"sum by (channel, status) (rate(mc_delivery_deliveries_total[{RATE}]))",
                        "{{channel}} {{status}}",
                    ),
                ),
                unit="ops",
                width=8,
            ),
            Panel(
                "Deliveries by provider and status",
                "Deliveries finished, by provider account and status (none: no provider took it).",
                (
                    Query(
                        f"sum by (provider, status) (rate(mc_delivery_deliveries_total[{RATE}]))",
                        "{{provider}} {{status}}",
                    ),
                ),
                unit="ops",
                width=8,
            ),
            Panel(
                "Dead letters by reason",
                "Per minute: deliveries every channel failed, written to mc.dlq.delivery.v1.",
                (
                    Query(
                        f"60 * sum by (reason) (rate(mc_delivery_dead_lettered_total[{RATE}]))",
                        "{{reason}}",
                    ),
                ),
                unit="opm",
                width=8,
            ),
        ),
    )
    providers = Row(
        "Providers",
        (
            Panel(
                "Attempts by provider and outcome",
                "Provider calls per second by outcome (sent, retry, permanent) and channels skipped.",
                (
                    Query(
                        f"sum by (channel, provider, outcome) (rate(mc_delivery_attempts_total[{RATE}]))",
                        "{{channel}} {{provider}} {{outcome}}",
                    ),
                ),
                unit="ops",
                width=8,
            ),
            Panel(
                "Provider failure ratio (10m)",
                "Share of provider calls that failed (retry or permanent). The alert fires above 20 %.",
                (Query("metaconnect:delivery_attempts:failure_ratio_rate10m", "{{channel}} {{provider}}"),),
                unit="percentunit",
                width=8,
                thresholds=(("red", 0.2),),
            ),
            Panel(
                "Retries by provider",
                "Provider calls repeated after a retryable failure (5xx, 429, timeout, refused connection).",
                (
                    Query(
                        f"sum by (channel, provider) (rate(mc_delivery_retries_total[{RATE}]))",
                        "{{channel}} {{provider}}",
                    ),
                ),
                unit="ops",
                width=8,
            ),
            *(
                Panel(
                    f"Provider latency p{round(q * 100)}",
                    f"{round(q * 100)}th percentile of one provider call, every outcome.",
                    (
                        Query(
                            f"histogram_quantile({q}, sum by (channel, provider, le) "
                            f"(rate(mc_delivery_provider_seconds_bucket[{RATE}])))",
                            "{{channel}} {{provider}}",
                        ),
                    ),
                    unit="s",
                    width=8,
                )
                for q in (0.5, 0.95, 0.99)
            ),
            Panel(
                "Circuit state",
                "Each provider's circuit breaker per instance: closed, half-open (trying one call) or open.",
                (Query("mc_delivery_circuit_state", "{{channel}} {{provider}} {{instance}}"),),
                width=24,
                max=2,
                mappings=CIRCUIT_MAPPINGS,
                stepped=True,
            ),
        ),
    )
    templates = Row(
        "Templates",
        tuple(
            Panel(
                title,
                description,
                (Query(f"60 * sum by (reason) (rate({metric}[{RATE}]))", "{{reason}}"),),
                unit="opm",
                width=12,
            )
            for title, description, metric in (
                (
                    "Items left out by reason",
                    "Per minute: items that could not render, left out of their delivery with a "
                    "message.failed of their own (the rest of the delivery went out).",
                    "mc_delivery_items_left_out_total",
                ),
                (
                    "Fallback texts sent by reason",
                    "Per minute: items sent with their plain-text fallback because a template could not render.",
                    "mc_delivery_template_fallbacks_total",
                ),
            )
        ),
    )
    return Dashboard(
        "mc-delivery",
        "Metaconnect / Delivery",
        "Deliveries and providers: requests, the deliveries consumer, outcomes, provider health, database and outbox.",
        (
            summary_row("delivery", lag_stat(topic)),
            http_row("delivery"),
            consumer_row(topic),
            deliveries,
            providers,
            templates,
            storage_row("delivery", outbox=True),
        ),
    )


# Grafana's JSON model.


def console() -> Dashboard:
    return Dashboard(
        "mc-console",
        "Metaconnect / Console",
        "The console's pages over the four services' APIs: requests, pages a service did not answer, "
        "database pool (sessions).",
        (
            summary_row(
                "console",
                stat(
                    "Service unavailable",
                    "Pages answered 502 per second: one of the four services did not answer in time or "
                    "answered 5xx (the page names it). Look at that service first.",
                    f'sum(rate(mc_http_requests_total{{service="console", status="502"}}[{RATE}]))',
                    "reqps",
                    ("orange", 0.001),
                ),
            ),
            http_row("console"),
            storage_row("console", outbox=False),
        ),
    )


def _field_config(panel: Panel) -> Json:
    defaults: Json = {"unit": panel.unit}
    if panel.kind == "timeseries":
        defaults["min"] = 0
        defaults["custom"] = {
            "drawStyle": "line",
            "lineInterpolation": "stepAfter" if panel.stepped else "linear",
            "lineWidth": 1,
            "fillOpacity": 25 if panel.stacked else 10,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"mode": "normal" if panel.stacked else "none", "group": "A"},
            "thresholdsStyle": {"mode": "dashed" if panel.thresholds else "off"},
        }
    if panel.max is not None:
        defaults["max"] = panel.max
    base = "text" if panel.kind == "stat" and not panel.thresholds else "green"
    defaults["color"] = {"mode": "thresholds" if panel.kind == "stat" else "palette-classic"}
    defaults["thresholds"] = {
        "mode": "absolute",
        "steps": [{"color": base, "value": None}, *({"color": c, "value": v} for c, v in panel.thresholds)],
    }
    if panel.mappings:
        defaults["mappings"] = [
            {
                "type": "value",
                "options": {str(value): {"text": text, "color": color, "index": i}},
            }
            for i, (value, text, color) in enumerate(panel.mappings)
        ]
    return {"defaults": defaults, "overrides": []}


def _options(panel: Panel) -> Json:
    if panel.kind == "stat":
        return {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "none" if panel.mappings else "area",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": "auto",
        }
    return {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True, "calcs": []},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> Json:
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": _field_config(panel),
        "options": _options(panel),
        "targets": [
            {
                "datasource": DATASOURCE,
                "refId": chr(ord("A") + i),
                "expr": query.expr,
                "legendFormat": query.legend or "__auto",
                "range": True,
            }
            for i, query in enumerate(panel.queries)
        ],
    }


def render(dashboard: Dashboard) -> Json:
    panels: list[Json] = []
    y = 0
    for row in dashboard.rows:
        panels.append(
            {
                "id": len(panels) + 1,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
                "panels": [],
            }
        )
        y += 1
        x, line_height = 0, 0
        for panel in row.panels:
            if x + panel.width > GRID_WIDTH:
                x, y, line_height = 0, y + line_height, 0
            panels.append(_panel(panel, len(panels) + 1, x, y))
            x += panel.width
            line_height = max(line_height, panel.height)
        y += line_height
    return {
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "description": dashboard.description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [
            {
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
                "tags": ["metaconnect"],
                "title": "Metaconnect",
                "type": "dashboards",
            }
        ],
        "panels": panels,
        "refresh": "30s",
        "schemaVersion": 39,
        "tags": ["metaconnect"],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                    "includeAll": False,
                    "multi": False,
                    "options": [],
                    "refresh": 1,
                    "regex": "",
                }
            ]
        },
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": dashboard.title,
        "uid": dashboard.uid,
        "version": 1,
        "weekStart": "",
    }


DASHBOARDS = {
    "metaconnect-overview.json": overview,
    "metaconnect-ingest.json": ingest,
    "metaconnect-profile.json": profile,
    "metaconnect-router.json": router,
    "metaconnect-delivery.json": delivery,
    "metaconnect-console.json": console,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if a committed dashboard differs from its source")
    args = parser.parse_args()
    stale = []
    for name, build in DASHBOARDS.items():
        text = json.dumps(render(build()), indent=2) + "\n"
        path = OUT / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        sys.stderr.write(f"stale: {', '.join(stale)}; run deploy/observability/grafana/build.py\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
