"""All SQL of the digest: its settings and their audit trail, and the claim of each period's send."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_console.digest.cadence import Cadence, Period
from metaconnect_console.digest.form import DigestConfig
from metaconnect_console.models import DigestChange, DigestSend, DigestSettings

SETTINGS_ID = 1
_SENDS = cast(Table, DigestSend.__table__)


async def config(db: AsyncSession) -> tuple[DigestConfig, DigestSettings | None]:
    """The settings (the defaults, off, until an admin saves them) and their row."""
    row = await db.get(DigestSettings, SETTINGS_ID)
    if row is None:
        return DigestConfig(), None
    cadence = Cadence(weekday=row.weekday, at=row.send_time, zone=row.time_zone)
    return DigestConfig(row.enabled, tuple(row.recipients), row.webhook, cadence), row


async def save(db: AsyncSession, new: DigestConfig, *, by: str, now: datetime) -> None:
    """The settings replaced, and the change in the audit trail."""
    values: dict[str, Any] = {
        "enabled": new.enabled,
        "recipients": list(new.recipients),
        "webhook": new.webhook,
        "weekday": new.cadence.weekday,
        "send_time": new.cadence.at,
        "time_zone": new.cadence.zone,
        "updated_by": by,
        "updated_at": now,
    }
    statement = insert(DigestSettings).values(id=SETTINGS_ID, **values)
    await db.execute(statement.on_conflict_do_update(index_elements=[DigestSettings.id], set_=values))
    db.add(DigestChange(changed_by=by, changed_at=now, settings=new.document()))


async def changes(db: AsyncSession, *, before: int | None, limit: int) -> Sequence[DigestChange]:
    """Newest first; `before`: the id of the last change of the page before."""
    statement = select(DigestChange).order_by(DigestChange.id.desc()).limit(limit)
    if before is not None:
        statement = statement.where(DigestChange.id < before)
    return (await db.scalars(statement)).all()


async def sends(db: AsyncSession, *, limit: int) -> Sequence[DigestSend]:
    return (await db.scalars(select(DigestSend).order_by(DigestSend.period_end.desc()).limit(limit))).all()


async def claim(
    db: AsyncSession, period: Period, *, holder: str, now: datetime, lease_until: datetime
) -> DigestSend | None:
    """The period's send for `holder`, or None when another holds it or it went out.

    One row per period (its end is the key): the first insert wins; a concurrent insert waits for
    it and then finds the row. A claim whose holder did not finish by `claimed_until` is taken over
    (the retry asks the delivery service for the same notification ids)."""
    new = insert(DigestSend).values(
        period_end=period.until,
        period_start=period.since,
        claimed_by=holder,
        claimed_until=lease_until,
        attempts=1,
        notifications=[],
    )
    statement = new.on_conflict_do_update(
        index_elements=[DigestSend.period_end],
        set_={"claimed_by": holder, "claimed_until": lease_until, "attempts": DigestSend.attempts + 1},
        where=(DigestSend.sent_at.is_(None)) & (DigestSend.claimed_until < now),
    ).returning(DigestSend)
    result = await db.scalars(statement, execution_options={"populate_existing": True})
    claimed: DigestSend | None = result.one_or_none()
    return claimed


async def finish(
    db: AsyncSession, period: Period, *, holder: str, now: datetime, notifications: Sequence[str], error: str | None
) -> None:
    """Sent (`error` None), or given up for now: the claim runs out at `claimed_until` and is retried."""
    values: dict[str, Any] = {"notifications": list(notifications), "error": error[:500] if error else None}
    if error is None:
        values["sent_at"] = now
    await db.execute(
        update(_SENDS).where(_SENDS.c.period_end == period.until, _SENDS.c.claimed_by == holder).values(**values)
    )
