"""The flusher's loop: a round of flushing, then the relay, then a pause; errors end neither."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_router.bundles.flusher import Flusher


class _Counted(Flusher):
    def __init__(self) -> None:
        super().__init__(cast(async_sessionmaker[AsyncSession], None), interval_s=0.01)
        self.events: list[str] = []

    async def flush_due_once(self) -> int:
        self.events.append("flush")
        return 0


async def test_each_round_flushes_then_publishes_and_a_failing_relay_stops_nothing() -> None:
    flusher = _Counted()

    async def relay() -> Any:
        flusher.events.append("relay")
        raise ConnectionError("broker away")

    task = asyncio.create_task(flusher.run(relay))
    async with asyncio.timeout(5):
        while len(flusher.events) < 6:
            await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert flusher.events[:6] == ["flush", "relay"] * 3
