"""The digest's schedule against the real database: a period claimed once however many replicas
race for it, a dead replica's claim taken over, a sent one never again; the settings audited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from metaconnect_cli.local._proc import free_port
from metaconnect_common.db import session_factory
from metaconnect_common.settings import CommonSettings
from metaconnect_console.api import Services
from metaconnect_console.config import ConsoleSettings
from metaconnect_console.digest import repository
from metaconnect_console.digest.cadence import Cadence, Period, last_due, period_ending
from metaconnect_console.digest.form import DigestConfig
from metaconnect_console.digest.schedule import DigestSchedule
from metaconnect_console.models import DigestSend

pytestmark = pytest.mark.timeout(60)
NOW = datetime(2026, 12, 7, 7, 30, tzinfo=UTC)  # Monday, half an hour after 08:00 in Berlin


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(database_url, pool_size=10)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def _claim(sessions: async_sessionmaker[AsyncSession], period: Period, holder: str, now: datetime) -> bool:
    async with sessions.begin() as db:
        lease_until = now + timedelta(minutes=5)
        return await repository.claim(db, period, holder=holder, now=now, lease_until=lease_until) is not None


async def test_of_many_claimers_racing_exactly_one_claims_a_period(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    period = Period(since=NOW - timedelta(days=7), until=NOW + timedelta(days=100))
    won = await asyncio.gather(*(_claim(sessions, period, f"replica-{n}", NOW) for n in range(10)))
    assert won.count(True) == 1


async def test_a_dead_replicas_claim_is_taken_over_and_a_sent_period_never_again(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    period = Period(since=NOW - timedelta(days=7), until=NOW + timedelta(days=200))
    assert await _claim(sessions, period, "dies", NOW)
    assert not await _claim(sessions, period, "other", NOW + timedelta(minutes=4))  # the claim still runs
    later = NOW + timedelta(minutes=6)
    assert await _claim(sessions, period, "takes-over", later)
    async with sessions.begin() as db:
        await repository.finish(db, period, holder="dies", now=later, notifications=[], error=None)  # too late
        row = await db.get(DigestSend, period.until)
        assert row is not None
        assert (row.claimed_by, row.attempts, row.sent_at) == ("takes-over", 2, None)
        await repository.finish(db, period, holder="takes-over", now=later, notifications=["n-1"], error=None)
    assert not await _claim(sessions, period, "third", NOW + timedelta(days=1))


def _absent_services() -> Services:
    """The services' addresses with nothing listening: a send fails, and the failure is recorded."""
    port = free_port()
    nowhere = f"http://127.0.0.1:{port}"
    settings = ConsoleSettings(
        ingest_url=nowhere,
        profile_url=nowhere,
        router_url=nowhere,
        delivery_url=nowhere,
        api_timeout_s=2.0,
        common=CommonSettings(env="test"),
    )
    return Services(settings, httpx.AsyncClient(timeout=2.0))


async def test_two_schedules_racing_send_a_due_period_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    cadence = Cadence(weekday=NOW.weekday(), at=time(7, 0), zone="UTC")
    async with sessions.begin() as db:
        await repository.save(db, DigestConfig(True, ("cfo@example.com",), False, cadence), by="admin@t", now=NOW)
    services = _absent_services()
    one, two = (DigestSchedule(sessions, services, poll_s=1, catch_up_s=3600, lease_s=60, holder=h) for h in ("a", "b"))
    try:
        outcomes = await asyncio.gather(one.tick(NOW), two.tick(NOW))
    finally:
        await services.http.aclose()
    claimed = [o for o in outcomes if o is not None]
    assert len(claimed) == 1
    period = period_ending(cadence, last_due(cadence, NOW))
    assert claimed[0].period == period
    assert claimed[0].error is not None  # nobody listened: not sent, and the claim says why
    async with sessions() as db:
        row = await db.get(DigestSend, period.until)
    assert row is not None
    assert row.attempts == 1
    assert row.sent_at is None
    assert row.error == claimed[0].error


async def test_nothing_is_sent_when_off_or_long_past(sessions: async_sessionmaker[AsyncSession]) -> None:
    cadence = Cadence(weekday=NOW.weekday(), at=time(1, 0), zone="UTC")
    services = _absent_services()
    schedule = DigestSchedule(sessions, services, poll_s=1, catch_up_s=3600, lease_s=60, holder="c")
    try:
        async with sessions.begin() as db:
            await repository.save(db, DigestConfig(False, ("cfo@example.com",), False, cadence), by="a@t", now=NOW)
        assert await schedule.tick(NOW) is None  # off
        async with sessions.begin() as db:
            await repository.save(db, DigestConfig(True, ("cfo@example.com",), False, cadence), by="b@t", now=NOW)
        assert await schedule.tick(NOW) is None  # 06:30 past its 01:00 send: more than the hour's catch-up
    finally:
        await services.http.aclose()
    async with sessions() as db:
        changes = await repository.changes(db, before=None, limit=2)
    assert [(c.changed_by, c.settings["enabled"]) for c in changes] == [("b@t", True), ("a@t", False)]
