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
import asyncio
import contextlib
import json
import os
import pstats
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import uvloop
from aiokafka import AIOKafkaProducer
from pydantic import TypeAdapter

from metaconnect_cli.local._proc import free_port, spawn, stop, wait_for_port
from metaconnect_cli.local.kafka import KafkaBroker
from metaconnect_cli.local.postgres import EmbeddedPostgres
from metaconnect_common.auth import Role, issue_token
from metaconnect_common.kafka.admin import ensure_topics
from metaconnect_common.migrations import upgrade
from metaconnect_common.schemas import InteractionFields
from metaconnect_common.settings import AuthSettings, KafkaSettings
from metaconnect_ingest.events.service import to_interaction, to_record
from metaconnect_ingest.keys.service import Principal

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RAW_TOPIC = "bench.raw.v1"
# What KafkaPublisher._make passes besides the KafkaSettings (libs/common/.../kafka/producer.py).
PUBLISHER_MAX_BATCH_BYTES = 256 * 1024
# The service injects W3C trace context into every record; the floor carries a header of the same size.
TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TARGETS = {"single": 0.8, "batched": 0.5}
# Busy CPU (% of one core) of processes outside the bench above which a phase is flagged.
OTHER_LOAD_WARN = 25.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- results


@dataclass
class Phase:
    """One measured figure: what completed inside the measurement window."""

    name: str
    events: int = 0
    requests: int = 0
    seconds: float = 0.0
    events_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    # CPU over the window, in % of one core (system: of all cores together).
    cpu: dict[str, float] = field(default_factory=dict)
    server_cpu_us_per_event: float | None = None


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def summarize(name: str, samples: list[tuple[float, float, int, str]], t0: float, t1: float) -> Phase:
    """`samples` are (completed at, latency s, events, outcome); outcome "ok" or an error label."""
    window = [s for s in samples if t0 <= s[0] <= t1]
    ok = [s for s in window if s[3] == "ok"]
    latencies = sorted(s[1] * 1000 for s in ok)
    errors: dict[str, int] = {}
    for s in window:
        if s[3] != "ok":
            errors[s[3]] = errors.get(s[3], 0) + 1
    events = sum(s[2] for s in ok)
    seconds = t1 - t0
    return Phase(
        name=name,
        events=events,
        requests=len(ok),
        seconds=round(seconds, 3),
        events_per_s=round(events / seconds, 1) if seconds > 0 else 0.0,
        p50_ms=round(_percentile(latencies, 0.50), 2),
        p99_ms=round(_percentile(latencies, 0.99), 2),
        max_ms=round(latencies[-1], 2) if latencies else 0.0,
        errors=errors,
    )


# --------------------------------------------------------------------------- CPU accounting


def _proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads) so far."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _system_busy_s() -> float:
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / CLK_TCK


class CpuMeter:
    """CPU used by named processes, this one (`me`) and the whole machine between two snapshots.

    `other` is the machine's busy time that none of them used: other sessions' work on a
    shared box. A phase with much of it measured a disturbed machine.
    """

    def __init__(self, pids: dict[str, int], *, me: str = "loadgen", profile_pid: int | None = None) -> None:
        self.pids = {**pids, me: os.getpid()}
        self.profile_pid = profile_pid  # told to profile just this window (bench/profiled.py)
        self._start: dict[str, float] = {}
        self._wall = 0.0

    def _sample(self) -> dict[str, float]:
        out = {name: _proc_cpu_s(pid) for name, pid in self.pids.items()}
        out["system"] = _system_busy_s()
        return out

    def start(self) -> None:
        if self.profile_pid:
            os.kill(self.profile_pid, signal.SIGUSR1)
        self._start = self._sample()
        self._wall = time.monotonic()

    def stop(self) -> dict[str, float]:
        end = self._sample()
        if self.profile_pid:
            os.kill(self.profile_pid, signal.SIGUSR2)
        wall = max(time.monotonic() - self._wall, 1e-9)
        usage = {name: 100 * (end[name] - self._start[name]) / wall for name in end}
        usage["other"] = max(0.0, usage["system"] - sum(usage[name] for name in self.pids))
        return {name: round(value, 1) for name, value in usage.items()}


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


