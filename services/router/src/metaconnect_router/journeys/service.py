"""Journeys: versioned like routes (`versioning.VersionedSpecs`), and what their versions do to
the customers walking them.

* A new version takes over the walks waiting at a step id it still has, in the transaction
  that writes it (a wait already begun keeps its time); the others finish on their version.
* A deleted journey ends every walk at once (exited, `journey_deleted`). A paused one takes
  no new customers; those in it walk on.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_router.journeys import repository
from metaconnect_router.journeys.schemas import JOURNEY_ANSWERS, StepRunOut, Waiting, WalkOut
from metaconnect_router.journeys.spec import JourneySpec, WaitStep
from metaconnect_router.models import Journey, JourneyInstance, JourneyStepRun, JourneyVersion
from metaconnect_router.routes.spec import STORED_SPEC
from metaconnect_router.versioning import Kind, VersionedSpecs

JOURNEYS = Kind(label="journey", path="/v1/journeys", head=Journey, version=JourneyVersion, owner="journey")


async def _versions_written(session: AsyncSession, head: Any, version: Any) -> None:
    if version.change == "deleted":
        await repository.end_all(session, head.name, "journey_deleted", datetime.now(UTC))
        return
    spec = JourneySpec.model_validate(version.spec, context=STORED_SPEC)
    await repository.move_waiting(session, head.name, version.version, [s.id for s in spec.steps])


class JourneyService(VersionedSpecs[JourneySpec]):
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, on_change: Callable[[], None] | None = None
    ) -> None:
        super().__init__(sessions, JOURNEYS, JOURNEY_ANSWERS, on_change=on_change, on_write=_versions_written)

    async def walks(self, customer_id: uuid.UUID, *, journey: str | None = None, limit: int = 50) -> list[WalkOut]:
        """The customer's walks (of one journey, or all), newest first, each with its history."""
        query = (
            select(JourneyInstance)
            .where(JourneyInstance.customer_id == customer_id)
            .order_by(JourneyInstance.entered_at.desc(), JourneyInstance.id)
            .limit(limit)
        )
        if journey is not None:
            query = query.where(JourneyInstance.journey == journey)
        async with self._sessions() as session:
            rows = list(await session.scalars(query))
            steps = await session.scalars(
                select(JourneyStepRun)
                .where(JourneyStepRun.instance_id.in_([r.id for r in rows]))
                .order_by(JourneyStepRun.id)
            )
            history: dict[uuid.UUID, list[StepRunOut]] = {}
            for step in steps:
                history.setdefault(step.instance_id, []).append(StepRunOut.model_validate(step, from_attributes=True))
            specs = await repository.specs(session, [(r.journey, r.version) for r in rows])
        return [_walk_out(r, specs.get((r.journey, r.version)), history.get(r.id, [])) for r in rows]


def _walk_out(row: JourneyInstance, spec: dict[str, Any] | None, history: list[StepRunOut]) -> WalkOut:
    return WalkOut(
        id=row.id,
        journey=row.journey,
        version=row.version,
        status=row.status,
        step_id=row.step_id,
        waiting=_waiting(row, spec),
        holdout=row.holdout,
        arms=dict(row.arms),
        entered_at=row.entered_at,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
        history=history,
    )


def _waiting(row: JourneyInstance, spec: dict[str, Any] | None) -> Waiting | None:
    if row.due_at is None or row.step_id is None or spec is None:
        return None
    step = JourneySpec.model_validate(spec, context=STORED_SPEC).step(row.step_id)
    if not isinstance(step, WaitStep):
        return None
    if step.event is not None:
        return Waiting(
            kind="event", until=row.due_at, event_types=list(step.event.event_types), on_timeout=step.event.on_timeout
        )
    return Waiting(kind="duration" if step.duration is not None else "until", until=row.due_at)
