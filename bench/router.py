"""bench/router: decisions per second of the pure decision function, and of the router through Kafka.

1. pure: `decide()` in this process, one core, on a realistic setup (three active routes of
   which one matches, five tone variants, learned posteriors for every arm): decisions/s and
   p50/p99 latency per decision. Target: p99 <= 2 ms.
2. kafka: real Kafka and PostgreSQL; an active marketing route; `--events` `mc.profiled.v1`
   records about `--customers` customers produced beforehand; `python -m metaconnect_router`
   spawned; the clock runs from its spawn until `router.processed` holds every record.
   Floor: a raw consumer reading and parsing the same records. Target: >= 5,000 decisions/s.
   Also CPU per decision of the router and of PostgreSQL in the steady window (the drain: big
   fetches).
3. paced: the same setup, but the router runs first and the records are produced at `--rate`
   records/s, as they arrive in production: almost every fetch holds a few records per
   partition, so fixed per-batch costs count. Reported: CPU per decision of the router and of
   PostgreSQL over `--paced-seconds`, the router's idle CPU, PostgreSQL's transactions and rows
   per decision; with `--profile` a cProfile of the router over the paced window.

    uv run python bench/router.py                       # pure and kafka, ~1.5 min
    uv run python bench/router.py --figures pure        # the pure decision only, seconds
    uv run python bench/router.py --figures paced --rate 100             # CPU per decision at small batches
    uv run python bench/router.py --figures paced --rate 100 --profile   # where it goes
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
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
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

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
from bench._measure import CpuMeter, load_profile, print_packages, print_top, processes, tree_cpu_s
from metaconnect_cli.local._proc import free_port, spawn, stop
from metaconnect_common.conditions import parse_condition
from metaconnect_common.db import session_factory
from metaconnect_common.schemas import Channel, Interaction
from metaconnect_common.schemas.profiled import Profiled, ProfileSnapshot
from metaconnect_common.service import settle_heap
from metaconnect_common.settings import CommonSettings
from metaconnect_common.topics import DELIVERIES, PROFILED, dlq_topic
from metaconnect_router.decisions.decide import ActiveRoute, decide
from metaconnect_router.decisions.eligibility import SendHistory
from metaconnect_router.decisions.ranking import Arm, Posterior
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


async def wait_decided(
    infra: Infra, target: int, proc: Any, cap_s: float
) -> tuple[float, float, dict[str, float], dict[str, float]]:
    """Seconds from spawn to the last record decided, steady decisions/s (10%-90%), CPU in % of one
    core and in us per decision over the steady window."""
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
    per_decision: dict[str, float] = {}
    metered_from = 0
    try:
        while time.monotonic() - started < cap_s:
            if proc.poll() is not None:
                raise StartFailure(f"the router exited with {proc.returncode}")
            async with engine.connect() as conn:
                done = int(await conn.scalar(text("SELECT count(*) FROM router.processed")) or 0)
            marks.append((time.monotonic(), done))
            if done >= 0.1 * target and not meter.started:
                meter.start()
                metered_from = done
            if done >= 0.9 * target and meter.started and not usage:
                usage, seconds = meter.stop()
                per_decision = us_per_decision(seconds, done - metered_from)
            if done >= target:
                break
            await asyncio.sleep(0.25)
    finally:
        await engine.dispose()
    lo = next(((t, n) for t, n in marks if n >= 0.1 * target), marks[0])
    hi = next(((t, n) for t, n in marks if n >= 0.9 * target), marks[-1])
    steady = (hi[1] - lo[1]) / max(hi[0] - lo[0], 1e-9)
    return marks[-1][0] - started, round(steady, 1), usage, per_decision


def us_per_decision(seconds: dict[str, float], decisions: int) -> dict[str, float]:
    """CPU seconds per party -> us per decision (machine and other included, for context)."""
    if decisions <= 0:
        return {}
    return {name: round(1e6 * value / decisions, 1) for name, value in seconds.items()}


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
        env = router_env(infra, port, opts)
        proc = spawn(server_cmd(["-m", "metaconnect_router"]), log=opts.workdir / "logs" / "router.log", env=env)
        try:
            seconds, steady, cpu, per_decision = run_loop(wait_decided(infra, opts.events, proc, opts.duration))
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
            "cpu_us_per_decision": per_decision,
            "ready_at_end": ready,
        }


def router_env(infra: Infra, port: int, opts: argparse.Namespace) -> dict[str, str]:
    settings = {
        "MC_ROUTER_PORT": str(port),
        "MC_ROUTER_HOST": "127.0.0.1",
        "MC_ROUTER_GROUP_ID": f"bench-{uuid.uuid4().hex[:6]}",
    }
    if opts.max_records is not None:
        settings["MC_ROUTER_MAX_RECORDS"] = str(opts.max_records)
    return service_env(infra, **settings)


# --------------------------------------------------------------------------- paced: real arrival rates

# Synchronous functions called once per database operation (cProfile counts every resumption of a
# coroutine as a call, so asyncpg's own coroutines cannot be counted).
DB_OPERATIONS = {
    ("sqlalchemy/engine/default.py", "_init_compiled"): "statements",
    ("sqlalchemy/dialects/postgresql/asyncpg.py", "commit"): "commits",
    ("sqlalchemy/sql/compiler.py", "__init__"): "compilations",
}


async def pg_counters(conn: AsyncConnection) -> dict[str, float]:
    """Cumulative counters of this database: transactions, rows, WAL."""
    await conn.execute(text("SELECT pg_stat_clear_snapshot()"))
    names = ("xact_commit", "xact_rollback", "tup_returned", "tup_fetched", "tup_inserted", "tup_updated")
    row = (
        await conn.execute(text(f"SELECT {', '.join(names)} FROM pg_stat_database WHERE datname = current_database()"))
    ).one()
    out = dict(zip(names, (float(v) for v in row), strict=True))
    with contextlib.suppress(Exception):  # pg_stat_wal: PostgreSQL 14+
        wal = (await conn.execute(text("SELECT wal_records, wal_bytes FROM pg_stat_wal"))).one()
        out["wal_records"], out["wal_bytes"] = float(wal[0]), float(wal[1])
    return out


async def decided_count(conn: AsyncConnection) -> int:
    return int(await conn.scalar(text("SELECT count(*) FROM router.processed")) or 0)


async def produce_paced(bootstrap: str, values: list[tuple[bytes, bytes]], rate: float) -> float:
    """Produce `values` at `rate` records/s (each sent when its time comes); the seconds it took."""
    producer = service_producer(bootstrap)
    await producer.start()
    try:
        started = time.monotonic()
        futures = []
        for n, (key, value) in enumerate(values):
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            futures.append(await producer.send(PROFILED, value, key=key))
        await asyncio.gather(*futures)
        return time.monotonic() - started
    finally:
        await producer.stop()


async def wait_count(conn: AsyncConnection, target: int, proc: Any, cap_s: float) -> int:
    """Poll until `router.processed` holds `target` records (or `cap_s` passed); the count."""
    deadline = time.monotonic() + cap_s
    while True:
        if proc.poll() is not None:
            raise StartFailure(f"the router exited with {proc.returncode}")
        done = await decided_count(conn)
        if done >= target or time.monotonic() > deadline:
            return done
        await asyncio.sleep(0.1)


async def wait_ready(port: int, proc: Any, cap_s: float = 60.0) -> None:
    deadline = time.monotonic() + cap_s
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise StartFailure(f"the router exited with {proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.25)
    raise StartFailure("the router was not ready within 60 s")


async def run_paced(infra: Infra, opts: argparse.Namespace, proc: Any, port: int) -> dict[str, Any]:
    """Warm up, measure idle CPU, then produce the measured records at `--rate` under the CPU meter."""
    warmup = int(opts.rate * opts.paced_warmup)
    measured = int(opts.rate * opts.paced_seconds)
    values = records(warmup + measured, opts.customers)
    meter = CpuMeter(
        {
            **processes({"kafka": infra.kafka_pid}),
            "router": lambda: tree_cpu_s(proc.pid),
            "postgres": lambda: tree_cpu_s(infra.postmaster_pid),
            "bench": lambda: sum(os.times()[:2]),
        }
    )
    await wait_ready(port, proc)
    engine = create_async_engine(infra.database_url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SET statement_timeout = '30s'"))
            await produce_paced(infra.bootstrap, values[:warmup], opts.rate)
            await wait_count(conn, warmup, proc, 60)
            await conn.commit()
            # What the router spends with nothing to do (flusher, outbox relay, consumer polls).
            meter.start()
            await asyncio.sleep(opts.idle_seconds)
            idle, _ = meter.stop()
            before = await pg_counters(conn)
            await conn.commit()
            meter.start()
            if opts.profile:
                os.kill(proc.pid, signal.SIGUSR1)
            produced_s = await produce_paced(infra.bootstrap, values[warmup:], opts.rate)
            done = await wait_count(conn, warmup + measured, proc, 60)
            if opts.profile:
                os.kill(proc.pid, signal.SIGUSR2)
            usage, seconds = meter.stop()
            await conn.commit()
            after = await pg_counters(conn)
            await conn.commit()
    finally:
        await engine.dispose()
    decisions = done - warmup
    pg = {k: round((after[k] - before.get(k, 0.0)) / max(decisions, 1), 3) for k in after}
    return {
        "rate": opts.rate,
        "decisions": decisions,
        "produced_s": round(produced_s, 1),
        "cpu": usage,
        "cpu_us_per_decision": us_per_decision(seconds, decisions),
        "router_idle_pct": idle.get("router"),
        "router_idle_us_per_decision": round(1e4 * idle.get("router", 0.0) / opts.rate, 1),
        "pg_per_decision": pg,
    }


def paced(opts: argparse.Namespace) -> dict[str, Any]:
    with infrastructure(
        opts.workdir / "data",
        partitions=PARTITIONS,
        migrate="metaconnect_router",
        topics=[PROFILED, DELIVERIES, dlq_topic("router")],
        migrated="router migrated",
    ) as infra:
        run_loop(create_route(infra.database_url))
        port = free_port()
        prefix = opts.workdir / "profiles" / "router-" if opts.profile else None
        proc = spawn(
            server_cmd(["-m", "metaconnect_router"], prefix),
            log=opts.workdir / "logs" / "router.log",
            env=router_env(infra, port, opts),
        )
        try:
            result = run_loop(run_paced(infra, opts, proc, port))
        finally:
            stop(proc)
        if prefix is not None:
            result["profile"] = str(prefix) + "1.prof"
        return result


def print_router_profile(path: Path, decisions: int, limit: int) -> None:
    """Own time by package (the router's own code as one), DB operations per decision, top functions."""
    profile = load_profile(path, DB_OPERATIONS)
    if profile is None:
        return
    grouped: dict[str, float] = {}
    for owner, seconds in profile.by_package.items():
        owner = "metaconnect_router" if "/metaconnect_router/" in owner else owner
        grouped[owner] = grouped.get(owner, 0.0) + seconds
    profile.by_package = grouped
    print(f"\n== cProfile of the router over {decisions} paced decisions ({path})")
    per = 1e6 * profile.total / max(decisions, 1)
    print(f"main-thread CPU profiled: {profile.total:.2f}s, {per:.0f} us per decision")
    print_packages(profile, decisions)
    each = {op: n / max(decisions, 1) for op, n in profile.calls.items()}
    print(
        f"\nper decision: {each['statements']:.2f} statements, {each['commits']:.2f} commits, "
        f"{each['compilations']:.2f} SQL compilations"
    )
    print_top(profile, limit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--figures", default="pure,kafka", help="pure, kafka, paced, comma-separated (pure,kafka)")
    parser.add_argument("--pure-decisions", type=int, default=5000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--duration", type=float, default=120.0, help="cap on the service run, seconds")
    parser.add_argument("--max-records", type=int, default=None, help="the router's MC_ROUTER_MAX_RECORDS")
    parser.add_argument("--rate", type=float, default=100.0, help="paced: records produced per second (100)")
    parser.add_argument("--paced-seconds", type=float, default=30.0, help="paced: the measured window (30 s)")
    parser.add_argument("--paced-warmup", type=float, default=5.0, help="paced: seconds of records before it (5)")
    parser.add_argument("--idle-seconds", type=float, default=5.0, help="paced: idle CPU measured for (5 s)")
    parser.add_argument("--profile", action="store_true", help="paced: the router under cProfile (bench/profiled.py)")
    parser.add_argument("--profile-top", type=int, default=40, help="rows of the profile to print (40)")
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
        if "paced" in figures:
            out["paced"] = paced(opts)
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
            print(f"CPU, us per decision, steady: {k['cpu_us_per_decision']}")
        if "paced" in result:
            k = result["paced"]
            us = k["cpu_us_per_decision"]
            print(
                f"paced at {k['rate']:,.0f} records/s: {k['decisions']:,} decisions; CPU per decision: router "
                f"{us.get('router', 0):,.0f} us, PostgreSQL {us.get('postgres', 0):,.0f} us, Kafka "
                f"{us.get('kafka', 0):,.0f} us (other processes {us.get('other', 0):,.0f} us)"
            )
            print(
                f"router idle: {k['router_idle_pct']}% of a core, {k['router_idle_us_per_decision']:,.0f} us per "
                f"decision at this rate; CPU, % of one core: {k['cpu']}"
            )
            print(f"PostgreSQL per decision: {k['pg_per_decision']}")
            if k["cpu"].get("other", 0.0) > 25.0:
                print("WARNING: other processes used over 25% of a core: a shared machine; compare with care.")
            if "profile" in k:
                print("(--profile: the router ran under cProfile; its CPU figures are inflated)")
                print_router_profile(Path(k["profile"]), k["decisions"], opts.profile_top)
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