@dataclass(frozen=True)
class RawRecord:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def make_records(events: list[dict[str, Any]]) -> list[RawRecord]:
    """The records the service would write for these events (its own conversion code)."""
    adapter = TypeAdapter(InteractionFields)
    principal = Principal(
        key_id=str(uuid.uuid4()), channels=frozenset(), event_types=(), rate_per_s=1e5, burst=1_000_000
    )
    now = datetime.now(UTC)
    out = []
    for event in events:
        record = to_record(to_interaction(adapter.validate_python(event), principal, now))
        out.append(RawRecord(record.key, record.value, [*record.headers, ("traceparent", TRACEPARENT)]))
    return out


# --------------------------------------------------------------------------- load generator


class _HttpConnection(asyncio.Protocol):
    """A keep-alive HTTP/1.1 connection with one request in flight (Content-Length framing only)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._need = -1  # total bytes of the response being read, once its head is parsed
        self._status = 0
        self._waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self._need < 0:
            head_end = self._buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = bytes(self._buf[:head_end]).lower()
            start = head.find(b"\r\ncontent-length:")
            if start < 0:
                self._fail(ConnectionError("response without Content-Length"))
                return
            end = head.find(b"\r\n", start + 2)
            self._status = int(head[9:12])
            self._need = head_end + 4 + int(head[start + 17 : end if end > 0 else None])
        if len(self._buf) >= self._need:
            del self._buf[: self._need]
            self._need = -1
            waiter, self._waiter = self._waiter, None
            if waiter is not None and not waiter.done():
                waiter.set_result(self._status)

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError(f"connection lost: {exc!r}"))

    async def request(self, data: bytes) -> int:
        assert self.transport is not None
        if self.transport.is_closing():
            raise ConnectionError("connection closed")
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        self.transport.write(data)
        return await waiter


async def _connect(port: int) -> _HttpConnection:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(_HttpConnection, "127.0.0.1", port)
    return protocol


Sample = tuple[float, float, int, str]
Worker = Callable[[int, Callable[[], bool], list[Sample]], Coroutine[Any, Any, None]]


async def _measure(name: str, worker: Worker, concurrency: int, warmup: float, duration: float, cpu: CpuMeter) -> Phase:
    """Run `concurrency` workers; keep what completed between warm-up end and duration end."""
    samples: list[Sample] = []
    stopping = False

    def running() -> bool:
        return not stopping

    tasks = [asyncio.create_task(worker(i, running, samples)) for i in range(concurrency)]
    try:
        await asyncio.sleep(warmup)
        cpu.start()
        t0 = time.perf_counter()
        await asyncio.sleep(duration)
        t1 = time.perf_counter()
        usage = cpu.stop()
        stopping = True
        # In-flight requests finish (or are abandoned) within a bounded time.
        _, pending = await asyncio.wait(tasks, timeout=15)
        for task in pending:
            task.cancel()
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise RuntimeError(f"{name}: load generator failed") from task.exception()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    phase = summarize(name, samples, t0, t1)
    phase.cpu = usage
    if phase.events and "server" in usage:
        phase.server_cpu_us_per_event = round(usage["server"] / 100 * phase.seconds / phase.events * 1e6, 1)
    return phase


def http_worker(port: int, requests: list[bytes], events_per_request: int) -> Worker:
    async def work(index: int, running: Callable[[], bool], samples: list[Sample]) -> None:
        conn = await _connect(port)
        n = index
        try:
            while running():
                data = requests[n % len(requests)]
                n += 1
                start = time.perf_counter()
                try:
                    status = await conn.request(data)
                except ConnectionError as exc:
                    samples.append((time.perf_counter(), 0.0, 0, type(exc).__name__))
                    await asyncio.sleep(0.05)
                    conn = await _connect(port)
                    continue
                end = time.perf_counter()
                samples.append(
                    (end, end - start, events_per_request, "ok" if 200 <= status < 300 else f"http_{status}")
                )
        finally:
            if conn.transport is not None:
                conn.transport.close()

    return work


def producer_worker(producer: AIOKafkaProducer, records: list[RawRecord], window: int) -> Worker:
    async def work(index: int, running: Callable[[], bool], samples: list[Sample]) -> None:
        n = index * window
        while running():
            start = time.perf_counter()
            futures = []
            for _ in range(window):
                r = records[n % len(records)]
                n += 1
                futures.append(await producer.send(RAW_TOPIC, r.value, key=r.key, headers=r.headers))
            try:
                await asyncio.gather(*futures)
                outcome = "ok"
            except Exception as exc:  # a failed window is a measured error, not a crash
                outcome = type(exc).__name__
            end = time.perf_counter()
            samples.append((end, end - start, window if outcome == "ok" else 0, outcome))

    return work


def run_loop(coro: Coroutine[Any, Any, Phase]) -> Phase:
    """The load generator runs on uvloop, as the servers do."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


