"""One transaction's decisions, and what acting on one does: the decision row, and its item sent
at once (outbox) or put into the customer's open bundle (`Ledger`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from metaconnect_common.schemas import Interaction
from metaconnect_common.schemas.profiled import ProfileSnapshot
from metaconnect_router.bundles.ledger import Ledger
from metaconnect_router.decisions.decide import ActiveRoute, Decision
from metaconnect_router.decisions.items import new_item
from metaconnect_router.decisions.ranking import Arm, Posterior
from metaconnect_router.journeys.catalog import JourneyCatalog
from metaconnect_router.journeys.walking import Walking
from metaconnect_router.routes.spec import Category, Message


@dataclass
class DecisionBatch:
    """One transaction's decisions: the records not decided on before, the erased customers, the
    bundles and sends (ledger); the decision rows and arm counts to write at the end."""

    new: set[uuid.UUID]
    erased: set[uuid.UUID]
    ledger: Ledger
    routes: list[ActiveRoute]
    posteriors: dict[Arm, Posterior]
    decisions: list[dict[str, Any]] = field(default_factory=list)
    arms: dict[Arm, list[float]] = field(default_factory=dict)  # [successes, failures] to add
    outcomes: list[tuple[str, str]] = field(default_factory=list)  # (outcome, first reason) per decision
    walking: Walking = field(default_factory=lambda: Walking(JourneyCatalog()))
    """The journey walks of the batch's customers (`load`ed by whoever makes the batch)."""


def goes_at_once(message: Message) -> bool:
    """Sent at once (transactional, or a system's notification), not bundled."""
    return message.category is Category.TRANSACTIONAL or message.to_system


def record(
    batch: DecisionBatch,
    decision: Decision,
    customer_id: uuid.UUID,
    interaction: Interaction,
    profile: ProfileSnapshot,
    now: datetime,
    traceparent: str | None,
    *,
    journey: tuple[str, str] | None = None,
    collapse_key: str | None = None,
) -> tuple[uuid.UUID, str]:
    """Record the decision (and its item); its id and stored outcome (dropped, sent or bundled).
    `journey` names the journey and step whose send step decided (the decision names no route);
    `collapse_key` is the item's when its message names none (`items.new_item`)."""
    decision_id = uuid.uuid4()
    choice = decision.choice
    row: dict[str, Any] = {
        "id": decision_id,
        "customer_id": customer_id,
        "event_id": interaction.event_id,
        "event_type": interaction.type,
        "outcome": decision.outcome.value,
        "route": choice.route.name if choice and journey is None else None,
        "route_version": choice.route.version if choice else None,
        "message_id": choice.message.id if choice else None,
        "tone": choice.tone.value if choice else None,
        "channel": choice.channels[0].value if choice else None,
        "pattern": decision.pattern,
        "holdout": decision.holdout,
        "explored": choice.explored if choice else False,
        "propensity": choice.propensity if choice else None,
        "bundle_id": None,
        "explanation": decision.explanation,
        "trace_id": traceparent.split("-")[1] if traceparent and traceparent.count("-") == 3 else None,
        "created_at": now,
        "journey": journey[0] if journey else None,
        "journey_step": journey[1] if journey else None,
    }
    batch.decisions.append(row)
    if choice is None:
        return decision_id, row["outcome"]
    item = new_item(decision_id, choice, customer_id, interaction, profile, now, traceparent, collapse_key=collapse_key)
    if goes_at_once(choice.message):
        row["outcome"] = "sent"
        batch.ledger.send_now(item, choice.channels, now, inbox_copy=choice.channel_choice.inbox_copy)
    else:
        row["outcome"] = "bundled"
        row["bundle_id"] = batch.ledger.add(item, choice.route.spec.policy, now).id
    return decision_id, row["outcome"]


def reason_codes(decision: Decision) -> list[str]:
    """The decision's reason codes in candidate order, each once."""
    candidates = decision.explanation.get("candidates", ())
    return list(dict.fromkeys(r for c in candidates for r in c["reasons"]))
