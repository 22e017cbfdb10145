"""The router's decision SQL on real PostgreSQL: arm counts shared by concurrent partition batches."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_common.db import session_factory, unit_of_work
from metaconnect_common.schemas import Channel
from metaconnect_router.decisions import repository
from metaconnect_router.decisions.ranking import Arm
from metaconnect_router.routes.spec import Tone

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


async def test_partition_batches_adding_to_the_same_arms_in_any_order_never_deadlock(engine: AsyncEngine) -> None:
    """Each partition's batch is its own transaction; batches that name shared arms in opposite
    orders once deadlocked (PostgreSQL broke it after a second, the batch then went record by record)."""
    pattern = f"p-{uuid.uuid4().hex[:8]}"
    arms = [
        Arm(f"{pattern}-{n}", tone, channel)
        for n in range(4)
        for tone in Tone
        for channel in (Channel.PUSH, Channel.EMAIL)
    ]
    sessions = session_factory(engine)

    async def batch(order: list[Arm]) -> None:
        async with unit_of_work(sessions) as session:
            await repository.add_to_arms(session, {arm: [0.0, 1.0] for arm in order}, NOW)
            await asyncio.sleep(0.01)  # the transaction stays open while the other one writes

    for _ in range(10):
        await asyncio.gather(batch(arms), batch(arms[::-1]))
    async with engine.connect() as conn:
        failures = await conn.scalars(
            text("SELECT failures FROM router.arm_stats WHERE pattern LIKE :p"), {"p": f"{pattern}-%"}
        )
        assert set(failures) == {20.0}