# --------------------------------------------------------------------------- servers


@dataclass
class Infra:
    workdir: Path
    bootstrap: str = ""
    database_url: str = ""
    kafka_pid: int = 0


@contextlib.contextmanager
def infrastructure(workdir: Path) -> Iterator[Infra]:
    """Real Kafka and PostgreSQL for this run, stopped on the way out."""
    infra = Infra(workdir)
    broker = KafkaBroker(workdir / "kafka", partitions=KafkaSettings().topic_partitions)
    pg = EmbeddedPostgres(workdir / "pg")
    try:
        t = time.monotonic()
        infra.bootstrap = broker.start()
        proc = broker._proc
        infra.kafka_pid = proc.pid if proc is not None else 0
        infra.database_url = pg.start()
        upgrade("metaconnect_ingest", infra.database_url)
        # Created now, so its partition leaders are settled when the raw producer starts.
        asyncio.run(ensure_topics(KafkaSettings(bootstrap=infra.bootstrap), [RAW_TOPIC]))
        log(f"Kafka {infra.bootstrap} and PostgreSQL up, ingest migrated ({time.monotonic() - t:.1f}s)")
        yield infra
    finally:
        broker.stop()
        pg.stop()


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
    return {
        "MC_INGEST_HOST": "127.0.0.1",
        "MC_INGEST_PORT": str(port),
        "MC_ENV": "test",
        "MC_DATABASE_URL": infra.database_url,
        "MC_KAFKA_BOOTSTRAP": infra.bootstrap,
        "MC_LOG_LEVEL": "WARNING",
        # Spans stay in the process: a benchmark sends nothing off this machine.
        "OTEL_EXPORTER_OTLP_ENDPOINT": "",
    }


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


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


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
    meter = CpuMeter(pids, profile_pid=pids["server"] if opts.profile else None)
    phase = run_loop(_measure(name, worker, concurrency, opts.warmup, opts.duration, meter))
    log(f"{name}: {phase.events_per_s:,.0f} events/s, p50 {phase.p50_ms} ms, p99 {phase.p99_ms} ms, cpu {phase.cpu}")
    return phase


async def _raw_producer(infra: Infra, records: list[RawRecord], opts: argparse.Namespace) -> Phase:
    kafka = KafkaSettings(bootstrap=infra.bootstrap)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap,
        client_id="metaconnect-bench",
        acks="all",
        enable_idempotence=kafka.idempotence,
        compression_type=None if kafka.compression == "none" else kafka.compression,
        linger_ms=kafka.linger_ms,
        request_timeout_ms=kafka.request_timeout_ms,
        max_batch_size=PUBLISHER_MAX_BATCH_BYTES,
    )
    await producer.start()
    try:
        worker = producer_worker(producer, records, opts.batch_size)
        cpu = CpuMeter({"kafka": infra.kafka_pid}, me="server")  # the producer under test is this process
        return await _measure("raw producer", worker, opts.batch_concurrency, opts.warmup, opts.duration, cpu)
    finally:
        await producer.stop()


