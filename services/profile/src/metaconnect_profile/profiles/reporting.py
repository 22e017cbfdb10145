"""The rows and records an applied interaction leaves (pure): evidence, rejection and timeline
rows, the refusal of unscorable answer sets, and its `mc.profiled.v1` record."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from metaconnect_common.kafka.producer import OutgoingRecord
from metaconnect_common.schemas import Interaction
from metaconnect_common.schemas.profiled import Profiled, StageChange
from metaconnect_common.topics import PROFILED
from metaconnect_profile.identity.keys import contact_of, identity_refs, reachable_channels
from metaconnect_profile.personality import AnswerSetError, UnknownInstrumentError, score_questionnaire
from metaconnect_profile.profiles.consent import Problem
from metaconnect_profile.profiles.documents import personality_from_column, to_snapshot
from metaconnect_profile.profiles.state import (
    QUESTIONNAIRE_SUBMITTED,
    Applied,
    BehaviourSignal,
    ProfilePolicy,
    ProfileState,
    QuestionnaireSubmitted,
    Reject,
    StageEntered,
)

# Record ids on mc.profiled.v1 are derived from what they report, so a re-publish keeps them.
PROFILED_NAMESPACE = uuid.UUID("5d0c7a1e-8f0b-4a55-9d8e-6f1f6b0e2a11")


def profiled_id(event_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(PROFILED_NAMESPACE, str(event_id))


def profiled_record(profiled: Profiled, trace_headers: Sequence[tuple[str, bytes]] = ()) -> OutgoingRecord:
    """The record; `trace_headers` (a consumed record's `traceparent`) keep it in that trace."""
    return OutgoingRecord(
        topic=PROFILED,
        key=profiled.kafka_key(),
        value=profiled.model_dump_json().encode(),
        headers=[("mc.record_id", str(profiled.id).encode()), *trace_headers],
    )


def routable(interaction: Interaction) -> Interaction:
    """The interaction as `mc.profiled.v1` carries it: a questionnaire's answers stay in this service.

    They are raw personality data, emotional stability items included, which routing never sees;
    the snapshot carries the derived colour instead."""
    kept = without_answers(interaction.type, interaction.properties)
    return interaction if kept is interaction.properties else interaction.model_copy(update={"properties": kept})


def without_answers(event_type: str, properties: dict[str, Any]) -> dict[str, Any]:
    """An interaction's properties as they may be shown outside the export: a questionnaire's raw
    answers (emotional stability items included) are left out; anything else is `properties` itself."""
    if event_type != QUESTIONNAIRE_SUBMITTED or "answers" not in properties:
        return properties
    return {k: v for k, v in properties.items() if k != "answers"}


def refuse_unscorable(applied: Applied, before: ProfileState) -> Applied:
    """An answer set that cannot be scored is refused like any invalid interaction (see `state`):
    one `Reject` naming every problem, and the state as it was, active hours included (a new
    customer's entry into its first stage kept)."""
    for effect in applied.effects:
        if not isinstance(effect, QuestionnaireSubmitted):
            continue
        try:
            score_questionnaire(effect.instrument, effect.answers)
        except AnswerSetError as exc:
            problems = tuple(Problem(*p) for p in exc.problems)
        except UnknownInstrumentError as exc:
            problems = (Problem("properties.instrument", "unknown_instrument", str(exc)),)
        else:
            continue
        first = [e for e in applied.effects if isinstance(e, StageEntered) and e.from_stage is None]
        kept = before.model_copy(update={"stage_entered_at": first[0].at}) if first else before
        return Applied(state=kept, effects=(*first, Reject(problems=problems, instrument=effect.instrument)))
    return applied


def evidence_row(
    effect: BehaviourSignal | QuestionnaireSubmitted, customer_id: uuid.UUID, event_id: uuid.UUID
) -> dict[str, Any]:
    """The `personality_evidence` row an evidence effect stores."""
    if isinstance(effect, BehaviourSignal):
        signal = effect.evidence()
        return {
            "customer_id": customer_id,
            "event_id": event_id,
            "kind": "behaviour",
            "observed_at": signal.observed_at,
            "payload": signal.model_dump(mode="json"),
            "answers": None,
        }
    result = score_questionnaire(effect.instrument, effect.answers)  # `refuse_unscorable` let only valid ones through
    return {
        "customer_id": customer_id,
        "event_id": event_id,
        "kind": "questionnaire",
        "observed_at": effect.observed_at,
        "payload": result.evidence(effect.observed_at).model_dump(mode="json"),
        "answers": {"answers": effect.answers},
    }


def rejection_row(effect: Reject, customer_id: uuid.UUID, interaction: Interaction, now: datetime) -> dict[str, Any]:
    return {
        "event_id": interaction.event_id,
        "customer_id": customer_id,
        "instrument": effect.instrument or interaction.type,
        "problems": [p._asdict() for p in effect.problems],
        "rejected_at": now,
    }


def timeline_row(interaction: Interaction, customer_id: uuid.UUID) -> dict[str, Any]:
    return {
        "event_id": interaction.event_id,
        "customer_id": customer_id,
        "occurred_at": interaction.occurred_at,
        "received_at": interaction.received_at,
        "type": interaction.type,
        "channel": interaction.channel.value,
        "source": interaction.source,
        "properties": interaction.properties,
    }


def report(
    interaction: Interaction,
    *,
    customer_id: uuid.UUID,
    merged_from: Sequence[uuid.UUID],
    state: ProfileState,
    valid: Collection[tuple[str, str]],
    personality: dict[str, Any],
    now: datetime,
    policy: ProfilePolicy,
    trace_headers: Sequence[tuple[str, bytes]] = (),
    stage_change: StageChange | None = None,
) -> OutgoingRecord:
    """The `mc.profiled.v1` record of an applied interaction: the profile as it stands after it."""
    snapshot = to_snapshot(
        state,
        reachable=reachable_channels(
            {kind for kind, _ in valid}, state.app_seen_at, now=now, presence=policy.in_app_presence
        ),
        contact=contact_of(valid),
        identities=identity_refs(customer_id, valid),
        personality=personality_from_column(personality),
        now=now,
        policy=policy,
    )
    profiled = Profiled(
        id=profiled_id(interaction.event_id),
        customer_id=customer_id,
        merged_from=list(merged_from),
        interaction=routable(interaction),
        profile=snapshot,
        stage_change=stage_change,
        profiled_at=now,
    )
    return profiled_record(profiled, trace_headers)


def stage_change_of(effects: Sequence[Any]) -> StageChange | None:
    """What the interaction did to the stage, as `mc.profiled.v1` carries it: from the stage it
    left (None for a new customer's first) to the one it ended in."""
    entered = [e for e in effects if isinstance(e, StageEntered)]
    if not entered:
        return None
    first, last = entered[0], entered[-1]
    return StageChange(
        from_stage=first.from_stage,
        to_stage=last.to_stage,
        backward=first.from_stage is not None and last.backward,
    )


def stage_change_row(
    effect: StageEntered, customer_id: uuid.UUID, interaction: Interaction, now: datetime
) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "from_stage": effect.from_stage,
        "to_stage": effect.to_stage,
        "lifecycle_version": effect.lifecycle_version,
        "event_id": interaction.event_id,
        "event_type": interaction.type[:128],
        "changed_at": effect.at,
        "recorded_at": now,
    }
