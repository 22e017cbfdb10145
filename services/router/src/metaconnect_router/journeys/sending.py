"""What walking a journey asks of the router, carried out in the caller's transaction.

A send (or notify) step is decided with the router's own decision code, as a route that wants
this customer now: eligibility (consent, reachability, caps, quiet hours), ranking of its tone
variants, channel choice; then it is sent at once or put into the customer's open meta-connect
bundle beside the routes' items (`decisions.acting.record`). Its history entry says which.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from metaconnect_common.schemas import Channel, CustomerRef, Interaction
from metaconnect_common.schemas.profiled import ProfileSnapshot
from metaconnect_router.decisions.acting import DecisionBatch, reason_codes, record
from metaconnect_router.decisions.decide import choose
from metaconnect_router.decisions.eligibility import SendHistory
from metaconnect_router.decisions.ranking import TonePrior
from metaconnect_router.journeys.engine import JOURNEY_EVENT, Action, Send, StepRun, Update
from metaconnect_router.journeys.walking import SOURCE_PREFIX, Walking


@dataclass(frozen=True)
class JourneySender:
    rng: np.random.Generator
    tone_prior: TonePrior

    def carry_out(
        self,
        batch: DecisionBatch,
        walking: Walking,
        actions: Sequence[Action],
        profile: ProfileSnapshot,
        now: datetime,
        traceparent: str | None = None,
    ) -> None:
        """The actions in order: history kept, updates published, sends decided and acted on."""
        for action in actions:
            if isinstance(action, StepRun):
                walking.keep(action)
            elif isinstance(action, Update):
                walking.publish(action, now)
            else:
                walking.keep(self.send(batch, action, profile, now, traceparent))

    def send(
        self, batch: DecisionBatch, send: Send, profile: ProfileSnapshot, now: datetime, traceparent: str | None
    ) -> StepRun:
        walk = send.walk
        event = step_event(send, now)
        decision = choose(
            [send.route],
            event,
            profile,
            walk.customer_id,
            posteriors=batch.posteriors,
            history=SendHistory(sent_at=batch.ledger.sent.get(walk.customer_id, {})),
            now=now,
            rng=self.rng,
            erased=walk.customer_id in batch.erased,
            tone_prior=self.tone_prior,
            explained={"journey": {"name": walk.journey, "version": walk.version, "step": send.step_id}},
        )
        decision_id, outcome = record(
            batch,
            decision,
            walk.customer_id,
            event,
            profile,
            now,
            traceparent,
            journey=(walk.journey, send.step_id),
            collapse_key=walk_key(walk.id, send.route.spec.messages[0].id),
        )
        reasons = reason_codes(decision)
        batch.outcomes.append((outcome, reasons[0] if reasons else "none"))
        choice = decision.choice
        detail: dict[str, object] = {"decision_id": str(decision_id), "reasons": reasons}
        if choice is not None:
            detail |= {"tone": choice.tone.value, "channel": choice.channels[0].value}
        return StepRun(walk, send.step_id, send.kind, outcome, detail, now)


def walk_key(walk_id: uuid.UUID, message_id: str) -> str:
    """What a journey's message without a collapse key collapses by: its walk and message. A
    route's items collapse by route and message (the newer of two alike wins); a journey's only
    within their walk, so two walks' messages (two construction milestones, each a walk of its
    own) both arrive, side by side in one bundle."""
    return f"walk:{walk_id}/{message_id}"


def step_event(send: Send, now: datetime) -> Interaction:
    """The event a send step is decided under: its walk's event's properties (the templates' `data`), now."""
    walk = send.walk
    return Interaction(
        event_id=uuid.uuid5(walk.id, f"{send.step_id}:{now.isoformat()}"),
        customer=CustomerRef(metaconnect_id=walk.customer_id),
        type=JOURNEY_EVENT,
        channel=Channel.WEB,
        occurred_at=now,
        received_at=now,
        source=f"{SOURCE_PREFIX}{walk.journey}",
        properties=send.event.get("properties") or {},
    )
