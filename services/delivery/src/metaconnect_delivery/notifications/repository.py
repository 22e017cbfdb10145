"""All SQL of notifications: the row (the idempotency record), its claim, its attempts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_delivery.models import Attempt, NotificationRow

_NOTIFICATIONS = cast(Table, NotificationRow.__table__)


async def add(session: AsyncSession, row: dict[str, Any]) -> bool:
    """Store a new notification; False (nothing written) when its id is known."""
    inserted = await session.execute(
        insert(_NOTIFICATIONS).values(**row).on_conflict_do_nothing(index_elements=[_NOTIFICATIONS.c.id])
    )
    return bool(getattr(inserted, "rowcount", 0))


async def notification(session: AsyncSession, notification_id: uuid.UUID) -> NotificationRow | None:
    return await session.get(NotificationRow, notification_id)


async def attempts(session: AsyncSession, notification_id: uuid.UUID) -> Sequence[Attempt]:
    rows = await session.scalars(
        select(Attempt).where(Attempt.notification_id == notification_id).order_by(Attempt.number)
    )
    return rows.all()


_CLAIM = text(
    """
    UPDATE delivery.notifications AS t SET lease_until = :lease_until
    FROM (
        SELECT n.id, n.lease_until AS previous FROM delivery.notifications AS n
        WHERE n.status = 'pending' AND n.next_attempt_at <= :now
          AND (n.lease_until IS NULL OR n.lease_until < :now)
        ORDER BY n.next_attempt_at
        LIMIT :limit
        FOR UPDATE OF n SKIP LOCKED
    ) AS due
    WHERE t.id = due.id
    RETURNING t.id, t.channel, t.subject, t.content, t.attempt_count, t.created_at,
              due.previous IS NOT NULL AS interrupted
    """
)


async def claim_due(session: AsyncSession, *, now: datetime, lease_until: datetime, limit: int) -> list[dict[str, Any]]:
    """Lease up to `limit` due notifications, oldest due first; rows other workers hold are skipped.
    `interrupted`: the previous lease ran out (its worker died during the call)."""
    result = await session.execute(_CLAIM, {"now": now, "lease_until": lease_until, "limit": limit})
    return [dict(row._mapping) for row in result]


async def add_attempts(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(cast(Table, Attempt.__table__)), list(rows))


async def update_notification(session: AsyncSession, notification_id: uuid.UUID, **values: Any) -> None:
    """Its next step; the lease is released."""
    await session.execute(
        update(_NOTIFICATIONS).where(_NOTIFICATIONS.c.id == notification_id).values(lease_until=None, **values)
    )
