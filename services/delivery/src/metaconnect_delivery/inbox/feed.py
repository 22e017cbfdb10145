"""Live inbox messages across replicas: PostgreSQL LISTEN/NOTIFY.

The transaction that stores an inbox message also runs `pg_notify('mc_inbox', customer id)`,
so the notification goes out exactly when the message is committed, whichever replica sent
it. Every replica keeps one listening connection and wakes the streams of that customer; a
stream then reads what is new from the table, so a lost wake-up costs only latency (the
stream also looks every `poll_s`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any, Final

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)
CHANNEL: Final = "mc_inbox"


async def notify(session: AsyncSession, customer_id: uuid.UUID) -> None:
    """Inside the storing transaction: wake the customer's streams once it commits."""
    await session.execute(text("SELECT pg_notify(:c, :customer)"), {"c": CHANNEL, "customer": str(customer_id)})


class InboxFeed:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn.replace("postgresql+asyncpg://", "postgresql://", 1)
        self._connection: asyncpg.Connection | None = None
        self._waiters: dict[uuid.UUID, set[asyncio.Event]] = defaultdict(set)

    async def run(self, *, retry_s: float = 2.0) -> None:
        """Listen, and listen again after the database went away (streams poll meanwhile)."""
        while True:
            try:
                self._connection = await asyncpg.connect(self._dsn)
                await self._connection.add_listener(CHANNEL, self._on_notify)
                while not self._connection.is_closed():
                    await asyncio.sleep(retry_s)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("inbox feed not listening: %s", type(exc).__name__)
            finally:
                await self.stop()
            for waiters in self._waiters.values():  # whatever was missed meanwhile: look now
                for woken in waiters:
                    woken.set()
            await asyncio.sleep(retry_s)

    async def stop(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
            self._connection = None

    @property
    def listening(self) -> bool:
        return self._connection is not None and not self._connection.is_closed()

    @contextlib.contextmanager
    def subscribe(self, customer_id: uuid.UUID) -> Iterator[asyncio.Event]:
        """An event set whenever the customer's inbox may have something new."""
        woken = asyncio.Event()
        self._waiters[customer_id].add(woken)
        try:
            yield woken
        finally:
            self._waiters[customer_id].discard(woken)
            if not self._waiters[customer_id]:
                del self._waiters[customer_id]

    def _on_notify(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            customer_id = uuid.UUID(payload)
        except ValueError:
            return
        for woken in self._waiters.get(customer_id, ()):
            woken.set()
