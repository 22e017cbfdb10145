"""Ingest throughput against floors measured in the same run on the same machine.

    uv run python bench/ingest.py [--duration 15] [--warmup 5] [--concurrency 32] ...

Starts real Apache Kafka and PostgreSQL, then measures, one server at a time:

1. noop floor:   `bench/noop_app.py`, `POST /v1/events` with the same pydantic model and an
                 in-memory API key check, no Kafka (uvicorn, same settings as the service);
2. single:       the real ingest service (`python -m metaconnect_ingest`), one event per request;
3. batched:      the ingest service, `POST /v1/events/batch` with `--batch-size` events;
4. raw producer: AIOKafkaProducer (acks=all, idempotent, the service's compression and
                 linger) sending the same serialized records, waiting for acks in windows
                 of `--batch-size`.

The HTTP load generator is the same for the service and its floor: a raw asyncio
HTTP/1.1 client (uvloop, keep-alive, one request in flight per connection, prebuilt
request bytes) running in this process while the server runs in its own. Prints a table,
the ratios against the targets and one JSON line with every number. Exits 0 whatever the
ratios are; non-zero only when something broke (a server did not start, requests failed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import TypeAdapter

# `python bench/ingest.py` puts bench/ on sys.path; the modules it shares with profile_service.py are `bench._*`.
sys.path.append(str(Path(__file__).resolve().parents[1]))

from bench._harness import (
    BENCH_DIR,
    Infra,
    add_common_args,
    default_workdir,
    infrastructure,
    log,
    run_loop,
    run_main,
    server_cmd,
    service_env,
    service_producer,
)
from bench._ingest_loadgen import Phase, RawRecord, http_worker, measure, producer_worker
from bench._measure import (
    CpuMeter,
    load_profile,
    num,
    print_cpu_table,
    print_json_line,
    print_packages,
    print_top,
    processes,
)
from metaconnect_cli.local._proc import free_port, spawn, stop, wait_for_port
from metaconnect_common.auth import Role, issue_token
from metaconnect_common.schemas import InteractionFields
from metaconnect_common.settings import AuthSettings, KafkaSettings
from metaconnect_ingest.events.service import to_interaction, to_record
from metaconnect_ingest.keys.service import Principal

RAW_TOPIC = "bench.raw.v1"
# The service injects W3C trace context into every record; the floor carries a header of the same size.
TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TARGETS = {"single": 0.8, "batched": 0.5}
FIGURES = ("noop", "single", "batched", "raw")


# --------------------------------------------------------------------------- payloads


def make_events(count: int) -> list[dict[str, Any]]:
    return [
        {
            "event_id": str(uuid.uuid4()),
            "customer": {"customer_id": f"c-{i % 1000}"},
            "type": "app.opened",
            "channel": "in_app",
            "properties": {"screen": "home"},
        }
        for i in range(count)
    ]


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def http_request(path: str, port: int, api_key: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {api_key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def make_records(events: list[dict[str, Any]]) -> list[RawRecord]:
    """The records the service would write for these events (its own conversion code)."""
    adapter = TypeAdapter(InteractionFields)
    principal = Principal(
        key_id=str(uuid.uuid4()),
        channels=frozenset(),
        event_types=(),
        scopes=frozenset({"events"}),
        rate_per_s=1e5,
        burst=1_000_000,
    )
    now = datetime.now(UTC)
    out = []
    for event in events:
        record = to_record(to_interaction(adapter.validate_python(event), principal, now))
        out.append(RawRecord(record.key, record.value, [*record.headers, ("traceparent", TRACEPARENT)]))
    return out


# --------------------------------------------------------------------------- servers


@contextlib.contextmanager
def server(args: list[str], *, port: int, log_file: Path, env: dict[str, str], ready_path: str) -> Iterator[int]:
    """A server subprocess, ready when `ready_path` answers 200; yields its pid."""
    proc = spawn(args, log=log_file, env=env)
    try:
        wait_for_port(port, timeout=60, proc=proc)
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}{ready_path}", timeout=5).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{args} not ready on {ready_path}; see {log_file}")
            time.sleep(0.2)
        yield proc.pid
    finally:
        stop(proc, timeout=30)


def ingest_env(infra: Infra, port: int) -> dict[str, str]:
    return service_env(infra, MC_INGEST_HOST="127.0.0.1", MC_INGEST_PORT=str(port))


def create_api_key(port: int) -> str:
    token = issue_token(AuthSettings(), subject="bench", role=Role.ADMIN)
    response = httpx.post(
        f"http://127.0.0.1:{port}/v1/api-keys",
        # The API caps rate_per_s at 100000/s; the bench stays far below.
        json={"name": "bench", "rate_per_s": 100_000, "burst": 1_000_000},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    if response.status_code != 201:
        raise RuntimeError(f"creating an API key failed: {response.status_code} {response.text}")
    key: str = response.json()["key"]
    return key


def check_once(port: int, path: str, api_key: str, body: bytes) -> None:
    response = httpx.post(
        f"http://127.0.0.1:{port}{path}",
        content=body,
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        timeout=30,
    )
    if response.status_code != 202:
        raise RuntimeError(f"POST {path} answered {response.status_code}: {response.text[:500]}")


# --------------------------------------------------------------------------- the run


def _http_phase(
    name: str,
    port: int,
    pids: dict[str, int],
    requests: list[bytes],
    events_per_request: int,
    concurrency: int,
    opts: argparse.Namespace,
) -> Phase:
    log(f"{name}: {concurrency} connections, {opts.warmup:g}s warm-up + {opts.duration:g}s")
    worker = http_worker(port, requests, events_per_request)
    meter = CpuMeter(processes({**pids, "loadgen": os.getpid()}), total="system")
    profile_pid = pids["server"] if opts.profile else None
    phase = run_loop(measure(name, worker, concurrency, opts.warmup, opts.duration, meter, profile_pid))
    log(f"{name}: {phase.events_per_s:,.0f} events/s, p50 {phase.p50_ms} ms, p99 {phase.p99_ms} ms, cpu {phase.cpu}")
    return phase


async def _raw_producer(infra: Infra, records: list[RawRecord], opts: argparse.Namespace) -> Phase:
    producer = service_producer(infra.bootstrap)
    await producer.start()
    try:
        worker = producer_worker(producer, RAW_TOPIC, records, opts.batch_size)
        # The producer under test is this process.
        meter = CpuMeter(processes({"kafka": infra.kafka_pid, "server": os.getpid()}), total="system")
        return await measure("raw producer", worker, opts.batch_concurrency, opts.warmup, opts.duration, meter)
    finally:
        await producer.stop()


def print_profile(path: Path, phase: Phase, limit: int) -> None:
    """Own time grouped by package (C built-ins charged to their Python callers), then the top functions."""
    profile = load_profile(path)
    if profile is None:
        return
    events = phase.events
    print(f"\n== {phase.name}: cProfile of the server over the measurement window ({path})")
    per = f", {1e6 * profile.total / events:.0f} us per event" if events else ""
    print(f"main-thread time profiled: {profile.total:.2f}s for {events} events{per}; own time by package:")
    print_packages(profile, events)
    print_top(profile, limit)


def _server_cmd(opts: argparse.Namespace, name: str, args: list[str]) -> list[str]:
    """`args` runs a server (`-m module ...` or `script.py ...`); under --profile via bench/profiled.py."""
    return server_cmd(args, opts.workdir / "profiles" / f"{name}-" if opts.profile else None)


def _profile_window(opts: argparse.Namespace, name: str, window: int, phase: Phase) -> None:
    if not opts.profile:
        return
    path = opts.workdir / "profiles" / f"{name}-{window}.prof"
    deadline = time.monotonic() + 10
    while not path.is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    print_profile(path, phase, opts.profile_top)


@dataclass(frozen=True)
class Payloads:
    events: list[dict[str, Any]]
    single: list[bytes]
    batches: list[bytes]


def _round(opts: argparse.Namespace, infra: Infra, payloads: Payloads, r: int) -> dict[str, Phase]:
    """Every requested figure once, one server at a time."""
    figures = set(opts.figures.split(","))
    logs = opts.workdir / "logs"
    tag = f"-r{r}" if opts.rounds > 1 else ""
    phases: dict[str, Phase] = {}
    base_pids = {"kafka": infra.kafka_pid}
    if "noop" in figures:
        port = free_port()
        api_key = f"mck_{uuid.uuid4().hex}{uuid.uuid4().hex}{uuid.uuid4().hex}"
        env = {"BENCH_API_KEYS": api_key}
        name = f"noop{tag}"
        cmd = _server_cmd(opts, name, [str(BENCH_DIR / "noop_app.py"), "--port", str(port)])
        with server(cmd, port=port, log_file=logs / f"{name}.log", env=env, ready_path="/healthz") as pid:
            check_once(port, "/v1/events", api_key, payloads.single[0])
            requests = [http_request("/v1/events", port, api_key, b) for b in payloads.single]
            pids = {**base_pids, "server": pid}
            phases["noop"] = _http_phase("noop", port, pids, requests, 1, opts.concurrency, opts)
            _profile_window(opts, name, 1, phases["noop"])

    if figures & {"single", "batched"}:
        port = free_port()
        name = f"ingest{tag}"
        cmd = _server_cmd(opts, name, ["-m", opts.ingest_module])
        env = ingest_env(infra, port)
        with server(cmd, port=port, log_file=logs / f"{name}.log", env=env, ready_path="/readyz") as pid:
            api_key = create_api_key(port)
            pids = {**base_pids, "server": pid}
            window = 0
            if "single" in figures:
                check_once(port, "/v1/events", api_key, payloads.single[0])
                requests = [http_request("/v1/events", port, api_key, b) for b in payloads.single]
                phases["single"] = _http_phase("single", port, pids, requests, 1, opts.concurrency, opts)
                window += 1
                _profile_window(opts, name, window, phases["single"])
            if "batched" in figures:
                check_once(port, "/v1/events/batch", api_key, payloads.batches[0])
                requests = [http_request("/v1/events/batch", port, api_key, b) for b in payloads.batches]
                phases["batched"] = _http_phase(
                    "batched", port, pids, requests, opts.batch_size, opts.batch_concurrency, opts
                )
                window += 1
                _profile_window(opts, name, window, phases["batched"])

    if "raw" in figures:
        log(f"raw producer: {opts.batch_concurrency} windows of {opts.batch_size} in flight")
        phase = run_loop(_raw_producer(infra, make_records(payloads.events), opts))
        log(f"raw producer: {phase.events_per_s:,.0f} events/s, p50 {phase.p50_ms} ms, cpu {phase.cpu}")
        phases["raw"] = phase
    return phases


def run(opts: argparse.Namespace) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """All rounds; per figure the round with the median events/s, and every round's events/s."""
    events = make_events(opts.pool)
    payloads = Payloads(
        events=events,
        single=[_dumps(e) for e in events],
        batches=[
            _dumps({"events": events[i : i + opts.batch_size]})
            for i in range(0, len(events) - opts.batch_size + 1, opts.batch_size)
        ],
    )
    if not payloads.batches:
        raise SystemExit("--pool must be at least --batch-size")
    rounds: list[dict[str, Phase]] = []
    partitions = KafkaSettings().topic_partitions
    with infrastructure(
        opts.workdir / "data",
        partitions=partitions,
        migrate="metaconnect_ingest",
        topics=[RAW_TOPIC],
        migrated="ingest migrated",
    ) as infra:
        for r in range(1, opts.rounds + 1):
            if opts.rounds > 1:
                log(f"round {r} of {opts.rounds}")
            rounds.append(_round(opts, infra, payloads, r))
    chosen: dict[str, Any] = {}
    per_round: dict[str, list[float]] = {}
    for name in rounds[0]:
        phases = sorted((rnd[name] for rnd in rounds), key=lambda p: p.events_per_s)
        chosen[name] = asdict(phases[(len(phases) - 1) // 2])
        per_round[name] = [rnd[name].events_per_s for rnd in rounds]
    return chosen, per_round


def _ratio(figure: dict[str, Any] | None, floor: dict[str, Any] | None) -> float | None:
    if not figure or not floor or not floor["events_per_s"]:
        return None
    return round(float(figure["events_per_s"]) / float(floor["events_per_s"]), 3)


def report(results: dict[str, Any], per_round: dict[str, list[float]], opts: argparse.Namespace, elapsed: float) -> int:
    single, noop = results.get("single"), results.get("noop")
    batched, raw = results.get("batched"), results.get("raw")
    ratios = {"single": _ratio(single, noop), "batched": _ratio(batched, raw)}
    rows = [
        (f"single (1/request, c={opts.concurrency})", single, "noop", noop, "single"),
        (f"batched ({opts.batch_size}/req, c={opts.batch_concurrency})", batched, "raw producer", raw, "batched"),
    ]
    print()
    print(
        f"{'figure':<30} {'events/s':>10} {'p50 ms':>8} {'p99 ms':>8}   {'floor':<13} {'events/s':>10} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'ratio':>6}  target"
    )
    for label, fig, floor_name, floor, key in rows:
        ratio = ratios[key]
        verdict = "" if ratio is None else ("met" if ratio >= TARGETS[key] else "MISSED")
        print(
            f"{label:<30} {num(fig and fig['events_per_s'], 10)} {num(fig and fig['p50_ms'], 8, '.2f')} "
            f"{num(fig and fig['p99_ms'], 8, '.2f')}   {floor_name:<13} {num(floor and floor['events_per_s'], 10)} "
            f"{num(floor and floor['p50_ms'], 8, '.2f')} {num(floor and floor['p99_ms'], 8, '.2f')} "
            f"{num(ratio, 6, '.2f')}  >= {TARGETS[key]} {verdict}"
        )
    print()
    labels = (("noop", "noop"), ("single", "single"), ("batched", "batched"), ("raw", "raw (bench process)"))
    columns = (
        ("tested", "server"),
        ("loadgen", "loadgen"),
        ("kafka", "kafka"),
        ("other", "other"),
        ("machine", "system"),
    )
    cpu_rows = [
        (name, label, phase["cpu"], f"  {num(phase['server_cpu_us_per_event'], 15, '.1f')}")
        for name, label in labels
        if (phase := results.get(name))
    ]
    disturbed = print_cpu_table(30, columns, f"  {'tested us/event':>15}", cpu_rows)
    if opts.rounds > 1:
        print(f"events/s of each round (the table shows the median round): {per_round}")
    errors = {name: phase["errors"] for name, phase in results.items() if phase["errors"]}
    if errors:
        print(f"\nerrors inside the measurement windows: {errors}")
    if opts.profile:
        print("\n(--profile: the ingest server ran under cProfile, its figures are not representative)")
    print()
    config = {
        "rounds": opts.rounds,
        "duration_s": opts.duration,
        "warmup_s": opts.warmup,
        "concurrency": opts.concurrency,
        "batch_concurrency": opts.batch_concurrency,
        "batch_size": opts.batch_size,
        "profile": opts.profile,
        "ingest_module": opts.ingest_module,
        "linger_ms": KafkaSettings().linger_ms,
        "compression": KafkaSettings().compression,
    }
    print_json_line(
        "ingest",
        elapsed,
        {
            "config": config,
            "figures": results,
            "rounds_events_per_s": per_round,
            "disturbed": disturbed,
            "ratios": ratios,
            "targets": TARGETS,
        },
    )
    broken = [
        name
        for name, phase in results.items()
        if not phase["events"] or sum(phase["errors"].values()) > 0.01 * max(1, phase["requests"])
    ]
    if broken:
        log(f"broken figures (no events, or over 1% failed requests): {broken}")
        return 1
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Ingest throughput against same-machine floors.")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per figure (default 15)")
    parser.add_argument("--warmup", type=float, default=5.0, help="warm-up seconds per figure (default 5)")
    parser.add_argument("--concurrency", type=int, default=32, help="connections for single and noop (default 32)")
    parser.add_argument(
        "--batch-concurrency", type=int, default=4, help="batch requests / producer windows in flight (default 4)"
    )
    parser.add_argument("--batch-size", type=int, default=500, help="events per batch request and window (default 500)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat every figure; report the median round (default 1)"
    )
    parser.add_argument("--pool", type=int, default=5000, help="distinct events cycled through (default 5000)")
    parser.add_argument("--figures", default=",".join(FIGURES), help="subset of noop,single,batched,raw (default all)")
    add_common_args(
        parser,
        profile_help="run the ingest server under cProfile and print it",
        module_flag="--ingest-module",
        module="metaconnect_ingest",
    )
    opts = parser.parse_args(argv)
    unknown = set(opts.figures.split(",")) - set(FIGURES)
    if unknown:
        parser.error(f"unknown figures: {sorted(unknown)}")
    if opts.rounds < 1 or opts.concurrency < 1 or opts.batch_concurrency < 1:
        parser.error("--rounds, --concurrency and --batch-concurrency must be at least 1")
    if opts.duration <= 0 or opts.warmup < 0:
        parser.error("--duration must be positive and --warmup not negative")
    if opts.batch_size < 1 or opts.batch_size > 1000:
        parser.error("--batch-size must be 1..1000 (the API's limit)")
    default_workdir(opts, "run")
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    return run_main(
        opts,
        lambda: run(opts),
        lambda result, elapsed: report(*result, opts, elapsed),
        failures=(RuntimeError, OSError, subprocess.SubprocessError, TimeoutError),
    )


if __name__ == "__main__":
    sys.exit(main())
