"""The load generators of `ingest.py` and what they measured.

An HTTP/1.1 client on raw asyncio protocols (keep-alive, one request in flight per
connection, request bytes built beforehand) and a Kafka producer sending windows of
records, both run as `concurrency` workers by `measure`, which keeps what completed
between the end of the warm-up and the end of the measurement window.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from aiokafka import AIOKafkaProducer

from bench._measure import CpuMeter

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


@dataclass(frozen=True)
class RawRecord:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


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


async def measure(
    name: str,
    worker: Worker,
    concurrency: int,
    warmup: float,
    duration: float,
    cpu: CpuMeter,
    profile_pid: int | None = None,
) -> Phase:
    """Run `concurrency` workers; keep what completed between warm-up end and duration end.

    `profile_pid` (a server under bench/profiled.py) is told to profile just the measurement window."""
    samples: list[Sample] = []
    stopping = False

    def running() -> bool:
        return not stopping

    tasks = [asyncio.create_task(worker(i, running, samples)) for i in range(concurrency)]
    try:
        await asyncio.sleep(warmup)
        if profile_pid:
            os.kill(profile_pid, signal.SIGUSR1)
        cpu.start()
        t0 = time.perf_counter()
        await asyncio.sleep(duration)
        t1 = time.perf_counter()
        usage, _ = cpu.stop()
        if profile_pid:
            os.kill(profile_pid, signal.SIGUSR2)
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


def producer_worker(producer: AIOKafkaProducer, topic: str, records: list[RawRecord], window: int) -> Worker:
    async def work(index: int, running: Callable[[], bool], samples: list[Sample]) -> None:
        n = index * window
        while running():
            start = time.perf_counter()
            futures = []
            for _ in range(window):
                r = records[n % len(records)]
                n += 1
                futures.append(await producer.send(topic, r.value, key=r.key, headers=r.headers))
            try:
                await asyncio.gather(*futures)
                outcome = "ok"
            except Exception as exc:  # a failed window is a measured error, not a crash
                outcome = type(exc).__name__
            end = time.perf_counter()
            samples.append((end, end - start, window if outcome == "ok" else 0, outcome))

    return work
