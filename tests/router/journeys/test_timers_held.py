"""The timer loop against the real PostgreSQL: a due walk another transaction holds (another
replica moving it) is left to that transaction, without looking for it again and again."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from sqlalchemy import text

from metaconnect_router.journeys.timers import JourneyTimers


class CountedTimers(JourneyTimers):
    rounds = 0

    async def fire_due_once(self) -> int:
        self.rounds += 1
        return await super().fire_due_once()


async def _nothing() -> None:
    return None


async def test_a_due_walk_held_by_another_transaction_does_not_spin_the_timer_loop(router_app: FastAPI) -> None:
    sessions = router_app.state.service.sessions
    walk = uuid.uuid4()
    now = datetime.now(UTC)
    timers = CountedTimers(sessions, router_app.state.service.decisions, interval_s=0.25)
    async with sessions() as holder, holder.begin():
        # A walk due a second ago, held as a replica moving it holds it (and gone before anyone
        # else may claim it: its journey does not exist).
        await holder.execute(
            text(
                "INSERT INTO router.journey_instances (id, journey, version, customer_id, status, step_id, due_at,"
                " holdout, context, arms, entered_at, updated_at)"
                " VALUES (:id, 'held', 1, :customer, 'active', 'pause', :due, false, '{}', '{}', :now, :now)"
            ),
            {"id": walk, "customer": uuid.uuid4(), "due": now - timedelta(seconds=1), "now": now},
        )
    try:
        async with sessions() as holder, holder.begin():
            await holder.execute(text("SELECT 1 FROM router.journey_instances WHERE id = :id FOR UPDATE"), {"id": walk})
            loop = asyncio.create_task(timers.run(_nothing))
            await asyncio.sleep(1.0)
            loop.cancel()
            await asyncio.gather(loop, return_exceptions=True)
            await holder.execute(text("DELETE FROM router.journey_instances WHERE id = :id"), {"id": walk})
    finally:
        async with sessions() as session, session.begin():
            await session.execute(text("DELETE FROM router.journey_instances WHERE id = :id"), {"id": walk})
    # A round every interval (4 in a second), give or take one; not one every few milliseconds.
    assert timers.rounds <= 8, f"{timers.rounds} rounds in a second"
