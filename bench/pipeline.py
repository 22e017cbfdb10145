"""End-to-end speed of the whole pipeline: ingest -> profile -> router -> delivery -> provider.

    uv run python bench/pipeline.py                          # rates 100, 300, 1000 and max (~6 min)
    uv run python bench/pipeline.py --rates 300 --duration 30
    uv run python bench/pipeline.py --rates max --max-events 20000 --profile

Starts real Kafka and PostgreSQL, the four services as processes and the provider sandbox
(`bench/_pipeline.py`), applies the shop's routes and posts new customers' visits
(`bench/_traffic.py`: nine events, four decisions and two pushes each) through ingest's batch
API, either at fixed rates (open loop) or flat out. Each phase waits until every push it
expects reached the sandbox. Printed per phase, with one JSON line at the end:

* events/s offered and achieved, pushes/s; at `max`, sustained events/s from the first post to
  the last push;
* latency from ingest's `202` to the sandbox receiving the order's push (transactional),
  p50/p95/p99;
* bundle flush lateness (`flushed_at - due_at`), p50/p99;
* CPU µs per event of each service, Kafka and PostgreSQL (idle cost subtracted), with the
  disturbed-machine flag;
* the floor: the same events relayed raw through three Kafka hops (the pipeline's three
  topics) by plain aiokafka consumers and producers with the services' settings, in the same run;
* the audit of everything accepted (nothing lost or doubled: `bench/_audit.py`).

Exit code 0 whatever the figures; 1 when the audit finds a loss or duplicate or a phase's
pushes did not all arrive; 2 when something did not start.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench._*` from `python bench/pipeline.py`

import numpy as np
from aiokafka import AIOKafkaConsumer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench._audit import Audit, audit
from bench._harness import default_workdir, log, run_loop, run_main, service_producer
from bench._measure import (
    CpuMeter,
    load_profile,
    num,
    print_cpu_table,
    print_json_line,
    print_packages,
    print_top,
    processes,
    tree_cpu_s,
)
from bench._pipeline import ORDER_TITLE, SERVICES, Stack
from bench._traffic import PUSHES_PER_CUSTOMER, Poster, at_rate, customers, flat_out, visit
from metaconnect_common.kafka.admin import ensure_topics
from metaconnect_common.settings import KafkaSettings

PARTIES = (*SERVICES, "kafka", "postgres")
OPTS_TOP = 25  # rows of each profile's top functions
EVENTS_PER_VISIT = 9.3  # 9, or 11 with the questionnaire (30% of customers)


@dataclass
class Phase:
    name: str
    rate: float | None  # offered events/s; None: flat out
    events: int = 0
    customers: int = 0
    post_s: float = 0.0
    end_to_end_s: float = 0.0
    pushes: int = 0
    pushes_expected: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)
    lateness_ms: dict[str, float] = field(default_factory=dict)
    cpu_pct: dict[str, float] = field(default_factory=dict)
    us_per_event: dict[str, float] = field(default_factory=dict)
    number: int = 0  # the phase's profile of each service is its `number`th
    profiles: dict[str, Path | None] = field(default_factory=dict)

    @property
    def achieved(self) -> float:
        return self.events / self.post_s if self.post_s else 0.0

    @property
    def sustained(self) -> float:
        return self.events / self.end_to_end_s if self.end_to_end_s else 0.0


@dataclass
class Result:
    idle_pct: dict[str, float]
    floor: Phase
    phases: list[Phase]
    audit: Audit


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], 1)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1], 1)}


async def run_phase(
    stack: Stack, poster: Poster, meter: CpuMeter, idle: dict[str, float], phase: Phase, opts: Any
) -> None:
    assert stack.sandbox is not None
    people = customers(phase.customers, tag=f"{phase.name}-{int(time.time())}", seed=len(phase.name))
    tokens = {c.token for c in people}
    phase.pushes_expected = PUSHES_PER_CUSTOMER * len(people)
    before_events = poster.posted.events
    first_wall = time.time()
    cpu_start = meter.sample()
    if opts.profile:
        stack.signal_services(signal.SIGUSR1)  # bench/profiled.py: start a profile
    if phase.rate is None:
        phase.post_s = await flat_out(poster, people)
    else:
        phase.post_s = await at_rate(poster, people, phase.rate)
    phase.events = poster.posted.events - before_events
    log(f"{phase.name}: {phase.events} events in {phase.post_s:.1f}s; waiting for {phase.pushes_expected} pushes")
    deadline = time.monotonic() + opts.drain_timeout
    while True:
        arrived = [m for m in stack.sandbox.messages("fcm") if m.status == 200 and set(m.to) & tokens]
        if len(arrived) >= phase.pushes_expected or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    phase.pushes = len(arrived)
    last = max((m.received_at.timestamp() for m in arrived), default=time.time())
    phase.end_to_end_s = last - first_wall
    await asyncio.sleep(1.0)  # the last receipts flow back to profile and router
    if opts.profile:
        stack.signal_services(signal.SIGUSR2)  # write it
        phase.profiles = {name: p.profile_path(phase.number) for name, p in stack.services.items()}
    cpu_end = meter.sample()
    usage, seconds = meter.between(cpu_start, cpu_end)
    wall = cpu_end[0] - cpu_start[0]
    phase.cpu_pct = usage
    for party in (*PARTIES, "bench"):
        busy = seconds.get(party, 0.0) - idle.get(party, 0.0) / 100 * wall
        phase.us_per_event[party] = round(1e6 * max(busy, 0.0) / max(phase.events, 1), 1)
    phase.us_per_event["total"] = round(sum(phase.us_per_event[p] for p in PARTIES), 1)
    phase.us_per_event["other"] = round(1e6 * seconds.get("other", 0.0) / max(phase.events, 1), 1)
    orders = poster.posted.orders
    phase.latency_ms = percentiles(
        [
            1000 * (m.received_at.timestamp() - orders[m.to[0]])
            for m in arrived
            if m.title == ORDER_TITLE and m.to and m.to[0] in orders
        ]
    )
    phase.lateness_ms = await lateness(stack.database_url, datetime.fromtimestamp(first_wall).astimezone())


async def lateness(database_url: str, since: datetime) -> dict[str, float]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.scalars(
                text(
                    "SELECT extract(epoch FROM flushed_at - due_at) * 1000 FROM router.bundles"
                    " WHERE opened_at >= :since AND flushed_at IS NOT NULL"
                ),
                {"since": since},
            )
            return percentiles([float(v) for v in rows])
    finally:
        await engine.dispose()


async def floor(stack: Stack, meter: CpuMeter, events: int) -> Phase:
    """The same events through three Kafka hops, raw: produce, then two relays (consume, produce
    to the next topic, commit) and a final consumer, with the services' producer settings."""
    phase = Phase("floor", None, customers=0)
    hops = ["bench.floor.a.v1", "bench.floor.b.v1", "bench.floor.c.v1"]
    await ensure_topics(KafkaSettings(bootstrap=stack.bootstrap, topic_partitions=stack.partitions), hops)
    rng = np.random.default_rng(7)
    payloads = []
    for c in customers(math.ceil(events / EVENTS_PER_VISIT), tag="floor"):
        payloads += [(c.customer_id.encode(), _json(e)) for e in visit(c, rng)]
    phase.events = len(payloads)
    done = asyncio.Event()
    counted = 0

    async def relay(source: str, target: str | None) -> None:
        nonlocal counted
        consumer = AIOKafkaConsumer(
            source,
            bootstrap_servers=stack.bootstrap,
            group_id=f"floor-{source}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=500,
        )
        producer = service_producer(stack.bootstrap) if target else None
        await consumer.start()
        if producer:
            await producer.start()
        try:
            while not done.is_set():
                batch = await consumer.getmany(timeout_ms=100)
                records = [r for rs in batch.values() for r in rs]
                if not records:
                    continue
                if producer and target:
                    sent = [await producer.send(target, r.value, key=r.key) for r in records]
                    await asyncio.gather(*sent)
                else:
                    counted += len(records)
                    if counted >= phase.events:
                        done.set()
                await consumer.commit()
        finally:
            await consumer.stop()
            if producer:
                await producer.stop()

    relays = [asyncio.create_task(relay(a, b)) for a, b in ((hops[0], hops[1]), (hops[1], hops[2]), (hops[2], None))]
    await asyncio.sleep(3)  # the consumers join their groups
    producer = service_producer(stack.bootstrap)
    await producer.start()
    cpu_start = meter.sample()
    started = time.monotonic()
    try:
        futures = [await producer.send(hops[0], value, key=key) for key, value in payloads]
        await asyncio.gather(*futures)
        phase.post_s = time.monotonic() - started
        await asyncio.wait_for(done.wait(), timeout=300)
        phase.end_to_end_s = time.monotonic() - started
    finally:
        await producer.stop()
        done.set()
        await asyncio.gather(*relays, return_exceptions=True)
    usage, seconds = meter.between(cpu_start, meter.sample())
    phase.cpu_pct = usage
    phase.us_per_event = {p: round(1e6 * seconds.get(p, 0.0) / phase.events, 1) for p in ("kafka", "bench", "other")}
    phase.us_per_event["total"] = round(phase.us_per_event["kafka"] + phase.us_per_event["bench"], 1)
    return phase


