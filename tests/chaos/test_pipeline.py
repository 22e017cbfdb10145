"""The whole pipeline under every fault while traffic flows: nothing lost, nothing doubled.

Real Kafka and PostgreSQL of the test's own (so it can restart them), the four services as
processes, the provider sandbox; `bench/_chaos.py` inflicts the faults and `bench/_audit.py`
reads the databases, the dead-letter topics and the sandbox's recording. `bench/chaos.py`
runs the same for 100,000 events.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench._audit import audit
from bench._chaos import CHAOS_SETTINGS, PROVIDER_TIMEOUT_S, run
from bench._pipeline import SERVICES, Stack
from bench._traffic import Poster, at_rate, customers

pytestmark = [pytest.mark.timeout(420), pytest.mark.slow]


async def test_every_fault_during_traffic_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    async with Stack(tmp_path, partitions=3, settings=CHAOS_SETTINGS, provider_timeout_s=PROVIDER_TIMEOUT_S) as stack:
        result = await run(stack, min_events=5000, rate=200, kills=2, seed=7, gap_s=(0.5, 2.0), drain_timeout_s=150)

    names = [f.name for f in result.faults]
    for service in SERVICES:
        assert names.count(f"kill {service}") == 2
    for fault in ("restart kafka", "restart postgres", "provider 503 burst", "provider 429 Retry-After"):
        assert fault in names
    assert "provider slower than timeout" in names
    assert "provider refuses connections" in names
    a = result.audit
    assert a.accepted >= 5000
    assert a.failures == [], (a.failures, a.examples)
    assert a.decided == a.decisions_expected > 0
    assert a.deliveries_sent == a.deliveries_expected > 0
    # The faults bit: posts were refused and retried, answers came too late to know.
    assert result.posts_retried > 0
    assert a.unknown_outcomes > 0
    assert a.double_sends == a.double_sends_explained


async def test_the_audit_finds_a_loss_a_handler_commits_past(tmp_path: Path) -> None:
    """The same audit fails when a router acknowledges records it never decided on."""
    async with Stack(tmp_path, partitions=3, modules={"router": "tests.chaos.lossy_router"}) as stack:
        poster = Poster(stack.urls("ingest"), stack.api_key)
        try:
            await at_rate(poster, customers(60, tag="lossy"), rate=300)
        finally:
            await poster.close()
        assert stack.sandbox is not None
        for _ in range(60):  # until everything but the planted loss has arrived
            found = await audit(stack.database_url, stack.bootstrap, poster.posted.types, stack.sandbox.messages())
            if found.missing == found.decisions_missing > 0:
                break
            await asyncio.sleep(1)

    assert found.decisions_missing > 0
    assert f"decisions missing: {found.decisions_missing}" in found.failures
    assert found.lost == 0  # what was decided still went out
