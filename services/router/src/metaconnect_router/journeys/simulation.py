"""A journey walked on paper (pure): the path a customer with this profile would take, each send
decided by the live decision code, its waits compressed, nothing sent or stored.

The clock starts at the entry event and jumps: to the next scripted event when one comes before
the walk's wait is due, else to the due time. A walk still waiting after `horizon` stops there.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np

from metaconnect_common.schemas import Interaction
from metaconnect_common.schemas.profiled import ProfileSnapshot, StageChange
from metaconnect_router.decisions.acting import goes_at_once
from metaconnect_router.decisions.decide import choose
from metaconnect_router.decisions.eligibility import SendHistory
from metaconnect_router.decisions.ranking import Arm, Posterior, TonePrior
from metaconnect_router.journeys import engine
from metaconnect_router.journeys.engine import CompiledJourney, Moves, Send, StepRun, Update
from metaconnect_router.journeys.sending import step_event
from metaconnect_router.journeys.walking import event_document

MAX_EVENTS: Final = 50
DEFAULT_HORIZON: Final = timedelta(days=366)


@dataclass(frozen=True)
class ScriptedEvent:
    """An event the simulated customer sends `after` entering (and the stage it moves them to, if any)."""

    after: timedelta
    event: Interaction
    stage_change: StageChange | None = None


@dataclass(frozen=True)
class SimulatedStep:
    at: datetime
    step_id: str
    kind: str
    outcome: str
    detail: dict[str, Any]


def simulate_walk(
    journey: CompiledJourney,
    profile: ProfileSnapshot,
    customer_id: uuid.UUID,
    entry: Interaction,
    script: Sequence[ScriptedEvent],
    *,
    posteriors: Mapping[Arm, Posterior],
    rng: np.random.Generator,
    tone_prior: TonePrior,
    horizon: timedelta = DEFAULT_HORIZON,
) -> tuple[list[SimulatedStep], engine.Walk]:
    """The steps the walk takes, in order, and the walk as it ends (or waits at the horizon)."""
    start = entry.occurred_at
    profile_doc = profile.model_dump(mode="json")
    zone = profile.time_zone
    steps: list[SimulatedStep] = []
    moves = Moves()
    walk = engine.start(journey, customer_id, event_document(entry), profile_doc, start, moves, time_zone=zone)
    steps += _carried_out(moves, profile, customer_id, start, posteriors, rng, tone_prior)
    pending = sorted(script, key=lambda s: s.after)
    while walk.active and walk.due_at is not None:
        moves = Moves()
        if pending and start + pending[0].after < walk.due_at:
            scripted = pending.pop(0)
            clock = start + scripted.after
            event = event_document(scripted.event) | {"occurred_at": clock.isoformat()}
            engine.on_event(journey, walk, event, profile_doc, scripted.stage_change, clock, moves, time_zone=zone)
        else:
            clock = walk.due_at
            if clock - start > horizon:
                break
            engine.on_timer(journey, walk, profile_doc, clock, moves, time_zone=zone)
        steps += _carried_out(moves, profile, customer_id, clock, posteriors, rng, tone_prior)
    return steps, walk


def _carried_out(
    moves: Moves,
    profile: ProfileSnapshot,
    customer_id: uuid.UUID,
    now: datetime,
    posteriors: Mapping[Arm, Posterior],
    rng: np.random.Generator,
    tone_prior: TonePrior,
) -> list[SimulatedStep]:
    out: list[SimulatedStep] = []
    for action in moves.actions:
        if isinstance(action, StepRun):
            out.append(SimulatedStep(action.at, action.step_id, action.kind, action.outcome, action.detail))
        elif isinstance(action, Update):
            continue  # its history entry follows it
        else:
            out.append(_decided(action, profile, customer_id, now, posteriors, rng, tone_prior))
    return out


def _decided(
    send: Send,
    profile: ProfileSnapshot,
    customer_id: uuid.UUID,
    now: datetime,
    posteriors: Mapping[Arm, Posterior],
    rng: np.random.Generator,
    tone_prior: TonePrior,
) -> SimulatedStep:
    """The decision the live code would make for this step now (no send history: caps and open
    bundles do not count, as in a route's simulation)."""
    walk = send.walk
    decision = choose(
        [send.route],
        step_event(send, now),
        profile,
        customer_id,
        posteriors=posteriors,
        history=SendHistory(sent_at={}),
        now=now,
        rng=rng,
        tone_prior=tone_prior,
        explained={"journey": {"name": walk.journey, "version": walk.version, "step": send.step_id}},
    )
    choice = decision.choice
    outcome = "dropped" if choice is None else "sent" if goes_at_once(choice.message) else "bundled"
    detail: dict[str, Any] = {"explanation": decision.explanation}
    if choice is not None:
        detail |= {"tone": choice.tone.value, "channels": [c.value for c in choice.channels]}
    return SimulatedStep(now, send.step_id, send.kind, outcome, detail)