def _summed(readers: list[Callable[[], float]]) -> float:
    return sum(read() for read in readers)


def _json(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


async def measure_async(opts: argparse.Namespace) -> Result:
    settings: dict[str, dict[str, str]] = {name: {} for name in SERVICES}
    if opts.flush_interval:
        settings["router"]["MC_ROUTER_FLUSH_INTERVAL_S"] = str(opts.flush_interval)
    if opts.linger_ms:  # every consumer waits this long to fill a short batch
        for env in settings.values():
            env["MC_KAFKA_CONSUMER_LINGER_MS"] = str(opts.linger_ms)
    if opts.trace_sample is not None:  # the standard sampler an operator sets under load (docs/operations.md)
        for env in settings.values():
            env |= {
                "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": str(opts.trace_sample),
            }
    replicas = {k: int(v) for k, v in (r.split("=") for r in opts.replicas.split(",") if r)}
    async with Stack(
        opts.workdir,
        partitions=opts.partitions,
        profile=opts.profile,
        keep_data=opts.keep_data,
        settings=settings,
        replicas=replicas,
    ) as stack:
        pids = stack.pids()
        each = processes(pids)  # every replica, summed per service
        parties: dict[str, Callable[[], float]] = {
            service: functools.partial(_summed, [each[p.name] for p in stack.services.values() if p.service == service])
            for service in SERVICES
        }
        parties["kafka"] = each["kafka"]
        postmaster = stack.postmaster_pid()
        parties["postgres"] = lambda: tree_cpu_s(postmaster)
        parties["bench"] = processes({"bench": os.getpid()})["bench"]
        meter = CpuMeter(parties)
        first = meter.sample()
        await asyncio.sleep(opts.idle)
        idle, _ = meter.between(first, meter.sample())
        log(f"idle CPU, % of one core: {idle}")
        floor_phase = await floor(stack, meter, opts.floor_events)
        log(f"floor: {floor_phase.events} events through three hops in {floor_phase.end_to_end_s:.1f}s")
        poster = Poster(stack.urls("ingest"), stack.api_key)
        phases: list[Phase] = []
        try:
            for rate in opts.rates.split(","):
                if rate == "max":
                    phase = Phase("max", None, customers=math.ceil(opts.max_events / EVENTS_PER_VISIT))
                else:
                    r = float(rate)
                    phase = Phase(f"{r:g}/s", r, customers=math.ceil(r * opts.duration / EVENTS_PER_VISIT))
                phase.number = len(phases) + 1
                await run_phase(stack, poster, meter, idle, phase, opts)
                phases.append(phase)
                log(f"{phase.name}: {phase.pushes}/{phase.pushes_expected} pushes, latency {phase.latency_ms}")
            assert stack.sandbox is not None
            result = await audit(
                stack.database_url, stack.bootstrap, poster.posted.types, stack.sandbox.messages("fcm")
            )
        finally:
            await poster.close()
        return Result(idle, floor_phase, phases, result)


def report(result: Result, elapsed_s: float) -> int:
    print()
    head = f"{'phase':<10} {'events':>7} {'ev/s':>7} {'e2e/s':>7} {'push/s':>7} {'pushes':>13}"
    head += f" {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'late50':>7} {'late99':>7}"
    print(head)
    for p in [result.floor, *result.phases]:
        pushes = f"{p.pushes}/{p.pushes_expected}" if p.pushes_expected else "-"
        push_rate = p.pushes / p.end_to_end_s if p.end_to_end_s and p.pushes else None
        print(
            f"{p.name:<10} {p.events:>7} {num(p.achieved, 7)} {num(p.sustained, 7)} {num(push_rate, 7)} {pushes:>13}"
            f" {num(p.latency_ms.get('p50'), 8)} {num(p.latency_ms.get('p95'), 8)} {num(p.latency_ms.get('p99'), 8)}"
            f" {num(p.lateness_ms.get('p50'), 7)} {num(p.lateness_ms.get('p99'), 7)}"
        )
    floor_total = result.floor.us_per_event.get("total", 0.0)
    print(f"\nCPU µs per event (idle subtracted; floor: Kafka and the relaying bench process, {floor_total:,.0f} µs)")
    cols = (*PARTIES, "total")
    print(f"{'phase':<10} " + " ".join(f"{c:>9}" for c in cols) + f" {'x floor':>8}")
    for p in result.phases:
        total = p.us_per_event.get("total")
        ratio = f"{total / floor_total:8.1f}" if total and floor_total else f"{'-':>8}"
        print(f"{p.name:<10} " + " ".join(num(p.us_per_event.get(c), 9) for c in cols) + f" {ratio}")
    print()
    disturbed = print_cpu_table(
        10,
        [(n, n) for n in (*PARTIES, "bench", "other")],
        "",
        [(p.name, p.name, p.cpu_pct, "") for p in [result.floor, *result.phases]],
    )
    a = result.audit
    print(f"\naudit: {a.fields()}")
    for failure in a.failures:
        print(f"AUDIT FAILED: {failure} {a.examples}")
    print_json_line(
        "pipeline",
        elapsed_s,
        {
            "idle_pct": result.idle_pct,
            "floor": _phase_fields(result.floor),
            "phases": [_phase_fields(p) for p in result.phases],
            "audit": a.fields(),
            "disturbed": disturbed,
        },
    )
    for phase in result.phases:
        for service, path in phase.profiles.items():
            profile = load_profile(path) if path else None
            if profile is None:
                continue
            print(f"\n== {service}, phase {phase.name}: own CPU time by package ({profile.total:.1f}s profiled)")
            print_packages(profile, phase.events)
            print_top(profile, OPTS_TOP)
    incomplete = [p.name for p in result.phases if p.pushes < p.pushes_expected]
    if incomplete:
        print(f"pushes missing in {incomplete}")
    return 1 if a.failures or incomplete else 0


def _phase_fields(p: Phase) -> dict[str, Any]:
    return {
        "name": p.name,
        "rate": p.rate,
        "events": p.events,
        "achieved_per_s": round(p.achieved, 1),
        "sustained_per_s": round(p.sustained, 1),
        "pushes": p.pushes,
        "pushes_expected": p.pushes_expected,
        "latency_ms": p.latency_ms,
        "lateness_ms": p.lateness_ms,
        "us_per_event": p.us_per_event,
        "cpu_pct": p.cpu_pct,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="100,300,1000,max", help="events/s or max, per phase")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of traffic per fixed-rate phase (30)")
    parser.add_argument("--max-events", type=int, default=20_000, help="events of the flat-out phase (20000)")
    parser.add_argument("--floor-events", type=int, default=20_000, help="events of the floor (20000)")
    parser.add_argument("--partitions", type=int, default=6, help="partitions per topic (6)")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle CPU measured first (5)")
    parser.add_argument("--drain-timeout", type=float, default=180.0, help="longest wait for a phase's pushes (180)")
    parser.add_argument("--flush-interval", type=float, default=None, help="MC_ROUTER_FLUSH_INTERVAL_S")
    parser.add_argument(
        "--trace-sample", type=float, default=None, help="trace this share of new traces (default: every one)"
    )
    parser.add_argument("--linger-ms", type=int, default=0, help="MC_KAFKA_CONSUMER_LINGER_MS of every service (0)")
    parser.add_argument("--replicas", default="", help="processes per service, e.g. router=2,profile=2 (1 each)")
    parser.add_argument("--profile", action="store_true", help="services under cProfile (bench/profiled.py)")
    parser.add_argument("--workdir", type=Path, default=None, help="logs and data (default .metaconnect/bench/RUN)")
    parser.add_argument("--keep-data", action="store_true", help="keep Kafka/PostgreSQL data after the run")
    opts = parser.parse_args()
    default_workdir(opts, "pipeline")
    return run_main(opts, lambda: run_loop(measure_async(opts)), report)


if __name__ == "__main__":
    sys.exit(main())
