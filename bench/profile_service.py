"""Profile service throughput through real Kafka into real PostgreSQL, against a raw-consume floor.

    uv run python bench/profile_service.py [--events 50000] [--customers 5000] [--duration 90] [--profile] ...

Starts real Apache Kafka and PostgreSQL, migrates the profile schema, then:

1. pre-produces `--events` interactions over `--customers` customers to `mc.interactions.v1`
   (12 partitions), the exact records ingest writes (`to_record(Interaction)`, plus a
   `traceparent` header as the ingest publisher adds), a realistic mix of event types;
2. floor: a raw `AIOKafkaConsumer` in a fresh consumer group reads them all (`getmany`
   with the service's `max_records`, `json.loads` of every value, offsets committed after
   every batch), `--floor-rounds` times, median round;
3. figure: the real service (`python -m metaconnect_profile`, fresh group id) is started
   and the clock runs from its spawn until `profile.processed_events` holds every event
   (polled every `--poll` s) or `--duration` s passed; the steady rate is the one between
   10% and 90% of the events (to the end of a capped run), so start-up does not dominate.
   Then SIGTERM.

Before Kafka starts it also measures a compute ceiling: the service's own domain code
(`profiles.batch`: decode, resolve, rules, effects, rows, `mc.profiled.v1` records), in
batches of a partition's share of a fetch, without any I/O, on one core.

Prints the figure, its floor and the ratio, a CPU table (server, Kafka, PostgreSQL, this
process, other processes), what PostgreSQL did per applied event (transactions, WAL
flushes, rows per table) and one JSON line with every number. Exits 0 whatever the ratio
(it is a measurement), 1 when nothing was applied or consumed, 2 when something did not
start or the service died.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

# `python bench/profile_service.py` puts bench/ on sys.path; the modules it shares with ingest.py are `bench._*`.
sys.path.append(str(Path(__file__).resolve().parents[1]))

from bench._harness import (
    Infra,
    StartFailure,
    add_common_args,
    default_workdir,
    infrastructure,
    log,
    run_loop,
    run_main,
    server_cmd,
    service_env,
)
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
from bench._profile_load import (
    MIX,
    STEADY,
    Compute,
    Mark,
    Run,
    compute_ceiling,
    floor_round,
    make_interactions,
    produce,
    produce_paced,
)
from metaconnect_cli.local._proc import free_port, spawn, stop
from metaconnect_common.topics import INTERACTIONS, PROFILED, dlq_topic
from metaconnect_profile.config import ProfileSettings

SERVICE_MODULE = "metaconnect_profile"
PARTITIONS = 12
TARGET_EVENTS_PER_S = 10_000.0  # the issue's target on this 2-core machine
PROFILE_TABLES = ("customers", "identities", "processed_events", "timeline", "personality_evidence", "outbox")


async def end_offsets(bootstrap: str, topic: str) -> int:
    """How many records `topic` holds (sum of its partitions' end offsets)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, client_id="metaconnect-bench-offsets")
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        offsets: dict[Any, int] = await consumer.end_offsets(partitions)
        return sum(offsets.values())
    finally:
        await consumer.stop()


# --------------------------------------------------------------------------- PostgreSQL statistics


async def pg_stats(conn: AsyncConnection) -> dict[str, float]:
    """Cumulative counters of this database: transactions, WAL, rows per profile table."""
    out: dict[str, float] = {}
    await conn.execute(text("SELECT pg_stat_clear_snapshot()"))
    row = (
        await conn.execute(
            text(
                "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted, tup_fetched "
                "FROM pg_stat_database WHERE datname = current_database()"
            )
        )
    ).one()
    names = ("xact_commit", "xact_rollback", "tup_inserted", "tup_updated", "tup_deleted", "tup_fetched")
    out.update(zip(names, row, strict=True))
    with contextlib.suppress(Exception):  # pg_stat_wal: PostgreSQL 14+
        wal = (await conn.execute(text("SELECT wal_records, wal_bytes FROM pg_stat_wal"))).one()
        out["wal_records"], out["wal_bytes"] = float(wal[0]), float(wal[1])
    with contextlib.suppress(Exception):  # WAL writes and fsyncs in pg_stat_io: PostgreSQL 18+
        io = (
            await conn.execute(
                text("SELECT coalesce(sum(writes), 0), coalesce(sum(fsyncs), 0) FROM pg_stat_io WHERE object = 'wal'")
            )
        ).one()
        out["wal_writes"], out["wal_fsyncs"] = float(io[0]), float(io[1])
    rows = await conn.execute(
        text(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del, coalesce(idx_scan, 0) + coalesce(seq_scan, 0) "
            "FROM pg_stat_user_tables WHERE schemaname = 'profile'"
        )
    )
    for name, ins, upd, dele, scans in rows:
        if name in PROFILE_TABLES:
            out[f"{name}.ins"], out[f"{name}.upd"], out[f"{name}.del"], out[f"{name}.scans"] = ins, upd, dele, scans
    return {k: float(v) for k, v in out.items()}


def per_event(before: dict[str, float], after: dict[str, float], events: int, bench_queries: int) -> dict[str, float]:
    """What PostgreSQL did per applied event between two snapshots (the bench's own polls taken out)."""
    if events <= 0:
        return {}
    delta = {k: after[k] - before.get(k, 0.0) for k in after}
    delta["xact_commit"] = max(0.0, delta.get("xact_commit", 0.0) - bench_queries)
    return {k: round(v / events, 2) for k, v in delta.items()}


# --------------------------------------------------------------------------- the service


def service_cmd(opts: argparse.Namespace) -> list[str]:
    return server_cmd(["-m", opts.profile_module], opts.workdir / "profiles" / "profile-" if opts.profile else None)


def parties(infra: Infra, server_pid: int | None = None) -> dict[str, Callable[[], float]]:
    """Whose CPU is measured: the service (when it runs), the broker, PostgreSQL with its backends, this process."""
    servers = {"server": server_pid} if server_pid is not None else {}
    return {
        **processes({**servers, "kafka": infra.kafka_pid}),
        "postgres": functools.partial(tree_cpu_s, infra.postmaster_pid),
        **processes({"bench": os.getpid()}),
    }


def _service_env(infra: Infra, port: int, opts: argparse.Namespace) -> dict[str, str]:
    return service_env(
        infra,
        MC_PROFILE_HOST="127.0.0.1",
        MC_PROFILE_PORT=str(port),
        MC_PROFILE_GROUP_ID=f"bench-profile-{uuid.uuid4().hex[:12]}",
        MC_PROFILE_MAX_RECORDS=str(opts.max_records),
    )


@dataclass
class ServiceRun:
    run: Run
    whole_cpu: dict[str, float] = field(default_factory=dict)
    whole_cpu_us_per_event: dict[str, float] = field(default_factory=dict)
    ready_s: float | None = None
    exit_code: int | None = None
    applied_after_stop: int = 0  # the batch in flight is finished on SIGTERM
    pg_per_event: dict[str, float] = field(default_factory=dict)
    outbox_pending: int | None = None
    profiled_records: int | None = None
    dead_letters: int | None = None
    profile_events: int = 0  # events applied while cProfile ran


async def run_service(opts: argparse.Namespace, infra: Infra, target: int) -> ServiceRun:
    """Spawn the service, watch `processed_events` until every event is applied or the cap, SIGTERM it."""
    port = free_port()
    log_file = opts.workdir / "logs" / "profile-service.log"
    engine = create_async_engine(infra.database_url, pool_size=1, max_overflow=0)
    result = ServiceRun(Run(name="service", target=target))
    queries = 0
    try:
        async with engine.connect() as raw, httpx.AsyncClient(timeout=0.5) as http:
            conn = await raw.execution_options(isolation_level="AUTOCOMMIT")
            before = await pg_stats(conn)
            proc = spawn(service_cmd(opts), log=log_file, env=_service_env(infra, port, opts))
            meter = CpuMeter(parties(infra, proc.pid))
            samples = [meter.sample()]
            started = samples[0][0]
            marks: list[Mark] = [(0.0, 0)]
            profiled_from: int | None = None
            try:
                while True:
                    await asyncio.sleep(opts.poll)
                    if proc.poll() is not None:
                        result.exit_code = proc.returncode
                        raise StartFailure(f"the service exited with {proc.returncode}; see {log_file}")
                    count = int(await conn.scalar(text("SELECT count(*) FROM profile.processed_events")) or 0)
                    queries += 1
                    samples.append(meter.sample())
                    now = samples[-1][0] - started
                    marks.append((now, count))
                    if result.ready_s is None:
                        with contextlib.suppress(httpx.HTTPError):
                            if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                                result.ready_s = round(now, 2)
                    finished = count >= target or now >= opts.duration
                    if opts.profile:
                        # From STEADY[0] of the events (or a quarter into a run too slow to get there) to
                        # STEADY[1] of them or the end.
                        if profiled_from is None and not result.profile_events and not finished:
                            if count >= STEADY[0] * target or (count and now >= opts.duration / 4):
                                os.kill(proc.pid, signal.SIGUSR1)
                                profiled_from = count
                        elif profiled_from is not None and (count >= STEADY[1] * target or finished):
                            os.kill(proc.pid, signal.SIGUSR2)
                            result.profile_events, profiled_from = count - profiled_from, None
                    if finished:
                        break
            finally:
                await asyncio.to_thread(stop, proc, timeout=45)
                if result.exit_code is None:
                    result.exit_code = proc.returncode
            window = result.run.finish(marks, marks[-1][0])
            if window is not None:
                i, j = window
                result.run.charge(*meter.between(samples[i], samples[j]), marks[j][1] - marks[i][1])
            usage, cpu_s = meter.between(samples[0], samples[-1])
            result.whole_cpu = usage
            if marks[-1][1]:
                result.whole_cpu_us_per_event = {
                    name: round(1e6 * cpu_s[name] / marks[-1][1], 1) for name in meter.parties
                }
            await asyncio.sleep(1.0)  # exiting backends flush their statistics
            applied = int(await conn.scalar(text("SELECT count(*) FROM profile.processed_events")) or 0)
            result.applied_after_stop = applied - marks[-1][1]
            after = await pg_stats(conn)
            result.pg_per_event = per_event(before, after, applied, queries + 1)
            result.outbox_pending = int(
                await conn.scalar(text("SELECT count(*) FROM profile.outbox WHERE published_at IS NULL")) or 0
            )
    finally:
        await engine.dispose()
    result.profiled_records = await end_offsets(infra.bootstrap, PROFILED)
    result.dead_letters = await end_offsets(infra.bootstrap, dlq_topic("profile"))
    return result


# --------------------------------------------------------------------------- paced: real arrival rates


# Prometheus series of the consumer runner that tell how big its handler calls were.
HANDLER_CALLS = {
    "mc_kafka_handler_seconds_count": "single",  # one record of a partition in a fetch (or a batch's retry)
    "mc_kafka_batch_handler_seconds_count": "batches",  # a partition's records of a fetch together
    "mc_kafka_consumer_processed_total": "records",
}


async def handler_calls(http: httpx.AsyncClient, port: int) -> dict[str, float]:
    """The consumer runner's handler calls and records so far, from the service's `/metrics`."""
    out = dict.fromkeys(HANDLER_CALLS.values(), 0.0)
    with contextlib.suppress(httpx.HTTPError):
        for line in (await http.get(f"http://127.0.0.1:{port}/metrics")).text.splitlines():
            name, _, rest = line.partition("{")
            if name in HANDLER_CALLS and "mc.interactions.v1" in rest:
                out[HANDLER_CALLS[name]] += float(line.rsplit(" ", 1)[1])
    return out


@dataclass
class PacedRun:
    """The service fed at a fixed rate: CPU per event over the paced window, PostgreSQL's work per event."""

    rate: float
    warmup_events: int
    events: int  # paced, measured
    produce_s: float = 0.0  # producing the paced events
    seconds: float = 0.0  # from the first paced event to the last one applied
    lag_s: float = 0.0  # from the last paced event produced to it applied
    cpu: dict[str, float] = field(default_factory=dict)  # % of one core over the window
    cpu_us_per_event: dict[str, float] = field(default_factory=dict)
    handler_calls: dict[str, float] = field(default_factory=dict)  # over the window
    ready_s: float | None = None
    exit_code: int | None = None
    pg_per_event: dict[str, float] = field(default_factory=dict)  # from the paced window to the service's exit
    pg_events: int = 0  # applied in all
    outbox_pending: int | None = None
    profiled_records: int | None = None
    dead_letters: int | None = None


async def _wait_applied(
    conn: AsyncConnection, target: int, proc: Any, timeout_s: float, poll_s: float = 0.2
) -> tuple[int, int]:
    """Poll `processed_events` until it holds `target` events: (the count, short of it on timeout; polls)."""
    deadline = time.monotonic() + timeout_s
    polls = 0
    while True:
        count = int(await conn.scalar(text("SELECT count(*) FROM profile.processed_events")) or 0)
        polls += 1
        if count >= target or time.monotonic() > deadline:
            return count, polls
        if proc.poll() is not None:
            raise StartFailure(f"the service exited with {proc.returncode}")
        await asyncio.sleep(poll_s)


async def run_paced(opts: argparse.Namespace, infra: Infra, interactions: Sequence[Any]) -> PacedRun:
    """Spawn the service; apply a warm-up backlog; then produce the rest at `--rate` and measure.

    CPU is charged from the first paced record to the last one applied (no polls in between:
    the bench's own queries would be PostgreSQL CPU too), so per event it includes what the
    service does while idle between arrivals, as it would in production."""
    port = free_port()
    log_file = opts.workdir / "logs" / "profile-service.log"
    warm, paced = interactions[: opts.warmup_events], interactions[opts.warmup_events :]
    result = PacedRun(rate=opts.rate, warmup_events=len(warm), events=len(paced))
    engine = create_async_engine(infra.database_url, pool_size=1, max_overflow=0)
    queries = 0
    try:
        async with engine.connect() as raw, httpx.AsyncClient(timeout=2.0) as http:
            conn = await raw.execution_options(isolation_level="AUTOCOMMIT")
            proc = spawn(service_cmd(opts), log=log_file, env=_service_env(infra, port, opts))
            started = time.monotonic()
            try:
                while result.ready_s is None:
                    if proc.poll() is not None:
                        result.exit_code = proc.returncode
                        raise StartFailure(f"the service exited with {proc.returncode}; see {log_file}")
                    if time.monotonic() - started > 60:
                        raise StartFailure(f"the service was not ready within 60 s; see {log_file}")
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                            result.ready_s = round(time.monotonic() - started, 2)
                    await asyncio.sleep(0.2)
                if warm:
                    await produce(infra.bootstrap, warm)
                    done, polls = await _wait_applied(conn, len(warm), proc, 120)
                    queries += polls
                    log(f"warm-up: {done:,}/{len(warm):,} applied ({time.monotonic() - started:.1f}s from spawn)")
                # Idle backends flush their statistics within 10 s: then the snapshot holds all of the warm-up.
                await asyncio.sleep(11.0)
                mid = await pg_stats(conn)
                queries = 0
                calls_before = await handler_calls(http, port)
                meter = CpuMeter(parties(infra, proc.pid))
                first = meter.sample()
                if opts.profile:
                    os.kill(proc.pid, signal.SIGUSR1)
                result.produce_s = round(await produce_paced(infra.bootstrap, paced, opts.rate), 3)
                produced_at = time.monotonic()
                done, polls = await _wait_applied(conn, len(interactions), proc, 60, poll_s=0.05)
                queries += polls
                last = meter.sample()
                if opts.profile:
                    os.kill(proc.pid, signal.SIGUSR2)
                result.lag_s = round(last[0] - produced_at, 3)
                result.seconds = round(last[0] - first[0], 3)
                result.cpu, cpu_s = meter.between(first, last)
                applied = done - len(warm)
                if applied < len(paced):
                    log(f"only {applied:,} of {len(paced):,} paced events applied within 60 s of the last one")
                if applied > 0:
                    result.cpu_us_per_event = {
                        name: round(1e6 * cpu_s[name] / applied, 1)
                        for name in cpu_s
                        if name not in ("machine", "other")
                    }
                calls_after = await handler_calls(http, port)
                result.handler_calls = {k: calls_after[k] - calls_before[k] for k in calls_after}
            finally:
                await asyncio.to_thread(stop, proc, timeout=45)
                if result.exit_code is None:
                    result.exit_code = proc.returncode
            await asyncio.sleep(1.0)  # exiting backends flush their statistics
            result.pg_events = int(await conn.scalar(text("SELECT count(*) FROM profile.processed_events")) or 0)
            after = await pg_stats(conn)
            result.pg_per_event = per_event(mid, after, result.pg_events - len(warm), queries + 1)
            result.outbox_pending = int(
                await conn.scalar(text("SELECT count(*) FROM profile.outbox WHERE published_at IS NULL")) or 0
            )
    finally:
        await engine.dispose()
    result.profiled_records = await end_offsets(infra.bootstrap, PROFILED)
    result.dead_letters = await end_offsets(infra.bootstrap, dlq_topic("profile"))
    return result


# --------------------------------------------------------------------------- cProfile output


# Synchronous functions called once per database operation (cProfile counts every resumption of a
# coroutine as a call, so asyncpg's own coroutines cannot be counted).
DB_OPERATIONS = {
    ("sqlalchemy/engine/default.py", "_init_compiled"): "statements",
    ("sqlalchemy/dialects/postgresql/asyncpg.py", "commit"): "commits",
    ("sqlalchemy/dialects/postgresql/asyncpg.py", "ping"): "pings",
}


def print_profile(path: Path, events: int, limit: int) -> None:
    """Own time by package (C built-ins charged to their Python callers), DB operations, top functions."""
    profile = load_profile(path, DB_OPERATIONS)
    if profile is None:
        return
    print(f"\n== cProfile of the service over {events} events ({path})")
    per = f", {1e6 * profile.total / events:.0f} us per event" if events else ""
    print(f"main-thread CPU profiled: {profile.total:.2f}s{per}; own time by package:")
    print_packages(profile, events)
    if events:
        each = {op: n / events for op, n in profile.calls.items()}
        # A statement is one round trip; a transaction adds BEGIN and COMMIT; the pool's pre-ping on
        # every checkout is BEGIN; SELECT ';'; ROLLBACK (rollbacks of failed transactions not counted).
        trips = each["statements"] + 2 * each["commits"] + 3 * each["pings"]
        print(
            f"\nPostgreSQL operations per event: {each['statements']:.2f} statements, {each['commits']:.2f} "
            f"transactions (BEGIN + COMMIT), {each['pings']:.2f} pool checkouts with pre-ping (BEGIN; SELECT ';'; "
            f"ROLLBACK) => about {trips:.1f} round trips per event"
        )
    print_top(profile, limit)


# --------------------------------------------------------------------------- report


def report(
    opts: argparse.Namespace,
    floor: Run,
    floors: list[Run],
    service: ServiceRun,
    compute: Compute | None,
    timings: dict[str, float],
) -> int:
    run = service.run
    ratio = (
        round(run.steady_events_per_s / floor.steady_events_per_s, 4)
        if run.steady_events_per_s and floor.steady_events_per_s
        else None
    )
    ratio_total = round(run.events_per_s / floor.events_per_s, 4) if floor.events_per_s else None
    reached = run.steady_events_per_s if run.steady_events_per_s is not None else run.events_per_s
    verdict = "met" if reached >= TARGET_EVENTS_PER_S else "MISSED"
    n = opts.events
    print()
    print(f"{'figure':<50} {'done':>15} {'seconds':>8} {'events/s':>9} {'steady/s':>9} {'first s':>8}")
    rows = [
        (f"floor: raw consume (getmany {opts.max_records}, parse {opts.floor_parse})", floor),
        (f"profile service (python -m {opts.profile_module})", run),
    ]
    for label, r in rows:
        done = f"{r.events:,}/{n:,}"
        print(
            f"{label:<50} {done:>15} {r.seconds:8.1f} {num(r.events_per_s, 9)} {num(r.steady_events_per_s, 9)} "
            f"{num(r.first_s, 8, '.1f')}"
        )
    print(f"(steady: from {STEADY[0]:.0%} to {STEADY[1]:.0%} of the events, or to the end of a capped run)")
    print()
    print(f"ratio service / floor: {num(ratio, 0, '.4f')} steady, {num(ratio_total, 0, '.4f')} start-up included")
    capped = "" if run.done else f"; capped by --duration {opts.duration:g}s at {run.events:,} events: rates so far"
    print(
        f"target >= {TARGET_EVENTS_PER_S:,.0f} events/s: {verdict}, "
        f"the service is at {reached / TARGET_EVENTS_PER_S:.1%} of it{capped}"
    )
    if compute is not None:
        parts = ", ".join(f"{name} {us:.0f}" for name, us in compute.parts_us.items())
        budget = 1e6 / TARGET_EVENTS_PER_S
        print(
            f"compute ceiling, the service's domain code without I/O on one core ({compute.events:,} events): "
            f"{compute.us_per_event:,.0f} us/event = {compute.events_per_s:,.0f} events/s\n"
            f"  us/event: {parts}\n"
            f"  ({TARGET_EVENTS_PER_S:,.0f} events/s in one process leave {budget:.0f} us per event for everything)"
        )
    print()
    cpu_rows = [
        (key, label, cpu, f"   {num(us.get(tested), 16, ',.1f')}  {num(us.get('postgres'), 8, ',.1f')}")
        for key, label, cpu, us, tested in (
            ("floor", "floor, steady (bench = consumer)", floor.cpu, floor.cpu_us_per_event, "bench"),
            ("service", "service, steady", run.cpu, run.cpu_us_per_event, "server"),
            ("service_whole", "service, spawn to end", service.whole_cpu, service.whole_cpu_us_per_event, "server"),
        )
        if cpu
    ]
    columns = [(p, p) for p in ("server", "kafka", "postgres", "bench", "other", "machine")]
    disturbed = print_cpu_table(34, columns, "   us/event: server  postgres", cpu_rows)
    pg = service.pg_per_event
    if pg:
        print("\nPostgreSQL per applied event (whole service run, from its statistics):")
        print_pg_work(pg, rollbacks=" (pool pre-pings)")
    print(
        f"\nservice ready after {num(service.ready_s, 0, '.1f')}s; exit code {service.exit_code}; "
        f"{service.applied_after_stop:,} events applied after SIGTERM (the batch in flight); "
        f"outbox rows unpublished: {service.outbox_pending}; mc.profiled.v1 records: {service.profiled_records}; "
        f"dead letters: {service.dead_letters}"
    )
    if opts.floor_rounds > 1:
        print(f"floor rounds, steady events/s (the table shows the median): {[f.steady_events_per_s for f in floors]}")
    if opts.profile:
        print("(--profile: the service ran under cProfile; its figures are not representative)")
        print_profile(opts.workdir / "profiles" / "profile-1.prof", service.profile_events, opts.profile_top)
    print()
    fields = {
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "config": {
            "events": opts.events,
            "customers": opts.customers,
            "email_share": opts.email_share,
            "duration_s": opts.duration,
            "max_records": opts.max_records,
            "partitions": PARTITIONS,
            "floor_parse": opts.floor_parse,
            "floor_rounds": opts.floor_rounds,
            "compute_events": opts.compute_events,
            "profile": opts.profile,
            "profile_module": opts.profile_module,
            "seed": opts.seed,
            "mix": dict(MIX),
        },
        "floor": floor.summary(),
        "floor_rounds_steady_events_per_s": [f.steady_events_per_s for f in floors],
        "service": {
            **run.summary(),
            "ready_s": service.ready_s,
            "exit_code": service.exit_code,
            "applied_after_stop": service.applied_after_stop,
            "cpu_whole_run": service.whole_cpu,
            "cpu_us_per_event_whole_run": service.whole_cpu_us_per_event,
            "outbox_pending": service.outbox_pending,
            "profiled_records": service.profiled_records,
            "dead_letters": service.dead_letters,
        },
        "compute": asdict(compute) if compute is not None else None,
        "postgres_per_event": pg,
        "ratio_steady": ratio,
        "ratio_total": ratio_total,
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "target_met": verdict == "met",
        "disturbed": disturbed,
    }
    print_json_line("profile", timings["elapsed"], fields)
    if not run.events or not floor.events:
        log("nothing was applied (or consumed by the floor)")
        return 1
    return 0


def report_paced(opts: argparse.Namespace, paced: PacedRun, timings: dict[str, float]) -> int:
    """What the service cost per event at `--rate`: CPU per party, handler calls, PostgreSQL's work."""
    us = paced.cpu_us_per_event
    calls = paced.handler_calls
    handled = calls.get("single", 0.0) + calls.get("batches", 0.0)
    print()
    print(
        f"paced: {paced.events:,} events at {paced.rate:g}/s (produced in {paced.produce_s:.1f}s) after a "
        f"warm-up backlog of {paced.warmup_events:,}; window {paced.seconds:.1f}s, the last one applied "
        f"{paced.lag_s:.2f}s after it was produced"
    )
    if handled:
        print(
            f"handler calls: {calls.get('single', 0):,.0f} of one record, {calls.get('batches', 0):,.0f} batches; "
            f"{calls.get('records', 0) / handled:.2f} records per call (per partition and fetch)"
        )
    print()
    columns = [(p, p) for p in ("server", "kafka", "postgres", "bench", "other", "machine")]
    tail = f"   {num(us.get('server'), 16, ',.1f')}  {num(us.get('postgres'), 8, ',.1f')}"
    disturbed = print_cpu_table(
        34, columns, "   us/event: server  postgres", [("paced", f"paced at {paced.rate:g}/s", paced.cpu, tail)]
    )
    pg = paced.pg_per_event
    if pg:
        print(
            f"\nPostgreSQL per paced event (from its statistics, {paced.pg_events - paced.warmup_events:,} events, "
            "from the first paced record to the service's exit):"
        )
        print_pg_work(pg)
    print(
        f"\nservice ready after {num(paced.ready_s, 0, '.1f')}s; exit code {paced.exit_code}; outbox rows "
        f"unpublished: {paced.outbox_pending}; mc.profiled.v1 records: {paced.profiled_records}; "
        f"dead letters: {paced.dead_letters}"
    )
    if opts.profile:
        print("(--profile: the service ran under cProfile; its CPU figures are not representative)")
        print_profile(opts.workdir / "profiles" / "profile-1.prof", paced.events, opts.profile_top)
    print()
    fields = {
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "config": {
            "rate": opts.rate,
            "paced_seconds": opts.paced_seconds,
            "warmup_events": opts.warmup_events,
            "customers": opts.customers,
            "email_share": opts.email_share,
            "max_records": opts.max_records,
            "partitions": PARTITIONS,
            "profile": opts.profile,
            "profile_module": opts.profile_module,
            "seed": opts.seed,
        },
        "paced": asdict(paced),
        "disturbed": disturbed,
    }
    print_json_line("profile-paced", timings["elapsed"], fields)
    if not us:
        log("no paced event was applied")
        return 1
    return 0


def bench_paced(opts: argparse.Namespace) -> tuple[PacedRun, dict[str, float]]:
    """The service fed at `--rate` after a warm-up backlog: (run, timings)."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    paced_events = max(1, round(opts.rate * opts.paced_seconds))
    interactions = make_interactions(opts.warmup_events + paced_events, opts.customers, opts.email_share, opts.seed)
    with infrastructure(
        opts.workdir / "data",
        partitions=PARTITIONS,
        migrate=SERVICE_MODULE,
        topics=[INTERACTIONS, PROFILED, dlq_topic("profile")],
        migrated="profile schema migrated",
    ) as infra:
        timings["infrastructure"] = time.monotonic() - started
        log(f"service: `{' '.join(service_cmd(opts)[1:])}`, {paced_events:,} events at {opts.rate:g}/s")
        t = time.monotonic()
        paced: PacedRun = run_loop(run_paced(opts, infra, interactions))
        timings["service"] = time.monotonic() - t
        log(f"paced: cpu {paced.cpu}, us/event {paced.cpu_us_per_event}")
    timings["elapsed"] = time.monotonic() - started
    return paced, timings


Measured = tuple[Run, list[Run], ServiceRun, Compute | None, dict[str, float]]


def bench(opts: argparse.Namespace) -> Measured:
    """The compute ceiling, the floor rounds and the service run: (floor, floors, service, compute, timings)."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    t = time.monotonic()
    interactions = make_interactions(opts.events, opts.customers, opts.email_share, opts.seed)
    timings["generate"] = time.monotonic() - t
    compute = None
    if opts.compute_events:
        t = time.monotonic()
        compute = compute_ceiling(interactions, opts.compute_events, batch=max(1, opts.max_records // PARTITIONS))
        timings["compute"] = time.monotonic() - t
        if compute is not None:
            log(f"compute ceiling: {compute.us_per_event:,.0f} us/event, {compute.parts_us}")
    t = time.monotonic()
    with infrastructure(
        opts.workdir / "data",
        partitions=PARTITIONS,
        migrate=SERVICE_MODULE,
        topics=[INTERACTIONS, PROFILED, dlq_topic("profile")],
        migrated="profile schema migrated",
    ) as infra:
        timings["infrastructure"] = time.monotonic() - t
        seconds = run_loop(produce(infra.bootstrap, interactions))
        held = run_loop(end_offsets(infra.bootstrap, INTERACTIONS))
        timings["produce"] = seconds
        log(f"produced {len(interactions):,} interactions in {seconds:.1f}s; the topic holds {held:,}")
        if held != opts.events:
            raise StartFailure(f"{INTERACTIONS} holds {held} records, expected {opts.events}")
        del interactions
        floor_parties = parties(infra)
        t = time.monotonic()
        floors = []
        for i in range(opts.floor_rounds):
            r = run_loop(
                floor_round(infra.bootstrap, opts.events, opts.max_records, opts.floor_parse, 60.0, floor_parties)
            )
            log(
                f"floor {i + 1}/{opts.floor_rounds}: {r.events:,} in {r.seconds:.2f}s, {r.events_per_s:,.0f}/s, "
                f"steady {r.steady_events_per_s or 0:,.0f}/s, cpu {r.cpu}"
            )
            floors.append(r)
        timings["floor"] = time.monotonic() - t
        floor = sorted(floors, key=lambda f: f.steady_events_per_s or 0.0)[(len(floors) - 1) // 2]
        log(f"service: `{' '.join(service_cmd(opts)[1:])}`, at most {opts.duration:g}s")
        t = time.monotonic()
        service: ServiceRun = run_loop(run_service(opts, infra, opts.events))
        timings["service"] = time.monotonic() - t
        r = service.run
        log(
            f"service: {r.events:,}/{opts.events:,} in {r.seconds:.1f}s, {r.events_per_s:,.0f}/s, "
            f"steady {r.steady_events_per_s or 0:,.0f}/s, cpu {r.cpu}"
        )
    timings["elapsed"] = time.monotonic() - started
    return floor, floors, service, compute, timings


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Profile service throughput against a raw-consume floor.")
    parser.add_argument("--events", type=int, default=50_000, help="interactions pre-produced (default 50000)")
    parser.add_argument(
        "--customers", type=int, default=None, help="customers they are about (default 5000; 500 with --rate)"
    )
    parser.add_argument(
        "--email-share", type=float, default=0.4, help="share of customers whose e-mail some events carry (0.4)"
    )
    parser.add_argument(
        "--duration", type=float, default=90.0, help="cap of the service run in seconds from its spawn (default 90)"
    )
    parser.add_argument(
        "--max-records",
        type=int,
        default=ProfileSettings.model_fields["max_records"].default,
        help="records per getmany, floor and service (default: the service's, 2000)",
    )
    parser.add_argument(
        "--floor-parse",
        choices=("none", "json", "model"),
        default="json",
        help="what the floor does with each value: nothing, json.loads (default), Interaction.model_validate_json",
    )
    parser.add_argument("--floor-rounds", type=int, default=3, help="floor repetitions, median taken (default 3)")
    parser.add_argument(
        "--compute-events",
        type=int,
        default=10_000,
        help="events run through the service's domain code without I/O for the compute ceiling (0: skip)",
    )
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between progress polls (default 0.5)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated interactions (default 1)")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="instead of a pre-loaded backlog, produce records at this many per second (after a warm-up backlog) "
        "and report CPU per event at the small batches real arrival rates give (0: the drain, default)",
    )
    parser.add_argument(
        "--paced-seconds", type=float, default=30.0, help="with --rate: seconds of paced records (default 30)"
    )
    parser.add_argument(
        "--warmup-events",
        type=int,
        default=2_000,
        help="with --rate: events applied as a backlog first, so most paced ones find their customer (2000)",
    )
    add_common_args(
        parser,
        profile_help="run the service under cProfile (bench/profiled.py)",
        module_flag="--profile-module",
        module=SERVICE_MODULE,
    )
    opts = parser.parse_args(argv)
    if opts.customers is None:
        opts.customers = 500 if opts.rate else 5_000
    if opts.events < 10 or opts.customers < 1:
        parser.error("--events must be at least 10 and --customers at least 1")
    if opts.compute_events < 0:
        parser.error("--compute-events must not be negative")
    if opts.duration <= 0 or opts.poll <= 0 or opts.floor_rounds < 1 or opts.max_records < 1:
        parser.error("--duration, --poll, --floor-rounds and --max-records must be positive")
    if not 0.0 <= opts.email_share <= 1.0:
        parser.error("--email-share must be within 0..1")
    if opts.rate < 0 or opts.paced_seconds <= 0 or opts.warmup_events < 0:
        parser.error("--rate and --warmup-events must not be negative, --paced-seconds must be positive")
    default_workdir(opts, "profile-paced" if opts.rate else "profile")
    return opts


def print_pg_work(pg: dict[str, float], rollbacks: str = "") -> None:
    """PostgreSQL's work per event: transactions, WAL, and rows and scans per profile table."""
    print(
        f"  transactions committed {pg.get('xact_commit', 0):.2f}, rolled back {pg.get('xact_rollback', 0):.2f}"
        f"{rollbacks}; WAL fsyncs {num(pg.get('wal_fsyncs'), 0, '.2f')}, WAL records "
        f"{num(pg.get('wal_records'), 0, '.1f')}, WAL bytes {num(pg.get('wal_bytes'), 0, ',.0f')}"
    )
    print(f"  {'table':<22} {'inserted':>9} {'updated':>9} {'deleted':>9} {'scans':>9}")
    for table in PROFILE_TABLES:
        cells = [pg.get(f"{table}.{c}") for c in ("ins", "upd", "del", "scans")]
        print(f"  {table:<22} " + " ".join(num(v, 9, ".2f") for v in cells))


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    if opts.rate:
        return run_main(opts, lambda: bench_paced(opts), lambda measured, _elapsed: report_paced(opts, *measured))
    return run_main(opts, lambda: bench(opts), lambda measured, _elapsed: report(opts, *measured))


if __name__ == "__main__":
    sys.exit(main())
