"""bench/journey_timers: how late journey timers fire at 500 due timers/s.

Real Kafka and PostgreSQL. An active journey `pause` (wait) -> `reminder` (a marketing send,
bundled into the customer's meta-connect bundle: decision, item, bundle, history, the full work
of a timer). `--walks` walks (30,000) are seeded straight into `router.journey_instances`,
resting at `pause`, their `due_at` spread evenly over `--seconds` (60: 500/s), each with its
`router.customer_profiles` row. Then:

1. floor: a bare loop in this process, the least any timer loop could do: the same claim
   (`SELECT ... WHERE status = 'active' AND due_at <= now ORDER BY due_at LIMIT 200 FOR UPDATE
   SKIP LOCKED`) and one `UPDATE` marking the batch done, on the same table of the same size,
   pacing itself as the router's loop does (after a short batch, sleep until the next due, at
   most 0.25 s). Its lateness (claim - due, commit - due) and its round trip per batch.
2. router: `--replicas` (1) `python -m metaconnect_router` processes; a second set of walks as
   large, due from a few seconds after they are ready. Lateness from the history the router
   wrote (`journey_steps.detail->>'late_s'`: claim time - due time) and as seen committed
   (a poller reading new `waited` history every 50 ms: first seen - due), the rate achieved,
   the CPU of the router and of PostgreSQL over the window.

Target: p99 <= 1 s at 500 timers/s.

    uv run python bench/journey_timers.py                   # ~3.5 min
    uv run python bench/journey_timers.py --replicas 2
    uv run python bench/journey_timers.py --rate 1000 --seconds 30
    uv run python bench/journey_timers.py --profile           # where the router's time goes
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

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
)
from bench._measure import CpuMeter, load_profile, print_packages, print_top, processes, tree_cpu_s
from metaconnect_cli.local._proc import free_port, spawn, stop
from metaconnect_common.db import session_factory
from metaconnect_common.schemas.profiled import ProfileSnapshot
from metaconnect_common.topics import DELIVERIES, INTERACTIONS, PROFILED, dlq_topic
from metaconnect_router.journeys.service import JourneyService
from metaconnect_router.journeys.spec import JourneySpec

P99_TARGET_S = 1.0
JOURNEY = "bench-timers"
WAIT_STEP = "pause"
CLAIM_BATCH = 200  # the router's MC_ROUTER_TIMER_BATCH default
INTERVAL_S = 0.25  # the router's MC_ROUTER_TIMER_INTERVAL_S default
POLL_S = 0.05
SWEEP_EVERY = 20  # polls
SWEEP_BACK = 20_000  # history ids
GRANTED = {"granted": True, "at": "2026-01-01T00:00:00Z", "source": "bench"}
CONTENT = {
    "push": {"en": {"title": "Hello", "body": "A reminder for you."}},
    "email": {"en": {"subject": "Hello", "body": "A reminder for you."}},
}


def journey() -> JourneySpec:
    return JourneySpec.model_validate(
        {
            "name": JOURNEY,
            "status": "active",
            "entry": {"event_types": ["bench.entered"]},
            "policy": {"bundle_window": "PT10M"},
            "steps": [
                {"id": WAIT_STEP, "type": "wait", "duration": "PT1M"},
                {
                    "id": "reminder",
                    "type": "send",
                    "message": {"id": "reminder", "channels": ["push", "email"], "variants": {"neutral": CONTENT}},
                },
            ],
        }
    )


PROFILE = ProfileSnapshot.model_validate(
    {
        "lifecycle_stage": "lead",
        "time_zone": "UTC",
        "channel_consent": {"push": GRANTED, "email": GRANTED},
        "purposes": {"marketing": GRANTED},
        "reachable": ["push", "email"],
    }
).model_dump(mode="json")


async def seed(engine: AsyncEngine, walks: int, first_due: datetime, seconds: float) -> dict[uuid.UUID, datetime]:
    """`walks` customers with their profile rows and a walk each resting at the wait, due evenly
    from `first_due` over `seconds`; the walks' due times."""
    customers = [uuid.uuid4() for _ in range(walks)]
    ids = [uuid.uuid4() for _ in range(walks)]
    gap = seconds / walks
    context = {"event": {"type": "bench.entered", "properties": {}}}
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO router.customer_profiles (customer_id, profile, updated_at)"
                " SELECT c, CAST(:profile AS jsonb), now() FROM unnest(CAST(:customers AS uuid[])) AS c"
            ),
            {"profile": json.dumps(PROFILE), "customers": customers},
        )
        await conn.execute(
            text(
                "INSERT INTO router.journey_instances (id, journey, version, customer_id, status, step_id, due_at,"
                " holdout, context, arms, entered_at, updated_at)"
                " SELECT w.id, :journey, 1, w.customer, 'active', :step,"
                " CAST(:first AS timestamptz) + (w.n - 1) * CAST(:gap AS double precision) * interval '1 second',"
                " false, CAST(:context AS jsonb), '{}'::jsonb, now(), now()"
                " FROM unnest(CAST(:ids AS uuid[]), CAST(:customers AS uuid[])) WITH ORDINALITY AS w(id, customer, n)"
            ),
            {
                "journey": JOURNEY,
                "step": WAIT_STEP,
                "first": first_due,
                "gap": gap,
                "context": json.dumps(context),
                "ids": ids,
                "customers": customers,
            },
        )
    await vacuum(engine)
    return {walk: first_due + timedelta(seconds=i * gap) for i, walk in enumerate(ids)}


