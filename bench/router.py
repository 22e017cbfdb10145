"""bench/router: decisions per second of the pure decision function, and of the router through Kafka.

1. pure: `decide()` in this process, one core, on a realistic setup (three active routes of
   which one matches, five tone variants, learned posteriors for every arm): decisions/s and
   p50/p99 latency per decision. Target: p99 <= 2 ms.
2. kafka: real Kafka and PostgreSQL; an active marketing route; `--events` `mc.profiled.v1`
   records about `--customers` customers produced beforehand; `python -m metaconnect_router`
   spawned; the clock runs from its spawn until `router.processed` holds every record.
   Floor: a raw consumer reading and parsing the same records. Target: >= 5,000 decisions/s.

    uv run python bench/router.py                       # both, ~1.5 min
    uv run python bench/router.py --figures pure        # the pure decision only, seconds
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from aiokafka import AIOKafkaConsumer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.append(str(Path(__file__).resolve().parents[1]))

from bench._harness import (
    Infra,
    StartFailure,
    default_workdir,
    infrastructure,
    log,
    run_loop,
    run_main,
    server_cmd,
    service_env,
    service_producer,
)
from bench._measure import CpuMeter, processes, tree_cpu_s
from metaconnect_cli.local._proc import free_port, spawn, stop
from metaconnect_common.db import session_factory
from metaconnect_common.schemas import Channel, Interaction
from metaconnect_common.schemas.profiled import Profiled, ProfileSnapshot
from metaconnect_common.service import settle_heap
from metaconnect_common.settings import CommonSettings
from metaconnect_common.topics import DELIVERIES, PROFILED, dlq_topic
from metaconnect_router.decisions.decide import ActiveRoute, decide
from metaconnect_router.decisions.eligibility import SendHistory
from metaconnect_router.decisions.ranking import Arm, Posterior
from metaconnect_router.routes.conditions import parse_condition
from metaconnect_router.routes.service import RouteService
from metaconnect_router.routes.spec import RouteSpec, Tone

PARTITIONS = 12
PURE_P99_TARGET_MS = 2.0
KAFKA_TARGET = 5_000.0
GRANTED = {"granted": True, "at": "2026-01-01T00:00:00Z", "source": "bench"}
PATTERNS = ("red", "yellow", "green", "blue", "unknown")


def route(name: str, event_type: str) -> RouteSpec:
    content = {
        "push": {"en": {"title": "Hello", "body": "Something for you."}},
        "email": {"en": {"subject": "Hello", "body": "Something for you."}},
    }
    return RouteSpec.model_validate(
        {
            "name": name,
            "status": "active",
            "trigger": {"event_types": [event_type], "condition": 'profile.lifecycle_stage in ["lead", "customer"]'},
            "messages": [
                {
                    "id": f"msg-{i}",
                    "priority": 40 + 10 * i,
                    "collapse_key": f"k{i}",
                    "channels": ["push", "email"],
                    "variants": {tone.value: content for tone in Tone},
                }
                for i in range(2)
            ],
            "policy": {"bundle_window": "PT10M", "cap_overall": {"count": 20, "per": "P1D"}},
        }
    )


def profile(i: int) -> ProfileSnapshot:
    pattern = PATTERNS[i % len(PATTERNS)]
    return ProfileSnapshot.model_validate(
        {
            "lifecycle_stage": "customer",
            "time_zone": "Europe/Berlin",
            "channel_consent": {"push": GRANTED, "email": GRANTED},
            "reachable": ["in_app", "push", "email"],
            "active_hours": [float(h % 5) for h in range(24)],
            "personality": {
                "colour": pattern,
                "secondary": "unknown",
                "pattern": None if pattern == "unknown" else pattern,
                "probability": 0.7,
            },
        }
    )


def interaction(customer: uuid.UUID, event_type: str, now: datetime) -> Interaction:
    return Interaction.model_validate(
        {
            "event_id": str(uuid.uuid4()),
            "customer": {"customer_id": str(customer)},
            "type": event_type,
            "channel": "in_app",
            "occurred_at": now,
            "received_at": now,
            "source": "bench",
            "properties": {"screen": "home"},
        }
    )


def pure(count: int) -> dict[str, float]:
    """`decide()` `count` times (after a warm-up) on one core."""
    specs = [route(f"r{i}", t) for i, t in enumerate(("app.opened", "a.b", "c.d"))]
    routes = [ActiveRoute(s.name, 1, s, parse_condition(s.trigger.condition or "")) for s in specs]
    rng = np.random.default_rng(7)
    posteriors = {
        Arm(p, tone, channel): Posterior(float(rng.integers(10, 500)), float(rng.integers(500, 5000)))
        for p in PATTERNS
        for tone in Tone
        for channel in (Channel.PUSH, Channel.EMAIL)
    }
    now = datetime(2026, 6, 10, 10, 0, tzinfo=UTC)
    customers = [uuid.uuid4() for _ in range(100)]
    profiles = [profile(i) for i in range(100)]
    events = [interaction(c, "app.opened", now) for c in customers]
    history = SendHistory(sent_at={Channel.PUSH: [now.replace(hour=8)]})
    settle_heap(CommonSettings.model_fields["gc_gen0_threshold"].default)  # as the service runs
    latencies = []
    for i in range(count + 500):
        started = time.perf_counter()
        decide(
            events[i % 100],
            profiles[i % 100],
            customers[i % 100],
            routes,
            posteriors=posteriors,
            history=history,
            now=now,
            rng=rng,
        )
        if i >= 500:
            latencies.append(time.perf_counter() - started)
    latencies.sort()
    total = sum(latencies)
    return {
        "decisions": float(count),
        "decisions_per_s": round(count / total, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 3),
    }


def records(events: int, customers: int) -> list[tuple[bytes, bytes]]:
    now = datetime.now(UTC)
    ids = [uuid.uuid4() for _ in range(customers)]
    profiles = [profile(i) for i in range(customers)]
    out = []
    for n in range(events):
        c = n % customers
        p = Profiled(
            id=uuid.uuid4(),
            customer_id=ids[c],
            interaction=interaction(ids[c], "app.opened", now),
            profile=profiles[c],
            profiled_at=now,
        )
        out.append((p.kafka_key(), p.model_dump_json().encode()))
    return out


async def produce(bootstrap: str, values: list[tuple[bytes, bytes]]) -> None:
    producer = service_producer(bootstrap)
    await producer.start()
    try:
        futures = [await producer.send(PROFILED, value, key=key) for key, value in values]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def floor(bootstrap: str, target: int) -> float:
    """A raw consumer group reads and parses every record, committing per batch: events/s."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"bench-floor-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=500,
    )
    await consumer.start()
    try:
        consumer.subscribe([PROFILED])
        done, started = 0, time.monotonic()
        while done < target and time.monotonic() - started < 120:
            batch = await consumer.getmany(timeout_ms=1000, max_records=500)
            for messages in batch.values():
                for message in messages:
                    json.loads(message.value)
                done += len(messages)
            if batch:
                await consumer.commit()
        return round(done / (time.monotonic() - started), 1)
    finally:
        await consumer.stop()


