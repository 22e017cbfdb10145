"""How a customer walks a journey (pure: the caller loads walks and profiles and carries out
what this returns).

A walk rests at a wait (or has ended). Something moves it on: it is entered, its timer falls
due, an awaited event arrives, a goal is reached, or its customer is erased or objects. From
there `run` takes the steps in turn until the next wait or the end, and returns what they
ask for: messages to send (`Send`; the caller decides them as it decides a route's), updates
and notifications to publish, and a history entry per step. A walk never runs more than
`MAX_RUN` steps at once; the spec's checks refuse loops that never wait, so that is a backstop.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Any, Final

from metaconnect_common.conditions import Condition, parse_condition
from metaconnect_common.schemas.profiled import StageChange
from metaconnect_router.decisions.decide import ActiveRoute
from metaconnect_router.journeys.clock import wait_until
from metaconnect_router.journeys.graph import END
from metaconnect_router.journeys.spec import (
    BranchStep,
    EventMatch,
    ExitStep,
    Goal,
    JourneySpec,
    NotifyStep,
    ReEntry,
    SendStep,
    SplitStep,
    UpdateStep,
    WaitStep,
)
from metaconnect_router.models import InstanceStatus
from metaconnect_router.routes.spec import RouteSpec, Trigger, event_type_matches

MAX_RUN: Final = 200
JOURNEY_EVENT: Final = "journey.step"
"""The event type a journey's send steps are decided under when no event triggered them."""


def _parsed(condition: str | None) -> Condition | None:
    return parse_condition(condition) if condition else None


@dataclass(frozen=True)
class CompiledJourney:
    """One version of a journey, its conditions parsed once."""

    name: str
    version: int
    spec: JourneySpec

    @cached_property
    def conditions(self) -> dict[str, Condition | None]:
        """By where they are written: `entry`, `goal:<name>`, `<step>` (a wait), `<step>:<case>`."""
        found: dict[str, Condition | None] = {"entry": _parsed(self.spec.entry.condition)}
        for goal in self.spec.goals:
            found[f"goal:{goal.name}"] = _parsed(goal.condition)
        for step in self.spec.steps:
            if isinstance(step, WaitStep) and step.event is not None:
                found[step.id] = _parsed(step.event.condition)
            elif isinstance(step, BranchStep):
                for index, case in enumerate(step.cases):
                    found[f"{step.id}:{index}"] = _parsed(case.condition)
        return found

    @cached_property
    def routes(self) -> dict[str, ActiveRoute]:
        """A route per send and notify step: what the router's decision code takes."""
        found: dict[str, ActiveRoute] = {}
        for step in self.spec.steps:
            if isinstance(step, SendStep | NotifyStep):
                message = step.message if isinstance(step, SendStep) else step.message()
                spec = RouteSpec(
                    name=self.name,
                    trigger=Trigger(event_types=[JOURNEY_EVENT]),
                    messages=[message],
                    policy=self.spec.policy,
                )
                found[step.id] = ActiveRoute(self.name, self.version, spec, None)
        return found


@dataclass(slots=True, eq=False)
class Walk:
    """A customer's walk through a journey (a `journey_instances` row)."""

    id: uuid.UUID
    journey: str
    version: int
    customer_id: uuid.UUID
    status: InstanceStatus
    step_id: str | None
    due_at: datetime | None
    holdout: bool
    context: dict[str, Any]
    arms: dict[str, Any]
    entered_at: datetime
    updated_at: datetime
    ended_at: datetime | None = None
    end_reason: str | None = None
    new: bool = False

    @property
    def event(self) -> dict[str, Any]:
        """The event its conditions and templates read: the entry's, or the last awaited one's."""
        event: dict[str, Any] = self.context.get("event", {})
        return event

    @property
    def active(self) -> bool:
        return self.status is InstanceStatus.ACTIVE


@dataclass(frozen=True)
class StepRun:
    """A history entry: `step_id` ran (or a pseudo step: `entry`, `goal`, `exit`) with this outcome."""

    walk: Walk
    step_id: str
    kind: str
    outcome: str
    detail: dict[str, Any]
    at: datetime


@dataclass(frozen=True)
class Send:
    """Decide and send (or bundle) this step's message; a notify step's goes to the webhook at once."""

    walk: Walk
    step_id: str
    route: ActiveRoute
    kind: str  # send | notify
    event: dict[str, Any]  # the walk's event when the step ran: the templates' `data`


@dataclass(frozen=True)
class Update:
    """Set traits and/or move the stage: an interaction the profile service applies."""

    walk: Walk
    step_id: str
    traits: dict[str, Any] | None
    stage: str | None


Action = StepRun | Send | Update


@dataclass
class Moves:
    """What moving walks asked for, in order."""

    actions: list[Action] = field(default_factory=list)

    def history(self, walk: Walk, step_id: str, kind: str, outcome: str, at: datetime, **detail: Any) -> None:
        self.actions.append(StepRun(walk, step_id, kind, outcome, detail, at))


