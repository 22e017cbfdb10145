"""Apply interactions to their customers' profiles, exactly once, and report them downstream.

The consumer runner hands a partition's records of one fetch to `handle_batch`: one
transaction applies them all (`batch.apply_batch`). Single records and the cases the
batch leaves alone (a merge, an identifier race) take `apply`: one transaction per
interaction that resolves (and maybe merges) the customer under a row lock. Either way
the transaction skips event ids applied before, applies the pure state rules, carries
out their effects (evidence, rejections, address invalidation), stores the timeline
entries and event ids and writes the `mc.profiled.v1` records to the outbox. The relay
publishes after the commit, before the consumer commits its offsets. A record
redelivered after a crash at any point therefore changes the profile once, and a
re-publish reuses the record id (derived from the event id), so the router can dedupe.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode, set_span_in_context
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.db import unit_of_work
from metaconnect_common.kafka.consumer import ConsumedRecord, PermanentError
from metaconnect_common.kafka.tracing import extract_context, inject_headers
from metaconnect_common.outbox import enqueue
from metaconnect_common.schemas import NORMALIZED, Interaction
from metaconnect_profile.identity import repository as identities
from metaconnect_profile.identity.keys import CHANNEL_ADDRESS
from metaconnect_profile.identity.service import UnknownCustomer, resolve
from metaconnect_profile.models import OUTBOX, Customer
from metaconnect_profile.personality import estimate
from metaconnect_profile.personality.evidence import Evidence
from metaconnect_profile.personality.views import routing_view
from metaconnect_profile.profiles import repository
from metaconnect_profile.profiles.batch import Item, OneByOne, apply_batch
from metaconnect_profile.profiles.merge import merge_states
from metaconnect_profile.profiles.reporting import evidence_row, refuse_unscorable, rejection_row, report, timeline_row
from metaconnect_profile.profiles.state import (
    STATE_COLUMNS,
    BehaviourSignal,
    DeleteBehaviouralEvidence,
    InvalidateAddress,
    ProfilePolicy,
    ProfileState,
    QuestionnaireSubmitted,
    Reject,
    apply,
    new_state,
    personality_to_column,
    state_from_row,
    state_to_columns,
)

log = logging.getLogger(__name__)
_evidence = TypeAdapter(Evidence)
tracer = trace.get_tracer("metaconnect.profile")


def _state(customer: Customer) -> ProfileState:
    return state_from_row({column: getattr(customer, column) for column in STATE_COLUMNS})


def _interaction(record: ConsumedRecord) -> Interaction:
    try:
        # Ingest (or the delivery service) wrote it: identifiers are normalised already.
        return Interaction.model_validate_json(record.value or b"", context=NORMALIZED)
    except ValidationError as exc:
        raise PermanentError(f"not an Interaction: {exc.error_count()} errors") from None


class ProfileService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], policy: ProfilePolicy) -> None:
        self._sessions = sessions
        self._policy = policy

    async def handle(self, record: ConsumedRecord) -> None:
        """The consumer runner's handler for one record of `mc.interactions.v1`."""
        interaction = _interaction(record)
        try:
            await self.apply_batch([Item(interaction)])
        except OneByOne as exc:
            log.debug("applying %s on its own: %s", interaction.event_id, exc)
            await self.apply(interaction)
        # The consumer runner publishes the outbox once per batch, before committing offsets.

    async def handle_batch(self, records: Sequence[ConsumedRecord]) -> None:
        """The consumer runner's batch handler: a partition's records in one transaction.

        Raises (nothing written) on an undecodable record or a case the batch leaves to
        `apply`; the runner then hands the records to `handle` one by one. Each record's
        `mc.profiled.v1` record stays in the trace of the interaction it reports.
        """
        # One span per record in the trace of the interaction it reports (the runner's batch span
        # only links to them), open while the batch is applied.
        spans = [
            tracer.start_span("profile update", context=extract_context(r.headers), kind=SpanKind.INTERNAL)
            for r in records
        ]
        items = [
            Item(_interaction(r), inject_headers(ctx=set_span_in_context(span)))
            for r, span in zip(records, spans, strict=True)
        ]
        try:
            await self.apply_batch(items)
        except Exception as exc:
            for span in spans:
                span.set_status(StatusCode.ERROR, type(exc).__qualname__)
            raise
        finally:
            for span in spans:
                span.end()

    async def apply_batch(self, items: Sequence[Item], *, now: datetime | None = None) -> int:
        """Apply the items in one transaction; returns how many were new. Raises `OneByOne`."""
        async with unit_of_work(self._sessions) as session:
            return await apply_batch(session, items, now=now or datetime.now(UTC), policy=self._policy)

    async def apply(self, interaction: Interaction, *, now: datetime | None = None) -> bool:
        """Apply `interaction` once; False when its event id was applied before."""
        now = now or datetime.now(UTC)
        async with unit_of_work(self._sessions) as session:
            if await repository.processed(session, interaction.event_id):
                return False
            new_id = uuid.uuid4()
            try:
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
            except UnknownCustomer:
                log.info("skipping %s: it names an unknown customer", interaction.event_id)
                return False
            customer = resolution.customer
            state = _state(customer)
            if resolution.merged:
                state = merge_states(state, [_state(m) for m in resolution.merged], self._policy)
            applied = refuse_unscorable(apply(state, interaction, now=now, policy=self._policy), state)
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
            await repository.add_timeline(session, timeline_row(interaction, customer.id))
            await repository.mark_processed(session, interaction.event_id, customer.id)
            record = report(
                interaction,
                customer_id=customer.id,
                merged_from=[m.id for m in resolution.merged],
                state=applied.state,
                valid=await identities.valid_identifiers(session, customer.id),
                personality=customer.personality,
                now=now,
                policy=self._policy,
            )
            await enqueue(session, OUTBOX, [record])
        return True

    async def _carry_out(
        self, session: AsyncSession, customer: Customer, interaction: Interaction, effect: Any, now: datetime
    ) -> bool:
        """Do what an effect asks; True when the personality evidence changed."""
        match effect:
            case Reject():
                await repository.add_rejection(session, rejection_row(effect, customer.id, interaction, now))
            case DeleteBehaviouralEvidence():
                return await repository.delete_behaviour(session, customer.id) > 0
            case InvalidateAddress(channel=channel, reason=reason):
                kind = CHANNEL_ADDRESS.get(channel)
                if kind:
                    await identities.invalidate(session, customer.id, kind, reason=reason, now=now)
            case BehaviourSignal() | QuestionnaireSubmitted():
                await repository.add_evidence(session, evidence_row(effect, customer.id, interaction.event_id))
                return True
        return False
