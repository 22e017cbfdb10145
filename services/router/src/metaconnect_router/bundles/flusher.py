"""The flusher: due bundles go out as deliveries, from any number of router replicas.

It claims due bundles with `FOR UPDATE SKIP LOCKED`, so replicas never flush the same bundle,
and the delivery is written to the outbox in the transaction that marks the bundle flushed: a
crash before the commit leaves the bundle open for the next claim, a crash after it leaves the
record for the relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.db import unit_of_work
from metaconnect_router.bundles.ledger import Ledger

log = logging.getLogger(__name__)


class Flusher:
    """Flushes due bundles every `interval_s`; safe with any number of replicas."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, batch: int = 200, interval_s: float = 1.0
    ) -> None:
        self._sessions = sessions
        self._batch = batch
        self.interval_s = interval_s

    async def flush_due(self, now: datetime) -> int:
        """Flush due bundles (one transaction per claimed batch); returns how many deliveries were made."""
        made = 0
        while True:
            async with unit_of_work(self._sessions) as session:
                ledger = Ledger()
                claimed = await ledger.claim_due(session, now, self._batch)
                ledger.flush_due(now)
                await ledger.write(session, now)
            ledger.observe(now)
            made += len(ledger.deliveries)
            if len(claimed) < self._batch:
                return made

    async def flush_due_once(self) -> int:
        """One round at the current time; failures are logged (the next round tries again)."""
        try:
            return await self.flush_due(datetime.now(UTC))
        except Exception as exc:  # the database may be away: try again next round
            log.warning("bundle flush failed: %s", type(exc).__name__)
            return 0

    async def run(self, relay_flush: Callable[[], Awaitable[object]]) -> None:
        """Flush due bundles every `interval_s` until cancelled. After each round `relay_flush`
        publishes the outbox, so the deliveries go out without waiting for the relay's own round."""
        while True:
            await self.flush_due_once()
            with contextlib.suppress(Exception):  # the relay publishes them on its next round
                await relay_flush()
            await asyncio.sleep(self.interval_s)
