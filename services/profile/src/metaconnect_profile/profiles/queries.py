"""The read side of profiles: every SQL query of the read API and the answers built from it.

A customer is found by id or by identifier; a merged customer's id names its survivor
(`merged_into` always points at the final survivor: merging re-points earlier merges),
and an erased customer is not found. Listings use keyset pagination, newest first.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from pydantic import TypeAdapter
from sqlalchemy import ColumnElement, and_, exists, func, not_, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_common.schemas import Channel
from metaconnect_common.schemas.profiled import Colour as RoutingColour
from metaconnect_common.schemas.profiled import PersonalitySnapshot, Purpose
from metaconnect_profile.identity.keys import CHANNEL_ADDRESS, reachable_channels
from metaconnect_profile.models import Customer, Evidence, Identity, Rejection, StageChangeRow, TimelineEntry
from metaconnect_profile.personality import estimate, explain, routing_view
from metaconnect_profile.personality.colour import UNKNOWN as UNKNOWN_PATTERN
from metaconnect_profile.personality.evidence import Evidence as EvidenceRecord
from metaconnect_profile.profiles.consent import PROFILING, effective_channel_consent
from metaconnect_profile.profiles.documents import STATE_COLUMNS, personality_from_column, state_from_row, to_snapshot
from metaconnect_profile.profiles.refs import CustomerLookup, ProfileId, encode_cursor, mask
from metaconnect_profile.profiles.reporting import without_answers
from metaconnect_profile.profiles.schemas import (
    MAX_REFUSED_QUESTIONNAIRES,
    ConsentOut,
    IdentifierOut,
    PersonalityOut,
    ProfileOut,
    ProfilePage,
    ProfileSummary,
    Reachability,
    RefusedQuestionnaire,
    RoutingPersonality,
    StageChangeOut,
    TimelineItem,
    TimelinePage,
)
from metaconnect_profile.profiles.state import QUESTIONNAIRE_SUBMITTED, ProfilePolicy, ProfileState

MAX_MERGE_HOPS: Final = 16  # merges flatten chains; this only guards against a corrupt loop
_evidence = TypeAdapter(EvidenceRecord)


# --- finding a customer ----------------------------------------------------------------------------------------


async def find_customer(session: AsyncSession, lookup: CustomerLookup, *, lock: bool = False) -> Customer | None:
    """The live customer `lookup` names (a merged one's survivor); None when unknown or erased.

    With `lock`, every row read is locked for update and re-read, so a merge or erasure
    committed meanwhile is seen."""
    if isinstance(lookup, ProfileId):
        customer_id: uuid.UUID | None = lookup.id
    else:
        customer_id = await session.scalar(
            select(Identity.customer_id).where(Identity.kind == lookup.kind, Identity.value == lookup.value)
        )
    customer = None
    for _ in range(MAX_MERGE_HOPS):
        if customer_id is None:
            return None
        query = select(Customer).where(Customer.id == customer_id)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        customer = await session.scalar(query)
        if customer is None or customer.merged_into is None:
            break
        customer_id = customer.merged_into
    if customer is None or customer.merged_into is not None or customer.erased_at is not None:
        return None
    return customer


async def merged_into(session: AsyncSession, customer_id: uuid.UUID, *, lock: bool = False) -> list[Customer]:
    """The customers merged into `customer_id`, in id order (locked in that order with `lock`)."""
    query = select(Customer).where(Customer.merged_into == customer_id).order_by(Customer.id)
    if lock:
        query = query.with_for_update()
    return list(await session.scalars(query))


def _state(customer: Customer) -> ProfileState:
    return state_from_row({column: getattr(customer, column) for column in STATE_COLUMNS})


async def _identities(session: AsyncSession, customer_id: uuid.UUID) -> list[Identity]:
    query = select(Identity).where(Identity.customer_id == customer_id).order_by(Identity.kind, Identity.value)
    return list(await session.scalars(query))


def _routing(
    state: ProfileState, document: dict[str, Any], *, policy: ProfilePolicy, now: datetime
) -> RoutingPersonality:
    """The personality as `mc.profiled.v1` carries it for a cached routing view (unknown without consent)."""
    snapshot = to_snapshot(state, reachable=[], personality=personality_from_column(document), now=now, policy=policy)
    return _routing_of(snapshot.personality, document)


def _routing_of(personality: PersonalitySnapshot, document: dict[str, Any]) -> RoutingPersonality:
    known = personality.colour is not RoutingColour.UNKNOWN
    as_of = datetime.fromisoformat(document["as_of"]) if known and document.get("as_of") else None
    return RoutingPersonality(
        colour=personality.colour,
        secondary=personality.secondary,
        pattern=personality.pattern or UNKNOWN_PATTERN,
        probability=personality.probability,
        as_of=as_of,
    )


# --- GET /v1/profiles/{ref} ------------------------------------------------------------------------------------


async def profile(session: AsyncSession, customer: Customer, *, policy: ProfilePolicy, now: datetime) -> ProfileOut:
    """The profile as operators read it: identifiers masked, counts decayed to `now`."""
    identities = await _identities(session, customer.id)
    merged = await merged_into(session, customer.id)
    state = _state(customer)
    valid_kinds = {i.kind for i in identities if i.invalid_at is None}
    reachable = reachable_channels(valid_kinds, state.app_seen_at, now=now, presence=policy.in_app_presence)
    snapshot = to_snapshot(
        state,
        reachable=reachable,
        personality=personality_from_column(customer.personality),
        now=now,
        policy=policy,
    )
    return ProfileOut(
        id=customer.id,
        lifecycle_stage=state.lifecycle_stage,
        stage_entered_at=state.stage_entered_at,
        locale=state.locale,
        time_zone=state.time_zone,
        consent=ConsentOut(
            purposes=dict(state.consent.purposes),
            channels=effective_channel_consent(state.consent),
            objection=state.consent.objection,
        ),
        reachability=Reachability(
            channels=reachable,
            identifiers=[
                IdentifierOut(
                    kind=i.kind,
                    value=mask(i.kind, i.value),
                    valid=i.invalid_at is None,
                    since=i.created_at,
                    invalid_at=i.invalid_at,
                )
                for i in identities
            ],
        ),
        engagement=snapshot.engagement,
        active_hours=snapshot.active_hours,
        personality=_routing_of(snapshot.personality, customer.personality),
        holdout=state.holdout,
        traits=dict(state.traits),
        created_at=customer.created_at,
        updated_at=customer.updated_at,
        merged_from=[m.id for m in merged],
        refused_questionnaires=await refused_questionnaires(session, customer.id),
    )


async def refused_questionnaires(
    session: AsyncSession, customer_id: uuid.UUID, *, limit: int = MAX_REFUSED_QUESTIONNAIRES
) -> list[RefusedQuestionnaire]:
    """The customer's newest refused questionnaires: the rules they broke, never their answers.

    The `rejections` row is the refusal (the export shows the same rows); its timeline entry
    says it was a questionnaire and when it was submitted. Problem messages and fields stay
    out: they can quote answers or answer keys."""
    rows = await session.execute(
        select(
            Rejection.event_id,
            Rejection.instrument,
            Rejection.problems,
            Rejection.rejected_at,
            TimelineEntry.occurred_at,
        )
        .join(TimelineEntry, TimelineEntry.event_id == Rejection.event_id)
        .where(Rejection.customer_id == customer_id, TimelineEntry.type == QUESTIONNAIRE_SUBMITTED)
        .order_by(Rejection.rejected_at.desc(), TimelineEntry.occurred_at.desc(), Rejection.event_id.desc())
        .limit(limit)
    )
    return [
        RefusedQuestionnaire(
            event_id=r.event_id,
            # `rejection_row` stores the event type when the submission named no instrument.
            instrument=None if r.instrument == QUESTIONNAIRE_SUBMITTED else r.instrument,
            rules=list(dict.fromkeys(p["rule"] for p in r.problems)),
            submitted_at=r.occurred_at,
            refused_at=r.rejected_at,
        )
        for r in rows
    ]


# --- GET /v1/profiles/{ref}/personality ------------------------------------------------------------------------


async def personality(
    session: AsyncSession, customer: Customer, *, policy: ProfilePolicy, now: datetime
) -> PersonalityOut:
    """The estimate recomputed from the stored evidence as of `now`, explained."""
    rows = (
        await session.execute(
            select(Evidence.kind, Evidence.payload).where(Evidence.customer_id == customer.id).order_by(Evidence.id)
        )
    ).all()
    current = estimate([_evidence.validate_python(r.payload) for r in rows], now)
    counts = Counter(r.kind for r in rows)
    state = _state(customer)
    return PersonalityOut(
        customer_id=customer.id,
        explanation=explain(current),
        routing=_routing(state, routing_view(current).model_dump(mode="json"), policy=policy, now=now),
        profiling_consent={p: s for p, s in state.consent.purposes.items() if p in PROFILING},
        evidence_counts={kind: counts.get(kind, 0) for kind in ("questionnaire", "behaviour")},
        last_changed_at=current.evidence.last_changed_at,
    )


# --- GET /v1/profiles/{ref}/timeline ---------------------------------------------------------------------------


def timeline_item(entry: TimelineEntry, *, answers: bool = False) -> TimelineItem:
    """A timeline entry as the API shows it; a questionnaire's raw answers only with `answers`
    (the admin export, the data subject's copy): viewers never read them."""
    return TimelineItem(
        event_id=entry.event_id,
        occurred_at=entry.occurred_at,
        received_at=entry.received_at,
        type=entry.type,
        channel=Channel(entry.channel),
        source=entry.source,
        properties=entry.properties if answers else without_answers(entry.type, entry.properties),
    )


async def timeline(
    session: AsyncSession, customer_id: uuid.UUID, *, limit: int, before: tuple[datetime, uuid.UUID] | None
) -> TimelinePage:
    """One page of the customer's interactions, newest first, strictly before `before`."""
    query = (
        select(TimelineEntry)
        .where(TimelineEntry.customer_id == customer_id)
        .order_by(TimelineEntry.occurred_at.desc(), TimelineEntry.event_id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        query = query.where(tuple_(TimelineEntry.occurred_at, TimelineEntry.event_id) < tuple_(*before))
    entries = list(await session.scalars(query))
    page, more = entries[:limit], len(entries) > limit
    last = page[-1] if page else None
    return TimelinePage(
        items=[timeline_item(e) for e in page],
        next_before=encode_cursor(last.occurred_at, last.event_id) if more and last else None,
    )


# --- GET /v1/profiles ------------------------------------------------------------------------------------------


def _granted(purpose: Purpose) -> ColumnElement[bool]:
    return Customer.consent.contains({"purposes": {purpose.value: {"granted": True}}})


def _colour_is(colour: RoutingColour) -> ColumnElement[bool]:
    """The colour routing sees: the cached view's colour, unknown without any profiling consent."""
    stored = func.coalesce(Customer.personality.op("->>")("colour"), RoutingColour.UNKNOWN.value)
    profiling = or_(*(_granted(p) for p in PROFILING))
    if colour is RoutingColour.UNKNOWN:
        return or_(stored == RoutingColour.UNKNOWN.value, not_(profiling))
    return and_(stored == colour.value, profiling)


def _reachable_on(kind: str) -> ColumnElement[bool]:
    """A valid identifier of `kind` (see `CHANNEL_ADDRESS`)."""
    return exists().where(Identity.customer_id == Customer.id, Identity.kind == kind, Identity.invalid_at.is_(None))


async def search(
    session: AsyncSession,
    *,
    policy: ProfilePolicy,
    now: datetime,
    stage: str | None,
    colour: RoutingColour | None,
    consent: Purpose | None,
    channel: Channel | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> ProfilePage:
    """Live customers (not merged, not erased) matching every filter given, newest first."""
    query = (
        select(Customer)
        .where(Customer.merged_into.is_(None), Customer.erased_at.is_(None))
        .order_by(Customer.created_at.desc(), Customer.id.desc())
        .limit(limit + 1)
    )
    if stage is not None:
        query = query.where(Customer.lifecycle_stage == stage)
    if colour is not None:
        query = query.where(_colour_is(colour))
    if consent is not None:
        query = query.where(_granted(consent))
    if channel is Channel.IN_APP:  # the app installed, or used lately (`reachable_channels`)
        query = query.where(or_(_reachable_on("device"), Customer.app_seen_at >= now - policy.in_app_presence))
    elif channel is not None and channel in CHANNEL_ADDRESS:
        query = query.where(_reachable_on(CHANNEL_ADDRESS[channel]))
    if after is not None:
        query = query.where(tuple_(Customer.created_at, Customer.id) < tuple_(*after))
    customers = list(await session.scalars(query))
    page, more = customers[:limit], len(customers) > limit
    kinds: defaultdict[uuid.UUID, set[str]] = defaultdict(set)
    if page:
        rows = await session.execute(
            select(Identity.customer_id, Identity.kind)
            .where(Identity.customer_id.in_([c.id for c in page]), Identity.invalid_at.is_(None))
            .distinct()
        )
        for row in rows:
            kinds[row.customer_id].add(row.kind)
    items = []
    for c in page:
        reachable = reachable_channels(kinds[c.id], c.app_seen_at, now=now, presence=policy.in_app_presence)
        items.append(
            ProfileSummary(
                id=c.id,
                lifecycle_stage=c.lifecycle_stage,
                locale=c.locale,
                time_zone=c.time_zone,
                colour=_routing(_state(c), c.personality, policy=policy, now=now).colour,
                reachable=reachable,
                holdout=c.holdout,
                created_at=c.created_at,
                updated_at=c.updated_at,
            )
        )
    last = page[-1] if page else None
    return ProfilePage(items=items, next_cursor=encode_cursor(last.created_at, last.id) if more and last else None)


async def stage_history(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[StageChangeOut]:
    """The customers' stage changes, oldest first, each with the time spent in the stage it left."""
    rows = await session.scalars(
        select(StageChangeRow)
        .where(StageChangeRow.customer_id.in_(list(ids)))
        .order_by(StageChangeRow.changed_at, StageChangeRow.id)
    )
    out: list[StageChangeOut] = []
    previous: datetime | None = None
    for row in rows:
        out.append(
            StageChangeOut(
                from_stage=row.from_stage,
                to_stage=row.to_stage,
                changed_at=row.changed_at,
                event_type=row.event_type,
                lifecycle_version=row.lifecycle_version,
                time_in_previous_s=(row.changed_at - previous).total_seconds() if previous is not None else None,
            )
        )
        previous = row.changed_at
    return out