# -- entering ------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _type_matches(pattern: str, event_type: str) -> bool:
    return event_type_matches(pattern, event_type)


def type_matches(patterns: Sequence[str], event_type: str) -> bool:
    """Whether any of the glob patterns names this event type."""
    return any(_type_matches(p, event_type) for p in patterns)


def event_matches(
    match: EventMatch | Goal,
    condition: Condition | None,
    event: Mapping[str, Any],
    profile: Mapping[str, Any],
    now: datetime,
) -> bool:
    if not type_matches(match.event_types or (), str(event.get("type"))):
        return False
    return condition is None or condition.evaluate(event, profile, now)


def enters(
    journey: CompiledJourney,
    event: Mapping[str, Any],
    profile: Mapping[str, Any],
    stage_change: StageChange | None,
    now: datetime,
) -> bool:
    """Whether this event (or the stage change it caused) is the journey's entry for the customer."""
    entry = journey.spec.entry
    if entry.stage is not None:
        reached = stage_change is not None and stage_change.to_stage == entry.stage
    else:
        reached = type_matches(entry.event_types or (), str(event.get("type")))
    condition = journey.conditions["entry"]
    return reached and (condition is None or condition.evaluate(event, profile, now))


def may_enter(journey: JourneySpec, last_entered: datetime | None, now: datetime) -> bool:
    """The re-entry rules, for a customer with no active walk who entered last at `last_entered`."""
    if last_entered is None:
        return True
    if journey.re_entry is ReEntry.NEVER:
        return False
    return journey.re_entry_after is None or now - last_entered >= journey.re_entry_after


def in_holdout(journey: str, customer_id: uuid.UUID, share: float) -> bool:
    """The journey's control group: sha256 of (journey, customer) -> [0, 1) < share, so a customer
    who enters again lands in the same group."""
    return share > 0 and _unit(f"metaconnect.journey-holdout.v1:{journey}:{customer_id}") < share


def start(
    journey: CompiledJourney,
    customer_id: uuid.UUID,
    event: Mapping[str, Any],
    profile: Mapping[str, Any],
    now: datetime,
    moves: Moves,
    *,
    walk_id: uuid.UUID | None = None,
    time_zone: str | None = None,
) -> Walk:
    """A new walk, run from the first step."""
    walk = Walk(
        id=walk_id or uuid.uuid4(),
        journey=journey.name,
        version=journey.version,
        customer_id=customer_id,
        status=InstanceStatus.ACTIVE,
        step_id=None,
        due_at=None,
        holdout=in_holdout(journey.name, customer_id, journey.spec.holdout_share),
        context={"event": dict(event)},
        arms={},
        entered_at=now,
        updated_at=now,
        new=True,
    )
    moves.history(walk, "entry", "entry", "holdout" if walk.holdout else "treated", now, event_type=event.get("type"))
    run(journey, walk, journey.spec.steps[0].id, profile, now, moves, time_zone=time_zone)
    return walk


# -- moving on -----------------------------------------------------------------------------------


def on_event(
    journey: CompiledJourney,
    walk: Walk,
    event: Mapping[str, Any],
    profile: Mapping[str, Any],
    stage_change: StageChange | None,
    now: datetime,
    moves: Moves,
    *,
    time_zone: str | None = None,
) -> None:
    """An event of the walk's customer: a goal ends the walk as converted; the awaited event moves it on."""
    for goal in journey.spec.goals:
        if _goal_reached(journey, goal, event, profile, stage_change, now):
            moves.history(walk, goal.name, "goal", "converted", now, event_type=event.get("type"))
            end(walk, InstanceStatus.CONVERTED, goal.name, now)
            return
    step = journey.spec.step(walk.step_id) if walk.step_id else None
    if not isinstance(step, WaitStep) or step.event is None:
        return
    if event_matches(step.event, journey.conditions[step.id], event, profile, now):
        walk.context = {"event": dict(event)}
        moves.history(walk, step.id, "wait", "event", now, event_type=event.get("type"))
        run(journey, walk, journey.spec.after(step.id), profile, now, moves, time_zone=time_zone)


def on_timer(
    journey: CompiledJourney,
    walk: Walk,
    profile: Mapping[str, Any],
    now: datetime,
    moves: Moves,
    *,
    time_zone: str | None = None,
) -> None:
    """The walk's wait fell due: a wait for an event timed out (to `on_timeout`); any other wait is over."""
    step = journey.spec.step(walk.step_id) if walk.step_id else None
    assert isinstance(step, WaitStep)  # only a wait has a timer, in the walk's own version
    late = (now - walk.due_at).total_seconds() if walk.due_at else 0.0
    if step.event is not None:
        moves.history(walk, step.id, "wait", "timeout", now, late_s=round(late, 3))
        run(journey, walk, step.event.on_timeout, profile, now, moves, time_zone=time_zone)
    else:
        moves.history(walk, step.id, "wait", "waited", now, late_s=round(late, 3))
        run(journey, walk, journey.spec.after(step.id), profile, now, moves, time_zone=time_zone)


