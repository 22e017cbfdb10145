"""Apply one interaction to its customer's profile, exactly once, and report it downstream.

One transaction per interaction: skip it if its event id was applied before; resolve
(and maybe merge) the customer under a row lock; apply the pure state rules; carry out
their effects (evidence, rejections, address invalidation); store the timeline entry and
the event id; write the `mc.profiled.v1` record to the outbox. The relay publishes after
the commit, before the consumer commits its offset. A record redelivered after a crash
at any point therefore changes the profile once, and a re-publish reuses the record id
(derived from the event id), so the router can dedupe.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.db import unit_of_work
from metaconnect_common.kafka.consumer import ConsumedRecord, PermanentError
from metaconnect_common.kafka.producer import OutgoingRecord
from metaconnect_common.outbox import enqueue
from metaconnect_common.schemas import Interaction
from metaconnect_common.schemas.profiled import Profiled
from metaconnect_common.topics import PROFILED
from metaconnect_profile.identity import repository as identities
from metaconnect_profile.identity.keys import CHANNEL_ADDRESS, reachable_channels
from metaconnect_profile.identity.service import resolve
from metaconnect_profile.models import OUTBOX, Customer
from metaconnect_profile.personality import AnswerSetError, UnknownInstrumentError, estimate, score_questionnaire
from metaconnect_profile.personality.evidence import Evidence
from metaconnect_profile.personality.views import routing_view
from metaconnect_profile.profiles import repository
from metaconnect_profile.profiles.consent import Problem
from metaconnect_profile.profiles.merge import merge_states
from metaconnect_profile.profiles.state import (
    STATE_COLUMNS,
    Applied,
    BehaviourSignal,
    DeleteBehaviouralEvidence,
    InvalidateAddress,
    ProfilePolicy,
    ProfileState,
    QuestionnaireSubmitted,
    Reject,
    apply,
    new_state,
    personality_from_column,
    personality_to_column,
    state_from_row,
    state_to_columns,
    to_snapshot,
)

# Record ids on mc.profiled.v1 are derived from what they report, so a re-publish keeps them.
PROFILED_NAMESPACE = uuid.UUID("5d0c7a1e-8f0b-4a55-9d8e-6f1f6b0e2a11")
_evidence = TypeAdapter(Evidence)


def profiled_id(event_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(PROFILED_NAMESPACE, str(event_id))


def _state(customer: Customer) -> ProfileState:
    return state_from_row({column: getattr(customer, column) for column in STATE_COLUMNS})


def profiled_record(profiled: Profiled) -> OutgoingRecord:
    return OutgoingRecord(
        topic=PROFILED,
        key=profiled.kafka_key(),
        value=profiled.model_dump_json().encode(),
        headers=[("mc.record_id", str(profiled.id).encode())],
    )


def routable(interaction: Interaction) -> Interaction:
    """The interaction as `mc.profiled.v1` carries it: a questionnaire's answers stay in this service.

    They are raw personality data, emotional stability items included, which routing never sees;
    the snapshot carries the derived colour instead."""
    if interaction.type != "questionnaire.submitted" or "answers" not in interaction.properties:
        return interaction
    kept = {k: v for k, v in interaction.properties.items() if k != "answers"}
    return interaction.model_copy(update={"properties": kept})


def _refuse_unscorable(applied: Applied, before: ProfileState) -> Applied:
    """An answer set that cannot be scored is refused like any invalid interaction (see `state`):
    one `Reject` naming every problem, and the state as it was, active hours included."""
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
        return Applied(state=before, effects=(Reject(problems=problems, instrument=effect.instrument),))
    return applied


class ProfileService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], policy: ProfilePolicy) -> None:
        self._sessions = sessions
        self._policy = policy

    async def handle(self, record: ConsumedRecord) -> None:
        """The consumer runner's handler for `mc.interactions.v1`."""
        try:
            interaction = Interaction.model_validate_json(record.value or b"")
        except ValidationError as exc:
            raise PermanentError(f"not an Interaction: {exc.error_count()} errors") from None
        await self.apply(interaction)
        # The consumer runner publishes the outbox once per batch, before committing offsets.

    async def apply(self, interaction: Interaction, *, now: datetime | None = None) -> bool:
        """Apply `interaction` once; False when its event id was applied before."""
        now = now or datetime.now(UTC)
        async with unit_of_work(self._sessions) as session:
            if await repository.processed(session, interaction.event_id):
                return False
            new_id = uuid.uuid4()
            resolution = await resolve(
                session,
                interaction.customer,
                event_id=interaction.event_id,
                now=now,
                new_customer=Customer(
                    id=new_id,
                    created_at=now,
                    updated_at=now,
                    personality={},
                    **state_to_columns(new_state(new_id, self._policy)),
                ),
            )
            customer = resolution.customer
            state = _state(customer)
            if resolution.merged:
                state = merge_states(state, [_state(m) for m in resolution.merged], self._policy)
            applied = _refuse_unscorable(apply(state, interaction, now=now, policy=self._policy), state)
            personality_changed = bool(resolution.merged)
            for effect in applied.effects:
                personality_changed |= await self._carry_out(session, customer, interaction, effect, now)
            if personality_changed:
                payloads = await repository.evidence_payloads(session, customer.id)
                current = estimate([_evidence.validate_python(p) for p in payloads], now)
                customer.personality = personality_to_column(routing_view(current))
            for column, value in state_to_columns(applied.state).items():
                setattr(customer, column, value)
            customer.updated_at = now
            await repository.add_timeline(session, customer.id, interaction)
            await repository.mark_processed(session, interaction.event_id, customer.id)
            reachable = reachable_channels(await identities.valid_kinds(session, customer.id))
            snapshot = to_snapshot(
                applied.state,
                reachable=reachable,
                personality=personality_from_column(customer.personality),
                now=now,
                policy=self._policy,
            )
            profiled = Profiled(
                id=profiled_id(interaction.event_id),
                customer_id=customer.id,
                merged_from=[m.id for m in resolution.merged],
                interaction=routable(interaction),
                profile=snapshot,
                profiled_at=now,
            )
            await enqueue(session, OUTBOX, [profiled_record(profiled)])
        return True

    async def _carry_out(
        self, session: AsyncSession, customer: Customer, interaction: Interaction, effect: Any, now: datetime
    ) -> bool:
        """Do what an effect asks; True when the personality evidence changed."""
        match effect:
            case Reject(problems=problems, instrument=instrument):
                await repository.add_rejection(
                    session,
                    customer.id,
                    event_id=interaction.event_id,
                    instrument=instrument or interaction.type,
                    problems=[p._asdict() for p in problems],
                    at=now,
                )
            case DeleteBehaviouralEvidence():
                return await repository.delete_behaviour(session, customer.id) > 0
            case InvalidateAddress(channel=channel, reason=reason):
                kind = CHANNEL_ADDRESS.get(channel)
                if kind:
                    await identities.invalidate(session, customer.id, kind, reason=reason, now=now)
            case BehaviourSignal():
                signal = effect.evidence()
                await repository.add_evidence(
                    session,
                    customer.id,
                    event_id=interaction.event_id,
                    kind="behaviour",
                    observed_at=signal.observed_at,
                    payload=signal.model_dump(mode="json"),
                )
                return True
            case QuestionnaireSubmitted(instrument=instrument, answers=answers, observed_at=observed_at):
                result = score_questionnaire(instrument, answers)  # `_refuse_unscorable` let only valid ones through
                await repository.add_evidence(
                    session,
                    customer.id,
                    event_id=interaction.event_id,
                    kind="questionnaire",
                    observed_at=observed_at,
                    payload=result.evidence(observed_at).model_dump(mode="json"),
                    answers=answers,
                )
                return True
        return False
