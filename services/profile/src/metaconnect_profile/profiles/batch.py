"""Apply many interactions in one transaction, with a handful of statements for all of them.

The rules of `ProfileService.apply` (one interaction at a time), in three steps:

1. **Read** what the batch touches, once: which event ids were applied before, who owns
   the identifiers, the owners' rows (locked in id order, as `resolve` locks them), their
   valid identifier kinds and, for customers whose personality may change, their evidence.
2. **Decide** in memory, in the partition's order: resolve each reference, `apply` the
   pure rules, carry out the effects on the in-memory customer and build the
   `mc.profiled.v1` record with the profile as it stood after that interaction.
3. **Write** it all back with one statement per table, the outbox included.

What the batch does not do raises `OneByOne` before anything is committed: an interaction
linking two known customers (a merge), an identifier another transaction claimed
meanwhile, an owner erased or merged since its identities were read, an address
invalidated and attached again in one batch. The caller rolls back and applies the
records one by one, where those cases are handled.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from pydantic import TypeAdapter
from sqlalchemy import Table, Uuid, any_, bindparam, delete, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_common.kafka.producer import OutgoingRecord
from metaconnect_common.outbox import enqueue
from metaconnect_common.schemas import Interaction
from metaconnect_profile.identity.keys import CHANNEL_ADDRESS, METACONNECT, identifiers
from metaconnect_profile.models import (
    OUTBOX,
    Base,
    Customer,
    Evidence,
    Identity,
    ProcessedEvent,
    Rejection,
    TimelineEntry,
)
from metaconnect_profile.personality import estimate
from metaconnect_profile.personality.evidence import Evidence as EvidenceModel
from metaconnect_profile.personality.views import routing_view
from metaconnect_profile.profiles.reporting import (
    evidence_row,
    refuse_unscorable,
    rejection_row,
    report,
    timeline_row,
)
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
    personality_to_column,
    state_from_row,
    state_to_columns,
)

_evidence = TypeAdapter(EvidenceModel)
_MUTABLE = (*STATE_COLUMNS, "personality", "updated_at")
_UUIDS = ARRAY(Uuid())
_OWNERS = text(
    f"SELECT i.kind, i.value, i.customer_id FROM {Identity.__table__.schema}.{Identity.__tablename__} i "
    "JOIN unnest(CAST(:kinds AS text[]), CAST(:vals AS text[])) AS u(kind, value) "
    "ON i.kind = u.kind AND i.value = u.value"
)


class OneByOne(Exception):
    """The batch needs the one-at-a-time path (see the module's doc); roll back."""


@dataclass(frozen=True)
class Item:
    """One interaction of the batch, and the trace headers its `mc.profiled.v1` record carries."""

    interaction: Interaction
    trace_headers: Sequence[tuple[str, bytes]] = ()


@dataclass
class _Customer:
    id: uuid.UUID
    state: ProfileState
    personality: dict[str, Any]
    valid: set[tuple[str, str]]  # (kind, value) identifiers that reach the customer
    created_at: datetime | None = None  # set for a customer this batch creates
    evidence: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (kind, payload), oldest first
    invalidated: set[str] = field(default_factory=set)  # identifier kinds invalidated in this batch


@dataclass
class _Writes:
    identities: list[dict[str, Any]] = field(default_factory=list)
    invalidations: list[dict[str, Any]] = field(default_factory=list)
    behaviour_deleted: list[uuid.UUID] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    processed: list[dict[str, Any]] = field(default_factory=list)
    records: list[OutgoingRecord] = field(default_factory=list)


async def apply_batch(session: AsyncSession, items: Sequence[Item], *, now: datetime, policy: ProfilePolicy) -> int:
    """Apply `items` in order inside the caller's transaction; returns how many were not applied before.

    Raises `OneByOne` for what only the one-at-a-time path does; the caller rolls back.
    """
    todo = await _unseen(session, items)
    if not todo:
        return 0
    writes = _Writes()
    owners, attached, created = await _resolve(session, todo, writes, now)
    customers = await _load(session, owners, created, now, policy)
    steps: list[tuple[Item, _Customer, set[tuple[str, str]], Applied]] = []
    for item, owner, kinds in zip(todo, owners, attached, strict=True):
        customer = customers[owner]
        applied = refuse_unscorable(apply(customer.state, item.interaction, now=now, policy=policy), customer.state)
        customer.state = applied.state
        steps.append((item, customer, kinds, applied))
    await _load_evidence(session, {c.id: c for _, c, _, a in steps if _evidence_effects(a)})
    for item, customer, kinds, applied in steps:
        _carry_out(writes, item, customer, kinds, applied, now=now, policy=policy)
    await _write(session, writes, customers.values(), now)
    return len(todo)


async def _unseen(session: AsyncSession, items: Sequence[Item]) -> list[Item]:
    """The items whose event ids were neither applied before nor seen earlier in the batch."""
    ids = [i.interaction.event_id for i in items]
    seen = set(await session.scalars(select(ProcessedEvent.event_id).where(ProcessedEvent.event_id == any_(_ids(ids)))))
    out = []
    for item in items:
        if item.interaction.event_id not in seen:
            seen.add(item.interaction.event_id)
            out.append(item)
    return out


async def _resolve(
    session: AsyncSession, todo: Sequence[Item], writes: _Writes, now: datetime
) -> tuple[list[uuid.UUID], list[set[tuple[str, str]]], set[uuid.UUID]]:
    """Each item's customer (the one owner of its identifiers, or a new customer) and the
    (kind, value) identifiers it attaches; the ids of the new customers."""
    wanted = {i for item in todo for i in identifiers(item.interaction.customer)}
    rows = await session.execute(_OWNERS, {"kinds": [k for k, _ in wanted], "vals": [v for _, v in wanted]})
    owner_of: dict[tuple[str, str], uuid.UUID] = {(r.kind, r.value): r.customer_id for r in rows}
    out: list[uuid.UUID] = []
    attached: list[set[tuple[str, str]]] = []
    created: set[uuid.UUID] = set()
    for item in todo:
        ids = identifiers(item.interaction.customer)
        owners = {owner_of[i] for i in ids if i in owner_of}
        if len(owners) > 1:
            raise OneByOne("an interaction links two customers")
        # A Metaconnect id is the customer's own: it is resolved, never attached to anyone.
        attachable = [i for i in ids if i[0] != METACONNECT]
        if owners:
            owner = owners.pop()
        elif not attachable:
            raise OneByOne("a reference names only an unknown Metaconnect id")
        else:
            owner = uuid.uuid4()
            created.add(owner)
            attachable.append((METACONNECT, str(owner)))
        kinds: set[tuple[str, str]] = set()
        for kind, value in attachable:
            if (kind, value) not in owner_of:
                owner_of[(kind, value)] = owner
                kinds.add((kind, value))
                writes.identities.append({"kind": kind, "value": value, "customer_id": owner, "created_at": now})
        out.append(owner)
        attached.append(kinds)
    return out, attached, created


async def _load(
    session: AsyncSession, owners: Sequence[uuid.UUID], created: set[uuid.UUID], now: datetime, policy: ProfilePolicy
) -> dict[uuid.UUID, _Customer]:
    """The customers: existing ones locked in id order, new ones in their first state."""
    known = sorted(set(owners) - created)
    rows = (
        await session.execute(
            select(Customer.id, *(getattr(Customer, c) for c in STATE_COLUMNS), Customer.personality)
            .where(Customer.id == any_(_ids(known)), Customer.erased_at.is_(None), Customer.merged_into.is_(None))
            .order_by(Customer.id)
            .with_for_update()
        )
    ).all()
    valid: dict[uuid.UUID, set[tuple[str, str]]] = {}
    for customer_id, kind, value in await session.execute(
        select(Identity.customer_id, Identity.kind, Identity.value).where(
            Identity.customer_id == any_(_ids(known)), Identity.invalid_at.is_(None)
        )
    ):
        valid.setdefault(customer_id, set()).add((kind, value))
    customers = {
        row.id: _Customer(
            id=row.id,
            state=state_from_row(dict(row._mapping)),
            personality=row.personality or {},
            valid=valid.get(row.id, set()),
        )
        for row in rows
    }
    if len(customers) < len(known):
        raise OneByOne("an owner was erased or merged meanwhile")
    for owner in created:
        customers[owner] = _Customer(
            id=owner, state=new_state(owner, policy), personality={}, valid=set(), created_at=now
        )
    return customers


def _evidence_effects(applied: Applied) -> bool:
    return any(
        isinstance(e, BehaviourSignal | QuestionnaireSubmitted | DeleteBehaviouralEvidence) for e in applied.effects
    )


async def _load_evidence(session: AsyncSession, customers: dict[uuid.UUID, _Customer]) -> None:
    if not customers:
        return
    rows = await session.execute(
        select(Evidence.customer_id, Evidence.kind, Evidence.payload)
        .where(Evidence.customer_id == any_(_ids(list(customers))))
        .order_by(Evidence.id)
    )
    for customer_id, kind, payload in rows:
        customers[customer_id].evidence.append((kind, payload))


def _carry_out(
    writes: _Writes,
    item: Item,
    customer: _Customer,
    attached: set[tuple[str, str]],
    applied: Applied,
    *,
    now: datetime,
    policy: ProfilePolicy,
) -> None:
    """One interaction's effects on the in-memory customer and the rows to write, in order."""
    interaction = item.interaction
    if {kind for kind, _ in attached} & customer.invalidated:
        # The invalidation is written after the identities, so it would wrongly hit this one.
        raise OneByOne("an address was invalidated and attached again in one batch")
    customer.valid |= attached
    personality_changed = False
    for effect in applied.effects:
        match effect:
            case Reject():
                writes.rejections.append(rejection_row(effect, customer.id, interaction, now))
            case DeleteBehaviouralEvidence():
                before = len(customer.evidence)
                customer.evidence = [(k, p) for k, p in customer.evidence if k != "behaviour"]
                writes.evidence = [
                    r for r in writes.evidence if not (r["customer_id"] == customer.id and r["kind"] == "behaviour")
                ]
                writes.behaviour_deleted.append(customer.id)
                personality_changed |= len(customer.evidence) < before
            case InvalidateAddress(channel=channel, reason=reason):
                kind = CHANNEL_ADDRESS.get(channel)
                if kind:
                    customer.invalidated.add(kind)
                    customer.valid = {(k, v) for k, v in customer.valid if k != kind}
                    writes.invalidations.append(
                        {"b_customer": customer.id, "b_kind": kind, "b_reason": reason, "b_at": now}
                    )
            case BehaviourSignal() | QuestionnaireSubmitted():
                row = evidence_row(effect, customer.id, interaction.event_id)
                writes.evidence.append(row)
                customer.evidence.append((row["kind"], row["payload"]))
                personality_changed = True
    if personality_changed:
        current = estimate([_evidence.validate_python(p) for _, p in customer.evidence], now)
        customer.personality = personality_to_column(routing_view(current))
    writes.timeline.append(timeline_row(interaction, customer.id))
    writes.processed.append({"event_id": interaction.event_id, "customer_id": customer.id, "processed_at": now})
    writes.records.append(
        report(
            interaction,
            customer_id=customer.id,
            merged_from=(),
            state=applied.state,
            valid=customer.valid,
            personality=customer.personality,
            now=now,
            policy=policy,
            trace_headers=item.trace_headers,
        )
    )


async def _write(session: AsyncSession, writes: _Writes, customers: Iterable[_Customer], now: datetime) -> None:
    created, changed = [], []
    for customer in customers:
        columns = {**state_to_columns(customer.state), "personality": customer.personality, "updated_at": now}
        if customer.created_at is not None:
            created.append({"id": customer.id, "created_at": customer.created_at, **columns})
        else:
            changed.append({"b_id": customer.id, **{f"b_{k}": v for k, v in columns.items()}})
    # Core statements on the tables: the ORM's bulk paths cost more than the database here.
    if created:
        await session.execute(insert(_table(Customer)), created)
    if changed:
        customers_table = _table(Customer)
        await session.execute(
            update(customers_table)
            .where(customers_table.c.id == bindparam("b_id"))
            .values({column: bindparam(f"b_{column}") for column in _MUTABLE}),
            changed,
        )
    if writes.identities:
        identities_table = _table(Identity)
        claimed = await session.execute(
            pg_insert(identities_table).on_conflict_do_nothing().returning(identities_table.c.kind),
            writes.identities,
        )
        if len(claimed.all()) < len(writes.identities):
            raise OneByOne("another transaction claimed an identifier")
    if writes.invalidations:
        table = _table(Identity)
        await session.execute(
            update(table)
            .where(
                table.c.customer_id == bindparam("b_customer"),
                table.c.kind == bindparam("b_kind"),
                table.c.invalid_at.is_(None),
            )
            .values(invalid_at=bindparam("b_at"), invalid_reason=bindparam("b_reason")),
            writes.invalidations,
        )
    if writes.behaviour_deleted:
        await session.execute(
            delete(Evidence).where(
                Evidence.customer_id == any_(_ids(writes.behaviour_deleted)), Evidence.kind == "behaviour"
            )
        )
    for model, rows in ((Evidence, writes.evidence), (Rejection, writes.rejections), (TimelineEntry, writes.timeline)):
        if rows:
            await session.execute(pg_insert(_table(model)).on_conflict_do_nothing(), rows)
    await session.execute(insert(_table(ProcessedEvent)), writes.processed)
    await enqueue(session, OUTBOX, writes.records)


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


def _ids(ids: Sequence[uuid.UUID]) -> Any:
    return bindparam(None, list(ids), type_=_UUIDS)
