"""A journey's report: who entered, where they are, what each step did, how many converted, by
split arm and treated against the journey's holdout.

The unit is the walk: the walks that entered in the window. Conversion is a goal reached; its
interval is Wilson's. Treated against holdout is the same Newcombe interval the uplift report
uses (`reports.stats.compare`), with one stratum: the journey. Per step, `reached` counts the
walks that ran the step (once each, however often), and `resting` the active walks waiting
there now, whenever they entered.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_router.journeys.spec import JourneySpec, SplitStep
from metaconnect_router.models import InstanceStatus, JourneyInstance, JourneyStepRun
from metaconnect_router.reports.stats import Cohorts, compare, rate, wilson_interval, z_score

CONFIDENCE = 0.95


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Share(_Out):
    walks: int
    of: int
    rate: float | None = Field(description="walks / of; null when `of` is 0.")
    low: float | None = Field(description="The 95% Wilson interval's low end.")
    high: float | None


class StepRow(_Out):
    step_id: str
    kind: str
    reached: int = Field(description="Walks that entered in the window and ran this step.")
    resting: int = Field(description="Active walks waiting at this step now.")
    outcomes: dict[str, int] = Field(description="What came of it, per walk (sent, bundled, dropped, timeout, ...).")


class ArmRow(_Out):
    step_id: str
    arm: str
    converted: Share


class HoldoutRow(_Out):
    treated: Share
    holdout: Share
    uplift: float | None = Field(description="treated - holdout conversion; null unless both have walks.")
    relative_lift: float | None
    low: float | None = Field(description="The uplift's 95% interval (Newcombe's hybrid score).")
    high: float | None


class JourneyReport(_Out):
    journey: str
    since: datetime
    until: datetime
    entered: int
    active: int
    completed: int
    exited: int
    converted: Share = Field(description="Walks that reached a goal, of those that entered.")
    goals: dict[str, int] = Field(description="Conversions per goal.")
    exits: dict[str, int] = Field(description="Walks that ended without a goal, per reason (completed is one).")
    steps: list[StepRow] = Field(description="In the current version's order; steps of older versions after.")
    arms: list[ArmRow] = Field(description="Per split step and arm: the walks drawn into it and their conversion.")
    holdout: HoldoutRow


@dataclass(frozen=True)
class WalkCount:
    status: str
    end_reason: str | None
    holdout: bool
    arms: dict[str, Any]
    walks: int


def share(walks: int, of: int) -> Share:
    if of == 0:
        return Share(walks=walks, of=of, rate=None, low=None, high=None)
    low, high = wilson_interval(np.array([walks]), np.array([of]), z_score(CONFIDENCE))
    return Share(walks=walks, of=of, rate=rate(walks, of), low=float(low[0]), high=float(high[0]))


def assemble(
    name: str,
    spec: JourneySpec | None,
    since: datetime,
    until: datetime,
    walks: Sequence[WalkCount],
    steps: Sequence[tuple[str, str, str, int]],
    reached: Sequence[tuple[str, str, int]],
    resting: dict[str, int],
) -> JourneyReport:
    """The report from counted rows (pure): walks by (status, end reason, holdout, arms); distinct
    walks per step run (step, kind, outcome) and per step (step, kind); active walks per resting step."""
    entered = sum(w.walks for w in walks)
    by_status: Counter[str] = Counter()
    goals: Counter[str] = Counter()
    exits: Counter[str] = Counter()
    cohorts = {True: [0, 0], False: [0, 0]}  # holdout -> [converted, walks]
    arms: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for w in walks:
        by_status[w.status] += w.walks
        converted = w.status == InstanceStatus.CONVERTED.value
        if converted:
            goals[w.end_reason or "?"] += w.walks
        elif w.status != InstanceStatus.ACTIVE.value:
            exits[w.end_reason or "?"] += w.walks
        cohorts[w.holdout][0] += w.walks if converted else 0
        cohorts[w.holdout][1] += w.walks
        for step_id, arm in w.arms.items():
            counts = arms[(step_id, str(arm))]
            counts[0] += w.walks if converted else 0
            counts[1] += w.walks
    ordered = _step_rows(spec, steps, reached, resting)
    treated, held = cohorts[False], cohorts[True]
    comparison = compare([Cohorts(treated[0], treated[1], held[0], held[1])], confidence=CONFIDENCE)
    return JourneyReport(
        journey=name,
        since=since,
        until=until,
        entered=entered,
        active=by_status[InstanceStatus.ACTIVE.value],
        completed=by_status[InstanceStatus.COMPLETED.value],
        exited=by_status[InstanceStatus.EXITED.value],
        converted=share(by_status[InstanceStatus.CONVERTED.value], entered),
        goals=dict(goals),
        exits=dict(exits),
        steps=ordered,
        arms=[
            ArmRow(step_id=step_id, arm=arm, converted=share(c, n))
            for (step_id, arm), (c, n) in sorted(arms.items(), key=lambda kv: _split_order(spec, kv[0]))
        ],
        holdout=HoldoutRow(
            treated=share(*treated),
            holdout=share(*held),
            uplift=comparison.uplift,
            relative_lift=comparison.relative_lift,
            low=comparison.interval[0] if comparison.interval else None,
            high=comparison.interval[1] if comparison.interval else None,
        ),
    )


def _step_rows(
    spec: JourneySpec | None,
    steps: Sequence[tuple[str, str, str, int]],
    reached: Sequence[tuple[str, str, int]],
    resting: dict[str, int],
) -> list[StepRow]:
    """A row per step: the current version's in order, then older versions' steps. A run counts for
    its step when it is the step's own kind: a goal, the end or leaving, recorded where the walk
    was, are the walk's, not the step's (`goals`, `exits`)."""
    kinds = {s.id: s.type for s in spec.steps} if spec else {}
    own = {(step_id, kind) for step_id, kind, _ in reached if kinds.get(step_id, kind) == kind}
    own = {(step_id, kind) for step_id, kind in own if kind not in _WALK_KINDS}
    rows = {
        step_id: StepRow(step_id=step_id, kind=kind, reached=0, resting=resting.get(step_id, 0), outcomes={})
        for step_id, kind in [*kinds.items(), *sorted(own)]
    }
    for step_id, kind, count in reached:
        if (step_id, kind) in own:
            rows[step_id] = rows[step_id].model_copy(update={"reached": count})
    for step_id, kind, outcome, count in steps:
        if (step_id, kind) in own:
            row = rows[step_id]
            rows[step_id] = row.model_copy(update={"outcomes": {**row.outcomes, outcome: count}})
    return list(rows.values())


_WALK_KINDS = frozenset({"entry", "goal", "end"})


def _step_ids(spec: JourneySpec | None) -> list[str]:
    return [s.id for s in spec.steps] if spec else []


def _split_order(spec: JourneySpec | None, key: tuple[str, str]) -> tuple[int, int, str]:
    step_id, arm = key
    step = spec.step(step_id) if spec else None
    ids = _step_ids(spec)
    if isinstance(step, SplitStep):
        names = [a.name for a in step.arms]
        return ids.index(step_id), names.index(arm) if arm in names else len(names), arm
    return len(ids), 0, f"{step_id}/{arm}"


async def counts(
    session: AsyncSession, journey: str, since: datetime, until: datetime
) -> tuple[list[WalkCount], list[tuple[str, str, str, int]], list[tuple[str, str, int]], dict[str, int]]:
    """The rows `assemble` reads, in four statements."""
    entered = and_(
        JourneyInstance.journey == journey, JourneyInstance.entered_at >= since, JourneyInstance.entered_at < until
    )
    walks = await session.execute(
        select(
            JourneyInstance.status,
            JourneyInstance.end_reason,
            JourneyInstance.holdout,
            JourneyInstance.arms,
            func.count(),
        )
        .where(entered)
        .group_by(JourneyInstance.status, JourneyInstance.end_reason, JourneyInstance.holdout, JourneyInstance.arms)
    )
    runs = await session.execute(
        select(
            JourneyStepRun.step_id,
            JourneyStepRun.kind,
            JourneyStepRun.outcome,
            func.count(func.distinct(JourneyStepRun.instance_id)),
        )
        .join(JourneyInstance, JourneyInstance.id == JourneyStepRun.instance_id)
        .where(entered)
        .group_by(JourneyStepRun.step_id, JourneyStepRun.kind, JourneyStepRun.outcome)
    )
    reached = await session.execute(
        select(JourneyStepRun.step_id, JourneyStepRun.kind, func.count(func.distinct(JourneyStepRun.instance_id)))
        .join(JourneyInstance, JourneyInstance.id == JourneyStepRun.instance_id)
        .where(entered)
        .group_by(JourneyStepRun.step_id, JourneyStepRun.kind)
    )
    resting = await session.execute(
        select(JourneyInstance.step_id, func.count())
        .where(JourneyInstance.journey == journey, JourneyInstance.status == InstanceStatus.ACTIVE.value)
        .group_by(JourneyInstance.step_id)
    )
    return (
        [WalkCount(s, r, h, a, n) for s, r, h, a, n in walks.all()],
        [(s, k, o, n) for s, k, o, n in runs.all()],
        [(s, k, n) for s, k, n in reached.all()],
        {s: n for s, n in resting.all() if s is not None},
    )
