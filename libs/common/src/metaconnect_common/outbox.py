"""Transactional outbox: publish to Kafka exactly what a committed transaction decided.

A service writes its records into its own `outbox` table in the same transaction as the
change they report. After the commit, `OutboxRelay.flush()` publishes pending rows in id
order and marks them, holding their row locks (`FOR UPDATE SKIP LOCKED`) while it
publishes, so replicas never publish the same rows concurrently. A crash between the
commit and the publish leaves the rows pending for the next flush; a crash between the
publish and the mark publishes them again with the same record ids, which consumers
dedupe. The trace context of the transaction's span is stored with each row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from metaconnect_common.db import unit_of_work
from metaconnect_common.kafka.producer import KafkaPublisher, OutgoingRecord
from metaconnect_common.kafka.tracing import has_traceparent, inject_headers
from metaconnect_common.metrics import OUTBOX_FAILURES, OUTBOX_PUBLISHED

log = logging.getLogger(__name__)


def outbox_table(metadata: MetaData, *, tombstones: bool = False) -> Table:
    """The `outbox` table in a service's own schema; with `tombstones`, a row may have no value
    (a tombstone: it forgets its key on a compacted topic)."""
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("topic", String(255), nullable=False),
        Column("key", LargeBinary, nullable=True),
        Column("value", LargeBinary, nullable=tombstones),
        Column("headers", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Index("ix_outbox_pending", "id", postgresql_where=text("published_at IS NULL")),
    )


# Outbox tables this process committed rows to since its relay last looked: a consumed batch that
# enqueued nothing (a delivery accepted, an event no route matched) needs no look at the table.
# Marked at commit, not at enqueue: a flush that begins between the two cannot see the rows, and
# must not take the mark with it. Rows other processes write are their relays' to publish, and
# every relay's `run` loop looks anyway.
_ENQUEUED: set[str] = set()
_SESSION_KEY = "metaconnect.outbox_tables"


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    _ENQUEUED.update(session.info.pop(_SESSION_KEY, ()))


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_SESSION_KEY, None)


async def enqueue(session: AsyncSession, table: Table, records: Sequence[OutgoingRecord]) -> None:
    """Add records to the outbox inside the caller's transaction, with the current trace context
    (a record that carries a `traceparent` already keeps its own)."""
    if not records:
        return
    await session.execute(
        insert(table),
        [
            {
                "topic": r.topic,
                "key": r.key,
                "value": r.value,
                "headers": [
                    [k, v.decode("latin-1")]
                    for k, v in (r.headers if has_traceparent(r.headers) else inject_headers(r.headers))
                ],
            }
            for r in records
        ],
    )
    session.info.setdefault(_SESSION_KEY, set()).add(table.fullname)


class OutboxRelay:
    """Publishes pending outbox rows; `flush()` after each commit, `run()` for leftovers."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        publisher: KafkaPublisher,
        table: Table,
        *,
        batch_size: int = 500,
        retention: timedelta = timedelta(hours=24),
    ) -> None:
        self._sessions = sessions
        self._publisher = publisher
        self._table = table
        self._batch_size = batch_size
        self._retention = retention
        self._lock = asyncio.Lock()
        service = table.schema or "default"
        self._published = OUTBOX_PUBLISHED.labels(service)
        self._failures = OUTBOX_FAILURES.labels(service)

    async def flush(self) -> int:
        """Publish every pending row (oldest first), `batch_size` at a time while batches come back
        full; returns how many were published.

        Raises (leaving rows pending) when the broker does not acknowledge.
        """
        t = self._table
        published = 0
        async with self._lock:
            _ENQUEUED.discard(t.fullname)  # what is enqueued from now on, the next flush looks for
            while True:
                async with unit_of_work(self._sessions) as session:
                    rows = (
                        await session.execute(
                            select(t.c.id, t.c.topic, t.c.key, t.c.value, t.c.headers)
                            .where(t.c.published_at.is_(None))
                            .order_by(t.c.id)
                            .limit(self._batch_size)
                            .with_for_update(skip_locked=True)
                        )
                    ).all()
                    if not rows:
                        return published
                    try:
                        await self._publisher.publish(
                            [
                                OutgoingRecord(
                                    topic=row.topic,
                                    key=row.key,
                                    value=row.value,
                                    headers=[(k, v.encode("latin-1")) for k, v in row.headers],
                                )
                                for row in rows
                            ]
                        )
                    except Exception:
                        self._failures.inc()
                        raise
                    self._published.inc(len(rows))
                    await session.execute(
                        update(t).where(t.c.id.in_([row.id for row in rows])).values(published_at=func.now())
                    )
                    published += len(rows)
                if len(rows) < self._batch_size:
                    # Nothing was left when it looked: rows committed since are their committer's
                    # to flush (or the next tick of `run`), so no second look that finds nothing.
                    return published

    async def flush_enqueued(self) -> int:
        """`flush()` when this process committed outbox rows since the last flush began, else
        nothing (no transaction): what a consumer calls after each batch."""
        if self._table.fullname not in _ENQUEUED:
            return 0
        return await self.flush()

    async def prune(self) -> None:
        """Delete rows published longer ago than the retention."""
        async with unit_of_work(self._sessions) as session:
            await session.execute(
                delete(self._table).where(self._table.c.published_at < datetime.now(UTC) - self._retention)
            )

    async def run(self, interval_s: float = 1.0) -> None:
        """Background loop: publishes rows a crashed flush left behind, prunes old ones."""
        ticks = 0
        while True:
            try:
                await self.flush()
                ticks += 1
                if ticks % 600 == 0:
                    await self.prune()
            except Exception as exc:  # the broker or DB may be away; try again next tick
                log.warning("outbox relay: %s", type(exc).__name__)
            await asyncio.sleep(interval_s)