def end(walk: Walk, status: InstanceStatus, reason: str, now: datetime) -> None:
    """The walk is over. Its event goes with it: an ended walk keeps no personal data, only its history."""
    walk.status, walk.end_reason, walk.ended_at, walk.due_at, walk.updated_at = status, reason, now, None, now
    walk.context = {}


def leave(walk: Walk, reason: str, now: datetime, moves: Moves) -> None:
    """The customer leaves the journey at once (erased, objected, journey deleted)."""
    moves.history(walk, walk.step_id or "entry", "exit", reason, now)
    end(walk, InstanceStatus.EXITED, reason, now)


def run(
    journey: CompiledJourney,
    walk: Walk,
    step_id: str,
    profile: Mapping[str, Any],
    now: datetime,
    moves: Moves,
    *,
    time_zone: str | None = None,
) -> None:
    """Take steps from `step_id` until a wait or the end."""
    walk.due_at, walk.updated_at = None, now
    for _ in range(MAX_RUN):
        if step_id == END:
            moves.history(walk, walk.step_id or "entry", "end", "completed", now)
            end(walk, InstanceStatus.COMPLETED, "completed", now)
            return
        step = journey.spec.step(step_id)
        assert step is not None  # the spec's checks: every target is a step or the end
        walk.step_id = step.id
        if isinstance(step, WaitStep):
            walk.due_at = wait_until(step, now, time_zone or journey.spec.policy.default_time_zone)
            moves.history(walk, step.id, "wait", "waiting", now, until=walk.due_at.isoformat())
            return
        if isinstance(step, ExitStep):
            moves.history(walk, step.id, "exit", step.reason, now)
            end(walk, InstanceStatus.EXITED, step.reason, now)
            return
        if isinstance(step, SendStep | NotifyStep):
            kind = "send" if isinstance(step, SendStep) else "notify"
            if walk.holdout and kind == "send":
                moves.history(walk, step.id, kind, "held_out", now)
            else:
                moves.actions.append(Send(walk, step.id, journey.routes[step.id], kind, dict(walk.event)))
        elif isinstance(step, UpdateStep):
            moves.actions.append(Update(walk, step.id, step.traits, step.stage))
            moves.history(walk, step.id, "update", "published", now, traits=sorted(step.traits or ()), stage=step.stage)
        elif isinstance(step, BranchStep):
            step_id = _branch(journey, step, walk.event, profile, now)
            moves.history(walk, step.id, "branch", step_id, now)
            continue
        elif isinstance(step, SplitStep):
            arm = walk.arms.get(step.id) or draw_arm(walk.id, step)
            walk.arms = {**walk.arms, step.id: arm}
            moves.history(walk, step.id, "split", arm, now)
            step_id = next(a.next for a in step.arms if a.name == arm)
            continue
        step_id = journey.spec.after(step.id)
    moves.history(walk, walk.step_id or "entry", "exit", "too_many_steps", now)
    end(walk, InstanceStatus.EXITED, "too_many_steps", now)


def _branch(
    journey: CompiledJourney, step: BranchStep, event: Mapping[str, Any], profile: Mapping[str, Any], now: datetime
) -> str:
    for index, case in enumerate(step.cases):
        condition = journey.conditions[f"{step.id}:{index}"]
        if condition is not None and condition.evaluate(event, profile, now):
            return case.next
    return step.otherwise or journey.spec.after(step.id)


def _goal_reached(
    journey: CompiledJourney,
    goal: Goal,
    event: Mapping[str, Any],
    profile: Mapping[str, Any],
    stage_change: StageChange | None,
    now: datetime,
) -> bool:
    condition = journey.conditions[f"goal:{goal.name}"]
    if goal.stage is not None:
        reached = stage_change is not None and stage_change.to_stage == goal.stage
    else:
        reached = type_matches(goal.event_types or (), str(event.get("type")))
    return reached and (condition is None or condition.evaluate(event, profile, now))


def draw_arm(walk_id: uuid.UUID, step: SplitStep) -> str:
    """The arm for this walk: sha256 of (walk, step) -> [0, 100) against the arms' cumulative percentages."""
    point = _unit(f"metaconnect.journey-split.v1:{walk_id}:{step.id}") * 100
    total = 0.0
    for arm in step.arms:
        total += arm.percent
        if point < total:
            return arm.name
    return step.arms[-1].name


def _unit(text: str) -> float:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


__all__: Sequence[str] = ["CompiledJourney", "Moves", "Walk", "enters", "on_event", "on_timer", "run", "start"]