async def vacuum(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE router.journey_instances, router.customer_profiles"))


def quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {}

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1], 3), "n": len(ordered)}


# --------------------------------------------------------------------------- 1. the floor


CLAIM = text(
    "SELECT id FROM router.journey_instances WHERE status = 'active' AND due_at <= :now"
    " ORDER BY due_at LIMIT :limit FOR UPDATE SKIP LOCKED"
)
MARK = text(
    "UPDATE router.journey_instances SET status = 'completed', end_reason = 'completed', due_at = NULL,"
    " ended_at = :now, updated_at = :now WHERE id = ANY(:ids)"
)
NEXT_DUE = text("SELECT min(due_at) FROM router.journey_instances WHERE status = 'active'")


async def floor(engine: AsyncEngine, due: dict[uuid.UUID, datetime]) -> dict[str, Any]:
    """The bare claim-and-mark loop over the seeded walks, paced as the router's timer loop."""
    claim_late: list[float] = []
    commit_late: list[float] = []
    round_trips: list[float] = []
    left = len(due)
    deadline = time.monotonic() + (max(due.values()) - datetime.now(UTC)).total_seconds() + 60
    while left and time.monotonic() < deadline:
        while True:
            started = time.perf_counter()
            now = datetime.now(UTC)
            async with engine.begin() as conn:
                ids = list((await conn.scalars(CLAIM, {"now": now, "limit": CLAIM_BATCH})).all())
                if ids:
                    await conn.execute(MARK, {"now": now, "ids": ids})
            committed = datetime.now(UTC)
            if ids:
                round_trips.append(time.perf_counter() - started)
            for walk in ids:
                claim_late.append((now - due[walk]).total_seconds())
                commit_late.append((committed - due[walk]).total_seconds())
            left -= len(ids)
            if len(ids) < CLAIM_BATCH:
                break
        async with engine.connect() as conn:
            next_due = await conn.scalar(NEXT_DUE)
        pause = INTERVAL_S if next_due is None else (next_due - datetime.now(UTC)).total_seconds()
        await asyncio.sleep(min(INTERVAL_S, max(0.0, pause)))
    return {
        "claim_late_s": quantiles(claim_late),
        "commit_late_s": quantiles(commit_late),
        "round_trip_ms": {k: (v if k == "n" else round(1000 * v, 2)) for k, v in quantiles(round_trips).items()},
    }


# --------------------------------------------------------------------------- 2. the router


def router_env(infra: Infra, port: int) -> dict[str, str]:
    return service_env(
        infra,
        MC_ROUTER_PORT=str(port),
        MC_ROUTER_HOST="127.0.0.1",
        MC_ROUTER_GROUP_ID="bench-timers",
    )


async def wait_ready(ports: list[int], procs: list[Any], cap_s: float = 60.0) -> None:
    deadline = time.monotonic() + cap_s
    async with httpx.AsyncClient(timeout=2) as client:
        for port, proc in zip(ports, procs, strict=True):
            while True:
                if proc.poll() is not None:
                    raise StartFailure(f"the router exited with {proc.returncode}")
                if time.monotonic() > deadline:
                    raise StartFailure("the router was not ready within 60 s")
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.25)