async def create_route(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        await RouteService(session_factory(engine)).create(route("bench", "app.opened"), author="bench")
    finally:
        await engine.dispose()


async def wait_decided(infra: Infra, target: int, proc: Any, cap_s: float) -> tuple[float, float, dict[str, float]]:
    """Seconds from spawn to the last record decided, steady decisions/s (10%-90%), CPU in % of one core."""
    engine = create_async_engine(infra.database_url)
    meter = CpuMeter(
        {
            **processes({"kafka": infra.kafka_pid}),
            "router": lambda: tree_cpu_s(proc.pid),
            "postgres": lambda: tree_cpu_s(infra.postmaster_pid),
        }
    )
    started = time.monotonic()
    marks: list[tuple[float, int]] = []
    usage: dict[str, float] = {}
    try:
        while time.monotonic() - started < cap_s:
            if proc.poll() is not None:
                raise StartFailure(f"the router exited with {proc.returncode}")
            async with engine.connect() as conn:
                done = int(await conn.scalar(text("SELECT count(*) FROM router.processed")) or 0)
            marks.append((time.monotonic(), done))
            if done >= 0.1 * target and not meter.started:
                meter.start()
            if done >= 0.9 * target and meter.started and not usage:
                usage, _ = meter.stop()
            if done >= target:
                break
            await asyncio.sleep(0.25)
    finally:
        await engine.dispose()
    lo = next(((t, n) for t, n in marks if n >= 0.1 * target), marks[0])
    hi = next(((t, n) for t, n in marks if n >= 0.9 * target), marks[-1])
    steady = (hi[1] - lo[1]) / max(hi[0] - lo[0], 1e-9)
    return marks[-1][0] - started, round(steady, 1), usage


def kafka(opts: argparse.Namespace) -> dict[str, Any]:
    with infrastructure(
        opts.workdir / "data",
        partitions=PARTITIONS,
        migrate="metaconnect_router",
        topics=[PROFILED, DELIVERIES, dlq_topic("router")],
        migrated="router migrated",
    ) as infra:
        values = records(opts.events, opts.customers)
        run_loop(produce(infra.bootstrap, values))
        log(f"produced {opts.events:,} mc.profiled.v1 records about {opts.customers:,} customers")
        floor_rate = run_loop(floor(infra.bootstrap, opts.events))
        log(f"floor: {floor_rate:,.0f} records/s")
        run_loop(create_route(infra.database_url))
        port = free_port()
        env = service_env(
            infra,
            MC_ROUTER_PORT=str(port),
            MC_ROUTER_HOST="127.0.0.1",
            MC_ROUTER_GROUP_ID=f"bench-{uuid.uuid4().hex[:6]}",
        )
        proc = spawn(server_cmd(["-m", "metaconnect_router"]), log=opts.workdir / "logs" / "router.log", env=env)
        try:
            seconds, steady, cpu = run_loop(wait_decided(infra, opts.events, proc, opts.duration))
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
        finally:
            stop(proc)
        return {
            "events": opts.events,
            "seconds": round(seconds, 1),
            "decisions_per_s": round(opts.events / seconds, 1),
            "steady_per_s": steady,
            "floor_per_s": floor_rate,
            "ratio": round(steady / floor_rate, 4) if floor_rate else None,
            "cpu": cpu,
            "ready_at_end": ready,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--figures", default="pure,kafka", help="pure, kafka or both (default)")
    parser.add_argument("--pure-decisions", type=int, default=5000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--duration", type=float, default=120.0, help="cap on the service run, seconds")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep-data", action="store_true")
    opts = parser.parse_args()
    default_workdir(opts, "router")
    figures = set(opts.figures.split(","))

    def measure() -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "pure" in figures:
            out["pure"] = pure(opts.pure_decisions)
            log(f"pure: {out['pure']}")
        if "kafka" in figures:
            out["kafka"] = kafka(opts)
        return out

    def report(result: dict[str, Any], elapsed: float) -> int:
        if "pure" in result:
            p = result["pure"]
            met = "met" if p["p99_ms"] <= PURE_P99_TARGET_MS else "MISSED"
            print(
                f"pure decide(): {p['decisions_per_s']:,.0f} decisions/s on one core, p50 {p['p50_ms']} ms, "
                f"p99 {p['p99_ms']} ms (target p99 <= {PURE_P99_TARGET_MS} ms: {met})"
            )
        if "kafka" in result:
            k = result["kafka"]
            met = "met" if k["steady_per_s"] >= KAFKA_TARGET else "MISSED"
            print(
                f"through Kafka: {k['steady_per_s']:,.0f} decisions/s steady ({k['decisions_per_s']:,.0f} from spawn, "
                f"{k['events']:,} records in {k['seconds']} s); floor (raw consume) {k['floor_per_s']:,.0f}/s, "
                f"ratio {k['ratio']}; target >= {KAFKA_TARGET:,.0f}/s: {met}"
            )
            print(f"CPU, % of one core, steady: {k['cpu']}")
        print(
            json.dumps(
                {
                    "bench": "router",
                    "at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "elapsed_s": round(elapsed, 1),
                    **result,
                }
            )
        )
        return 0

    sys.exit(run_main(opts, measure, report))


if __name__ == "__main__":
    main()
