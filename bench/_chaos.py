"""Every fault at once-ish, while traffic flows: then prove nothing was lost or doubled.

Faults, in a random order (seeded) at random gaps, each while visits keep arriving:

* every service SIGKILLed `kills` times (default 2) and started again;
* the Kafka broker stopped, left down a few seconds, started again;
* PostgreSQL stopped (`fast`: open transactions roll back), left down, started again;
* the push provider: a burst of 503s, 429s with `Retry-After`, answers slower than the
  delivery service's timeout, and connections refused (the endpoint gone for a few seconds).

A killed service is started again at once, and the next fault does not wait for it to be
ready. Traffic runs until the last fault is over and at least `min_events` were accepted; then the
pipeline drains and `bench/_audit.py` reads what happened.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bench._audit import Audit, audit
from bench._harness import log
from bench._pipeline import SERVICES, Stack
from bench._traffic import Poster, steady

# What a chaos run changes in the services: short leases and circuits, so a killed delivery
# process's claims and an open circuit come back within the run; patient retries.
CHAOS_SETTINGS: dict[str, dict[str, str]] = {
    "delivery": {
        "MC_DELIVERY_LEASE_S": "10",
        "MC_DELIVERY_CIRCUIT_OPEN_S": "3",
        "MC_DELIVERY_ATTEMPTS": "10",
    },
}
PROVIDER_TIMEOUT_S = 1.0


@dataclass
class Fault:
    name: str
    started: float = 0.0  # seconds into the run
    took_s: float = 0.0


@dataclass
class ChaosResult:
    events: int
    posts_retried: int
    traffic_s: float
    faults: list[Fault]
    drain_s: float  # from the end of the last fault until the audit found nothing missing
    drain_after_traffic_s: float  # from the last accepted post until then
    audit: Audit
    accepted_per_s: float = 0.0
    timeline: list[str] = field(default_factory=list)


def faults(stack: Stack, kills: int) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
    plan: list[tuple[str, Callable[[], Awaitable[None]]]] = []
    for name in SERVICES:
        # Not waiting for it to be ready again: the next fault may land while it starts.
        plan += [(f"kill {name}", lambda n=name: stack.kill(n, wait_ready=False))] * kills  # type: ignore[misc]
    plan += [
        ("restart kafka", lambda: stack.restart_broker(down_s=3.0)),
        ("restart postgres", lambda: stack.restart_postgres(down_s=2.0)),
        ("provider 503 burst", lambda: stack.provider_faults(*[{"status": 503}] * 30)),
        ("provider 429 Retry-After", lambda: stack.provider_faults(*[{"status": 429, "retry_after": 1}] * 15)),
        ("provider slower than timeout", lambda: stack.provider_faults(*[{"delay_s": PROVIDER_TIMEOUT_S + 1}] * 8)),
        ("provider refuses connections", lambda: stack.refuse_connections(down_s=2.0)),
    ]
    return plan


async def run(
    stack: Stack,
    *,
    min_events: int,
    rate: float,
    kills: int = 2,
    seed: int = 1,
    gap_s: tuple[float, float] = (1.0, 4.0),
    drain_timeout_s: float = 300.0,
) -> ChaosResult:
    """Traffic at `rate` events/s with every fault of `faults` applied once, in random order."""
    assert stack.sandbox is not None
    rng = random.Random(seed)
    plan = faults(stack, kills)
    rng.shuffle(plan)
    poster = Poster(stack.urls("ingest"), stack.api_key)
    started = time.monotonic()
    done: list[Fault] = []
    faults_over = False
    faults_ended = 0.0

    async def inflict() -> None:
        nonlocal faults_over, faults_ended
        try:
            for name, action in plan:
                await asyncio.sleep(rng.uniform(*gap_s))
                fault = Fault(name, round(time.monotonic() - started, 1))
                await action()
                fault.took_s = round(time.monotonic() - started - fault.started, 1)
                done.append(fault)
                log(f"chaos: {name} at {fault.started}s, back after {fault.took_s}s")
        finally:
            faults_over = True
            faults_ended = time.monotonic()

    try:
        inflicting = asyncio.create_task(inflict())
        traffic_s = await steady(
            poster, rate, until=lambda: faults_over and poster.posted.events >= min_events, tag=f"chaos{seed}"
        )
        await inflicting
        traffic_ended = time.monotonic()
        await stack.ready()
        log(f"chaos: {poster.posted.events} events accepted in {traffic_s:.0f}s; draining")
        result = await drain(stack, poster, drain_timeout_s)
        drained = time.monotonic()
    finally:
        await poster.close()
    return ChaosResult(
        events=poster.posted.events,
        posts_retried=poster.posted.retries,
        traffic_s=traffic_s,
        faults=done,
        drain_s=round(drained - faults_ended, 1),
        drain_after_traffic_s=round(drained - traffic_ended, 1),
        audit=result,
        accepted_per_s=round(poster.posted.events / traffic_s, 1),
    )


async def drain(stack: Stack, poster: Poster, timeout_s: float) -> Audit:
    """Audit until nothing is missing any more (or `timeout_s` passed): the last audit."""
    assert stack.sandbox is not None
    deadline = time.monotonic() + timeout_s
    while True:
        result = await audit(stack.database_url, stack.bootstrap, poster.posted.types, stack.sandbox.messages("fcm"))
        if not result.missing or time.monotonic() > deadline:
            return result
        await asyncio.sleep(2.0)