async def watch(engine: AsyncEngine, due: dict[uuid.UUID, datetime], procs: list[Any]) -> list[float]:
    """Poll the history for newly committed `waited` entries of the walks; their lateness as seen."""
    seen: dict[uuid.UUID, float] = {}
    after = polls = 0
    deadline = time.monotonic() + (max(due.values()) - datetime.now(UTC)).total_seconds() + 120
    query = text(
        "SELECT id, instance_id FROM router.journey_steps WHERE id > :after AND outcome = 'waited' ORDER BY id"
    )
    async with engine.connect() as conn:
        while len(seen) < len(due) and time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                raise StartFailure("a router exited")
            # Transactions commit their ids out of order (two replicas, the handler): look back a
            # little each time, far once a second (a straggler is then seen up to 1 s late).
            polls += 1
            back = SWEEP_BACK if polls % SWEEP_EVERY == 0 else 2 * CLAIM_BATCH
            rows = (await conn.execute(query, {"after": max(0, after - back)})).all()
            await conn.rollback()
            now = datetime.now(UTC)
            for step_id, walk in rows:
                after = max(after, step_id)
                if walk in due and walk not in seen:
                    seen[walk] = (now - due[walk]).total_seconds()
            await asyncio.sleep(POLL_S)
    return list(seen.values())


async def measure_router(
    infra: Infra, engine: AsyncEngine, opts: argparse.Namespace, procs: list[Any]
) -> dict[str, Any]:
    meter = CpuMeter(
        {
            **processes({"kafka": infra.kafka_pid}),
            "router": lambda: sum(tree_cpu_s(p.pid) for p in procs),
            "postgres": lambda: tree_cpu_s(infra.postmaster_pid),
            "bench": lambda: sum(os.times()[:2]),
        }
    )
    first = datetime.now(UTC) + timedelta(seconds=opts.lead)
    due = await seed(engine, opts.walks, first, opts.seconds)
    log(f"router: {len(due):,} walks due from {first:%H:%M:%S} over {opts.seconds:.0f} s")
    await asyncio.sleep(max(0.0, (first - datetime.now(UTC)).total_seconds()))
    meter.start()
    if opts.profile:
        for proc in procs:
            os.kill(proc.pid, signal.SIGUSR1)
    seen = await watch(engine, due, procs)
    if opts.profile:
        for proc in procs:
            os.kill(proc.pid, signal.SIGUSR2)
    cpu, cpu_s = meter.stop()
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT (detail->>'late_s')::float, at FROM router.journey_steps"
                    " WHERE outcome = 'waited' AND instance_id = ANY(:ids)"
                ),
                {"ids": list(due)},
            )
        ).all()
        outcomes: dict[str, int] = dict(
            (
                await conn.execute(
                    text(
                        "SELECT outcome, count(*) FROM router.journey_steps WHERE step_id = 'reminder'"
                        " AND kind = 'send' AND instance_id = ANY(:ids) GROUP BY outcome"
                    ),
                    {"ids": list(due)},
                )
            ).all()
        )
    late = [float(r[0]) for r in rows]
    last = max((r[1] for r in rows), default=first)
    span = (last - first).total_seconds()
    return {
        "walks": len(due),
        "fired": len(rows),
        "rate_per_s": round(len(rows) / span, 1) if span > 0 else None,
        "history_late_s": quantiles(late),
        "seen_late_s": quantiles(seen),
        "reminder_outcomes": outcomes,
        "cpu_pct": cpu,
        "cpu_us_per_timer": {k: round(1e6 * cpu_s[k] / max(len(rows), 1)) for k in ("router", "postgres")},
    }


