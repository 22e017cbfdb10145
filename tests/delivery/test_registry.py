"""The provider registry: stored providers read again every `providers_refresh_s`, once at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from metaconnect_common.db import session_factory
from metaconnect_common.settings import CommonSettings
from metaconnect_delivery.config import DeliverySettings
from metaconnect_delivery.registry import Registry
from tests.delivery.test_service import closed_port

SETTINGS = DeliverySettings(providers=[], providers_refresh_s=5, common=CommonSettings(env="test"))


def counting(engine: AsyncEngine) -> tuple[Callable[[], AsyncSession], list[int]]:
    """The engine's sessions, counted: each refresh that reads the store opens one."""
    sessions = session_factory(engine)
    opened = [0]

    def open_one() -> AsyncSession:
        opened[0] += 1
        return sessions()

    return open_one, opened


async def test_attempts_that_find_the_providers_due_at_the_same_moment_read_them_once(engine: AsyncEngine) -> None:
    async with httpx.AsyncClient() as client:
        registry = Registry(SETTINGS, client)
        sessions, opened = counting(engine)
        await asyncio.gather(*(registry.refresh(sessions) for _ in range(20)))  # type: ignore[arg-type]
        assert opened == [1]
        await registry.refresh(sessions)  # type: ignore[arg-type]  # not due again yet
        assert opened == [1]
        await registry.refresh(sessions, force=True)  # type: ignore[arg-type]  # a provider was changed
        assert opened == [2]


async def test_a_refresh_that_failed_is_tried_again_by_the_next_attempt(engine: AsyncEngine) -> None:
    away = create_async_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/metaconnect")
    async with httpx.AsyncClient() as client:
        registry = Registry(SETTINGS, client)
        with pytest.raises(OSError, match=r"(?i)connect call failed|connection refused"):
            await registry.refresh(session_factory(away))
        sessions, opened = counting(engine)
        await registry.refresh(sessions)  # type: ignore[arg-type]
        assert opened == [1]
    await away.dispose()
