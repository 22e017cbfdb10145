"""The timer loop against the real PostgreSQL: a due walk another transaction holds (another
replica moving it) is left to that transaction, without looking for it again and again; a walk
that cannot be moved holds up no other and leaves its journey after its tries."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from metaconnect_router.journeys.repository import MAX_FAILURES, retry_after
from metaconnect_router.journeys.timers import JourneyTimers
from tests.router.conftest import operator
from tests.router.journeys.factory import entry_type, journey_spec, profiled, send


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


async def test_a_walk_that_cannot_move_holds_up_no_other_and_leaves_after_its_tries(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    sessions = router_app.state.service.sessions
    name = f"good-{uuid.uuid4().hex[:6]}"
    spec = journey_spec(name, {"id": "pause", "type": "wait", "duration": "PT1M"}, send("hello"))
    assert (await router_client.put(f"/v1/journeys/{name}", json=spec, headers=operator())).status_code == 201
    router_app.state.service.decisions.journeys.invalidate()
    good, now = uuid.uuid4(), datetime.now(UTC)
    await router_app.state.service.decisions.apply_all([(profiled(good, entry_type(name)), None)], now=now)
    broken, someone = uuid.uuid4(), uuid.uuid4()
    # A customer the router holds a profile of (without one, a walk's customer counts as erased).
    await router_app.state.service.decisions.apply_all([(profiled(someone, "app.opened"), None)], now=now)
    async with sessions() as session, session.begin():
        # Due before the good one, on a version of a journey nobody wrote: it can never be moved.
        await session.execute(
            text(
                "INSERT INTO router.journey_instances (id, journey, version, customer_id, status, step_id, due_at,"
                " holdout, context, arms, entered_at, updated_at)"
                " VALUES (:id, 'never-written', 1, :customer, 'active', 'pause', :due, false, '{}', '{}', :now, :now)"
            ),
            {"id": broken, "customer": someone, "due": now, "now": now},
        )
    timers = router_app.state.service.timers
    due = now + timedelta(minutes=1, seconds=1)
    assert await timers.fire_due(due) >= 1  # the good walk moved, the broken one did not stop it

    async def state(walk_id: uuid.UUID) -> tuple[str, int, datetime | None]:
        async with sessions() as session:
            row = (
                await session.execute(
                    text("SELECT status, failures, due_at FROM router.journey_instances WHERE id = :id"),
                    {"id": walk_id},
                )
            ).one()
        return row[0], row[1], row[2]

    async with sessions() as session:
        done = await session.scalar(
            text("SELECT status FROM router.journey_instances WHERE customer_id = :c"), {"c": good}
        )
    assert done == "completed"
    status, failures, retry = await state(broken)
    assert (status, failures) == ("active", 1)
    assert retry is not None
    assert retry == due + retry_after(1)
    for _ in range(MAX_FAILURES - 1):  # each later try, when it falls due again
        _, _, retry = await state(broken)
        assert retry is not None
        await timers.fire_due(retry + timedelta(seconds=1))
    status, failures, retry = await state(broken)
    assert (status, failures, retry) == ("exited", MAX_FAILURES, None)
    async with sessions() as session:
        history = (
            await session.execute(
                text("SELECT kind, outcome, detail FROM router.journey_steps WHERE instance_id = :id ORDER BY id"),
                {"id": broken},
            )
        ).all()
    assert [(k, o) for k, o, _ in history] == [("wait", "retry")] * (MAX_FAILURES - 1) + [("exit", "failed")]
    assert history[-1][2] == {"error": "KeyError", "failures": MAX_FAILURES}