def _package(filename: str) -> str:
    """Who owns a profiled function: a site-package, a stdlib module, or our code."""
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    for ours in ("metaconnect_common", "metaconnect_ingest", "bench"):
        if f"/{ours}/" in filename:
            return ours
    if "/lib/python3" in filename:
        rest = filename.split("/lib/python3", 1)[1].split("/", 2)
        return "stdlib " + (rest[1].removesuffix(".py") if len(rest) > 1 else "?")
    return filename


def print_profile(path: Path, phase: Phase, limit: int) -> None:
    """Own time grouped by package (C built-ins charged to their Python callers), then the top functions."""
    if not path.is_file():
        log(f"no profile written at {path}")
        return
    stats = pstats.Stats(str(path))
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, dict[Any, Any]]] = stats.stats  # type: ignore[attr-defined]
    by_package: dict[str, float] = {}
    total = 0.0
    for (filename, _line, name), (_cc, _nc, tottime, _ct, callers) in raw.items():
        total += tottime
        if filename == "~":  # a C function: its time goes to whoever called it
            if name == "<method 'run_until_complete' of 'uvloop.loop.Loop' objects>" or not callers:
                by_package["event loop (C)"] = by_package.get("event loop (C)", 0.0) + tottime
                continue
            for (caller_file, _l, _n), entry in callers.items():
                owner = _package(caller_file)
                by_package[owner] = by_package.get(owner, 0.0) + entry[2]
            continue
        owner = _package(filename)
        by_package[owner] = by_package.get(owner, 0.0) + tottime
    events = phase.events
    print(f"\n== {phase.name}: cProfile of the server over the measurement window ({path})")
    per = f", {1e6 * total / events:.0f} us per event" if events else ""
    print(f"main-thread time profiled: {total:.2f}s for {events} events{per}; own time by package:")
    for owner, seconds in sorted(by_package.items(), key=lambda kv: -kv[1])[:25]:
        per_event = f"{1e6 * seconds / events:8.1f} us/event" if events else ""
        print(f"  {owner:<32} {seconds:7.3f}s {100 * seconds / max(total, 1e-9):5.1f}%  {per_event}")
    print(f"\n== top {limit} functions by own time")
    stats.sort_stats(pstats.SortKey.TIME).print_stats(limit)


def _server_cmd(opts: argparse.Namespace, name: str, args: list[str]) -> list[str]:
    """`args` runs a server (`-m module ...` or `script.py ...`); under --profile via bench/profiled.py."""
    if not opts.profile:
        return [sys.executable, *args]
    prefix = str(opts.workdir / "profiles" / f"{name}-")
    (opts.workdir / "profiles").mkdir(parents=True, exist_ok=True)
    if args[0] == "-m":
        return [sys.executable, str(BENCH_DIR / "profiled.py"), prefix, *args[1:]]
    # A script in bench/: profiled.py (also in bench/) has it on sys.path as a module.
    script = Path(args[0])
    return [sys.executable, str(BENCH_DIR / "profiled.py"), prefix, script.stem, *args[1:]]


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
    (opts.workdir / "logs").mkdir(parents=True, exist_ok=True)
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
    with infrastructure(opts.workdir / "data") as infra:
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


def _ratio(num: dict[str, Any] | None, den: dict[str, Any] | None) -> float | None:
    if not num or not den or not den["events_per_s"]:
        return None
    return round(float(num["events_per_s"]) / float(den["events_per_s"]), 3)


