"""All SQL of journey walks (`journey_instances`) and their history (`journey_steps`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_router.journeys.engine import StepRun, Walk
from metaconnect_router.models import InstanceStatus, JourneyInstance, JourneyStepRun, JourneyVersion

INSTANCES: Table = JourneyInstance.__table__  # type: ignore[assignment]
STEPS: Table = JourneyStepRun.__table__  # type: ignore[assignment]
_ACTIVE = InstanceStatus.ACTIVE.value


def walk_of(row: JourneyInstance) -> Walk:
    return Walk(
        id=row.id,
        journey=row.journey,
        version=row.version,
        customer_id=row.customer_id,
        status=InstanceStatus(row.status),
        step_id=row.step_id,
        due_at=row.due_at,
        holdout=row.holdout,
        context=row.context,
        arms=row.arms,
        entered_at=row.entered_at,
        updated_at=row.updated_at,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
    )


def _row(walk: Walk) -> dict[str, Any]:
    return {
        "id": walk.id,
        "journey": walk.journey,
        "version": walk.version,
        "customer_id": walk.customer_id,
        "status": walk.status.value,
        "step_id": walk.step_id,
        "due_at": walk.due_at,
        "holdout": walk.holdout,
        "context": walk.context,
        "arms": walk.arms,
        "entered_at": walk.entered_at,
        "updated_at": walk.updated_at,
        "ended_at": walk.ended_at,
        "end_reason": walk.end_reason,
        "failures": 0,  # written after a move: it moved, so no failure in a row
    }


async def lock_active(session: AsyncSession, customers: Sequence[uuid.UUID]) -> list[Walk]:
    """The customers' active walks, locked (in id order, so two transactions never wait on each other in a circle)."""
    if not customers:
        return []
    rows = await session.scalars(
        select(JourneyInstance)
        .where(JourneyInstance.customer_id.in_(customers), JourneyInstance.status == _ACTIVE)
        .order_by(JourneyInstance.id)
        .with_for_update()
    )
    return [walk_of(r) for r in rows]


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> list[Walk]:
    """Walks whose wait is due, that no other transaction holds (any number of router replicas)."""
    rows = await session.scalars(
        select(JourneyInstance)
        .where(JourneyInstance.status == _ACTIVE, JourneyInstance.due_at <= now)
        .order_by(JourneyInstance.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [walk_of(r) for r in rows]


async def claim_walk(session: AsyncSession, walk_id: uuid.UUID, now: datetime) -> list[Walk]:
    """The walk if it is due and free (locked now), else nothing."""
    rows = await session.scalars(
        select(JourneyInstance)
        .where(JourneyInstance.id == walk_id, JourneyInstance.status == _ACTIVE, JourneyInstance.due_at <= now)
        .with_for_update(skip_locked=True)
    )
    return [walk_of(r) for r in rows]


MAX_FAILURES = 5
"""A walk that failed to move on this many times in a row leaves its journey (`failed`)."""


def retry_after(failures: int) -> timedelta:
    """How long a walk that failed to move waits before the next try: 30 s, doubling, at most an hour."""
    wait: timedelta = timedelta(seconds=30) * 2 ** max(0, failures - 1)
    return min(wait, timedelta(hours=1))


async def postpone(session: AsyncSession, walk_id: uuid.UUID, error: str, now: datetime) -> bool:
    """A walk that failed to move: tried again after `retry_after`, or, after `MAX_FAILURES`
    failures, out of its journey (exited, `failed`, with the error's type in its history).
    True when it gave up on the walk."""
    row = await session.scalar(select(JourneyInstance).where(JourneyInstance.id == walk_id).with_for_update())
    if row is None or row.status != _ACTIVE:
        return False
    row.failures += 1
    row.updated_at = now
    gave_up = row.failures >= MAX_FAILURES
    if gave_up:
        row.status, row.end_reason, row.ended_at, row.due_at, row.context = (
            InstanceStatus.EXITED.value,
            "failed",
            now,
            None,
            {},
        )
    else:
        row.due_at = now + retry_after(row.failures)
    session.add(
        JourneyStepRun(
            instance_id=row.id,
            journey=row.journey,
            version=row.version,
            step_id=row.step_id or "entry",
            kind="exit" if gave_up else "wait",
            outcome="failed" if gave_up else "retry",
            detail={"error": error, "failures": row.failures},
            at=now,
        )
    )
    return gave_up


async def next_due(session: AsyncSession, *, after: datetime | None = None) -> datetime | None:
    """The earliest due time of a waiting walk (of those due at or after `after`)."""
    query = select(func.min(JourneyInstance.due_at)).where(JourneyInstance.status == _ACTIVE)
    if after is not None:
        query = query.where(JourneyInstance.due_at >= after)
    due: datetime | None = await session.scalar(query)
    return due


async def last_entered(session: AsyncSession, journey: str, customer_id: uuid.UUID) -> datetime | None:
    entered: datetime | None = await session.scalar(
        select(func.max(JourneyInstance.entered_at)).where(
            JourneyInstance.journey == journey, JourneyInstance.customer_id == customer_id
        )
    )
    return entered


async def specs(session: AsyncSession, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], dict[str, Any]]:
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    rows = await session.execute(
        select(JourneyVersion.journey, JourneyVersion.version, JourneyVersion.spec).where(
            tuple_(JourneyVersion.journey, JourneyVersion.version).in_(wanted)
        )
    )
    return {(name, version): spec for name, version, spec in rows.all()}


async def write(session: AsyncSession, walks: Iterable[Walk], steps: Sequence[StepRun]) -> None:
    """The walks as they are now (new ones inserted, the others updated) and the history entries."""
    rows = [_row(w) for w in walks]
    if rows:
        # One statement for any number of walks, compiled once (executemany): a VALUES list of
        # every walk's columns was compiled anew for each batch, most of a timer round's CPU.
        statement = insert(INSTANCES)
        changing = {c: statement.excluded[c] for c in rows[0] if c not in ("id", "entered_at")}
        await session.execute(statement.on_conflict_do_update(index_elements=["id"], set_=changing), rows)
    if steps:
        await session.execute(
            insert(STEPS),
            [
                {
                    "instance_id": s.walk.id,
                    "journey": s.walk.journey,
                    "version": s.walk.version,
                    "step_id": s.step_id,
                    "kind": s.kind,
                    "outcome": s.outcome,
                    "detail": s.detail,
                    "at": s.at,
                }
                for s in steps
            ],
        )


async def move_waiting(session: AsyncSession, journey: str, version: int, step_ids: Sequence[str]) -> int:
    """A new version takes over the walks waiting at a step it still has; how many moved."""
    result = await session.execute(
        update(JourneyInstance)
        .where(
            JourneyInstance.journey == journey,
            JourneyInstance.status == _ACTIVE,
            JourneyInstance.version != version,
            JourneyInstance.step_id.in_(step_ids),
        )
        .values(version=version)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def end_all(session: AsyncSession, journey: str, reason: str, now: datetime) -> int:
    """Every active walk of the journey ends (exited, with `reason`, in its history); how many."""
    ended = (
        await session.execute(
            update(JourneyInstance)
            .where(JourneyInstance.journey == journey, JourneyInstance.status == _ACTIVE)
            .values(
                status=InstanceStatus.EXITED.value,
                end_reason=reason,
                ended_at=now,
                updated_at=now,
                due_at=None,
                context={},
            )
            .returning(JourneyInstance.id, JourneyInstance.version, JourneyInstance.step_id)
        )
    ).all()
    if ended:
        await session.execute(
            insert(STEPS),
            [
                {
                    "instance_id": walk_id,
                    "journey": journey,
                    "version": version,
                    "step_id": step_id or "entry",
                    "kind": "exit",
                    "outcome": reason,
                    "detail": {},
                    "at": now,
                }
                for walk_id, version, step_id in ended
            ],
        )
    return len(ended)