async def run(infra: Infra, opts: argparse.Namespace) -> dict[str, Any]:
    engine = create_async_engine(infra.database_url, pool_size=4)
    try:
        await JourneyService(session_factory(engine)).create(journey(), author="bench")
        first = datetime.now(UTC) + timedelta(seconds=opts.lead)
        due = await seed(engine, opts.walks, first, opts.seconds)
        log(f"floor: {len(due):,} walks due from {first:%H:%M:%S} over {opts.seconds:.0f} s")
        bare = await floor(engine, due)
        log(f"floor: {bare}")
        ports = [free_port() for _ in range(opts.replicas)]
        profiles = opts.workdir / "profiles"
        procs = [
            spawn(
                server_cmd(["-m", "metaconnect_router"], profiles / f"router-{i}-" if opts.profile else None),
                log=opts.workdir / "logs" / f"router-{i}.log",
                env=router_env(infra, port),
            )
            for i, port in enumerate(ports)
        ]
        try:
            await wait_ready(ports, procs)
            await asyncio.sleep(2.0)  # the consumer group settles
            routed = await measure_router(infra, engine, opts, procs)
        finally:
            for proc in procs:
                stop(proc)
        log(f"router: {routed}")
        if opts.profile:
            routed["profile"] = str(profiles / "router-0-1.prof")
        return {"floor": bare, "router": routed}
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--walks", type=int, default=30_000, help="walks due, per phase (30,000)")
    parser.add_argument("--seconds", type=float, default=60.0, help="over this many seconds (60: 500/s)")
    parser.add_argument("--rate", type=float, default=None, help="due timers/s: sets --walks from --seconds")
    parser.add_argument("--replicas", type=int, default=1, help="router processes (1)")
    parser.add_argument("--lead", type=float, default=10.0, help="seconds from seeding to the first due (10)")
    parser.add_argument("--profile", action="store_true", help="the (first) router under cProfile over the window")
    parser.add_argument("--profile-top", type=int, default=30, help="rows of the profile to print (30)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep-data", action="store_true")
    opts = parser.parse_args()
    if opts.rate is not None:
        opts.walks = int(opts.rate * opts.seconds)
    default_workdir(opts, "journey-timers")

    def measure() -> dict[str, Any]:
        with infrastructure(
            opts.workdir / "data",
            partitions=12,
            migrate="metaconnect_router",
            topics=[PROFILED, DELIVERIES, INTERACTIONS, dlq_topic("router")],
            migrated="router migrated",
        ) as infra:
            return run_loop(run(infra, opts))

    def report(result: dict[str, Any], elapsed: float) -> int:
        bare, routed = result["floor"], result["router"]
        hist, seen = routed["history_late_s"], routed["seen_late_s"]
        fl_claim, fl_commit = bare["claim_late_s"], bare["commit_late_s"]
        met = "met" if seen.get("p99", 1e9) <= P99_TARGET_S else "MISSED"
        due_rate = opts.walks / opts.seconds
        print(
            f"journey timers, {opts.walks:,} due over {opts.seconds:.0f} s ({due_rate:,.0f}/s), "
            f"{opts.replicas} router replica(s): fired {routed['fired']:,} at {routed['rate_per_s']}/s"
        )
        print(
            f"lateness, history (claim - due): p50 {hist['p50']} s, p95 {hist['p95']} s, p99 {hist['p99']} s, "
            f"max {hist['max']} s"
        )
        print(
            f"lateness, seen committed (poll {POLL_S * 1000:.0f} ms): p50 {seen['p50']} s, p95 {seen['p95']} s, "
            f"p99 {seen['p99']} s, max {seen['max']} s; target p99 <= {P99_TARGET_S} s: {met}"
        )
        print(
            f"floor (bare claim + mark, same table, same pacing): claim - due p99 {fl_claim['p99']} s, "
            f"commit - due p50 {fl_commit['p50']} s p99 {fl_commit['p99']} s max {fl_commit['max']} s; "
            f"round trip per batch p50 {bare['round_trip_ms']['p50']} ms p99 {bare['round_trip_ms']['p99']} ms"
        )
        ratio_h = round(hist["p99"] / max(fl_claim["p99"], 1e-3), 1)
        ratio_s = round(seen["p99"] / max(fl_commit["p99"], 1e-3), 1)
        print(f"ratio p99 router / floor: history {ratio_h} (claim), seen {ratio_s} (commit)")
        print(f"CPU, % of one core, over the router's window: {routed['cpu_pct']}")
        print(f"CPU per timer fired, us: {routed['cpu_us_per_timer']}")
        if routed["cpu_pct"].get("other", 0.0) > 25.0:
            print("WARNING: other processes used over 25% of a core: a shared machine; compare with care.")
        if "profile" in routed:
            profile = load_profile(Path(routed["profile"]))
            if profile is not None:
                fired = routed["fired"] // opts.replicas
                print(f"\n== cProfile of router 0 over the window (main-thread CPU {profile.total:.2f}s; inflated)")
                print_packages(profile, fired)
                print_top(profile, opts.profile_top)
        print(
            json.dumps(
                {
                    "bench": "journey_timers",
                    "at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "elapsed_s": round(elapsed, 1),
                    "walks": opts.walks,
                    "seconds": opts.seconds,
                    "replicas": opts.replicas,
                    **result,
                }
            )
        )
        return 0

    sys.exit(run_main(opts, measure, report))


if __name__ == "__main__":
    main()