def report(results: dict[str, Any], per_round: dict[str, list[float]], opts: argparse.Namespace, elapsed: float) -> int:
    single, noop = results.get("single"), results.get("noop")
    batched, raw = results.get("batched"), results.get("raw")
    ratios = {"single": _ratio(single, noop), "batched": _ratio(batched, raw)}

    def num(value: float | None, width: int, fmt: str = ",.0f") -> str:
        return f"{value:{width}{fmt}}" if value is not None else " " * (width - 1) + "-"

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
    print(
        f"{'CPU, % of one core':<30} {'tested':>8} {'loadgen':>8} {'kafka':>8} {'other':>8} {'machine':>8}  "
        f"{'tested us/event':>15}"
    )
    disturbed = []
    for name, label in (("noop", "noop"), ("single", "single"), ("batched", "batched"), ("raw", "raw (bench process)")):
        phase = results.get(name)
        if phase:
            cpu = phase["cpu"]
            print(
                f"{label:<30} {num(cpu.get('server'), 8)} {num(cpu.get('loadgen'), 8)} {num(cpu.get('kafka'), 8)} "
                f"{num(cpu.get('other'), 8)} {num(cpu.get('system'), 8)}  "
                f"{num(phase['server_cpu_us_per_event'], 15, '.1f')}"
            )
            if cpu.get("other", 0.0) > OTHER_LOAD_WARN:
                disturbed.append(name)
    print(f"(machine: all {os.cpu_count()} cores together; other: busy time of processes outside this bench)")
    if disturbed:
        print(
            f"WARNING: other processes used over {OTHER_LOAD_WARN:.0f}% of a core during {disturbed}: "
            "those figures measured a shared machine; rerun when it is quiet."
        )
    if opts.rounds > 1:
        print(f"events/s of each round (the table shows the median round): {per_round}")
    errors = {name: phase["errors"] for name, phase in results.items() if phase["errors"]}
    if errors:
        print(f"\nerrors inside the measurement windows: {errors}")
    if opts.profile:
        print("\n(--profile: the ingest server ran under cProfile, its figures are not representative)")
    print()
    line = {
        "bench": "ingest",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "elapsed_s": round(elapsed, 1),
        "config": {
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
        },
        "figures": results,
        "rounds_events_per_s": per_round,
        "disturbed": disturbed,
        "ratios": ratios,
        "targets": TARGETS,
    }
    print(json.dumps(line, separators=(",", ":")))
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
    parser.add_argument(
        "--figures", default="noop,single,batched,raw", help="subset of noop,single,batched,raw (default all)"
    )
    parser.add_argument("--profile", action="store_true", help="run the ingest server under cProfile and print it")
    parser.add_argument("--profile-top", type=int, default=40, help="rows of the profile to print (default 40)")
    parser.add_argument(
        "--ingest-module",
        default="metaconnect_ingest",
        help="module run as the service (default metaconnect_ingest; a variant for experiments)",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="logs and data (default .metaconnect/bench/RUN)")
    parser.add_argument("--keep-data", action="store_true", help="keep Kafka/PostgreSQL data after the run")
    opts = parser.parse_args(argv)
    unknown = set(opts.figures.split(",")) - {"noop", "single", "batched", "raw"}
    if unknown:
        parser.error(f"unknown figures: {sorted(unknown)}")
    if opts.rounds < 1 or opts.concurrency < 1 or opts.batch_concurrency < 1:
        parser.error("--rounds, --concurrency and --batch-concurrency must be at least 1")
    if opts.duration <= 0 or opts.warmup < 0:
        parser.error("--duration must be positive and --warmup not negative")
    if opts.batch_size < 1 or opts.batch_size > 1000:
        parser.error("--batch-size must be 1..1000 (the API's limit)")
    if opts.workdir is None:
        opts.workdir = ROOT / ".metaconnect" / "bench" / time.strftime("run-%Y%m%d-%H%M%S")
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)

    def terminate(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds through the context managers: servers stop

    signal.signal(signal.SIGTERM, terminate)
    started = time.monotonic()
    log(f"workdir {opts.workdir}")
    try:
        results, per_round = run(opts)
    except (RuntimeError, OSError, subprocess.SubprocessError, TimeoutError) as exc:
        log(f"bench failed: {exc!r} (logs in {opts.workdir / 'logs'})")
        return 2
    finally:
        if not opts.keep_data:
            shutil.rmtree(opts.workdir / "data", ignore_errors=True)
    code = report(results, per_round, opts, time.monotonic() - started)
    log(f"done in {time.monotonic() - started:.0f}s; logs in {opts.workdir / 'logs'}")
    return code


if __name__ == "__main__":
    sys.exit(main())
