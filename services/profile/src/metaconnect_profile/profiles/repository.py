"""All SQL that changes profiles: what applying interactions reads and writes, and erasure.

Applying a batch reads what it touches once (event ids applied before, the owners of its
identifiers, their rows locked in id order, their evidence) and writes its `Changes` back
with one statement per table. The read API's SQL is in `queries`.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import (
    BigInteger,
    Table,
    Text,
    Uuid,
    and_,
    any_,
    bindparam,
    delete,
    func,
    insert,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_common.outbox import enqueue
from metaconnect_common.topics import CUSTOMERS
from metaconnect_profile.identity.resolution import Identifier, IdentityConflict
from metaconnect_profile.models import (
    OUTBOX,
    Base,
    Customer,
    Evidence,
    Identity,
    Merge,
    ProcessedEvent,
    Rejection,
    StageChangeRow,
    TimelineEntry,
)
from metaconnect_profile.profiles.batch import Changes, EvidenceEntry, Profile
from metaconnect_profile.profiles.documents import STATE_COLUMNS, state_from_row

_UUIDS: Final = ARRAY(Uuid())
_TEXTS: Final = ARRAY(Text())
# What applying interactions changes in a customers row.
_MUTABLE: Final = (*STATE_COLUMNS, "personality", "merged_into", "updated_at")
# The tables whose rows belong to a customer, moved to the survivor by a merge, deleted by an erasure.
_OWNED: Final = (Identity, TimelineEntry, Evidence, Rejection, StageChangeRow)


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


def _ids(ids: Collection[uuid.UUID]) -> Any:
    return bindparam(None, list(ids), type_=_UUIDS)


# The statements applying a batch runs, built once: at small batches (a record or two per
# transaction) building a statement and its cache key costs more than PostgreSQL's work on it.
# Core statements on the tables (the ORM's result processing is not needed for plain rows);
# a batch's rows go in as parameters (`= ANY(:ids)`, `unnest`, executemany), so the SQL, its
# compiled form and its prepared statement are the same whatever the batch size.
_customers, _identities, _processed = _table(Customer), _table(Identity), _table(ProcessedEvent)
_evidence_rows = _table(Evidence)
_wanted = (
    func.unnest(bindparam("kinds", type_=_TEXTS), bindparam("values", type_=_TEXTS))
    .table_valued("kind", "value")
    .render_derived(name="wanted")
)
# Two lock-free reads in one round trip, as (kind, value, id) rows: an event id applied before
# comes without kind and value, an identifier with its owner.
_APPLIED_AND_OWNERS: Final = union_all(
    select(null().cast(Text).label("kind"), null().cast(Text).label("value"), _processed.c.event_id.label("id")).where(
        _processed.c.event_id == any_(bindparam("event_ids", type_=_UUIDS))
    ),
    select(_identities.c.kind, _identities.c.value, _identities.c.customer_id).join(
        _wanted, and_(_identities.c.kind == _wanted.c.kind, _identities.c.value == _wanted.c.value)
    ),
)
_LOCK_PROFILES: Final = (
    select(
        _customers.c.id,
        _customers.c.created_at,
        *(_customers.c[column] for column in STATE_COLUMNS),
        _customers.c.personality,
    )
    .where(
        _customers.c.id == any_(bindparam("ids", type_=_UUIDS)),
        _customers.c.erased_at.is_(None),
        _customers.c.merged_into.is_(None),
    )
    .order_by(_customers.c.id)
    .with_for_update()
)
_IDENTITIES_OF: Final = select(
    _identities.c.customer_id, _identities.c.kind, _identities.c.value, _identities.c.invalid_at
).where(_identities.c.customer_id == any_(bindparam("ids", type_=_UUIDS)))
_EVIDENCE_OF: Final = (
    select(_evidence_rows.c.customer_id, _evidence_rows.c.id, _evidence_rows.c.kind, _evidence_rows.c.payload)
    .where(_evidence_rows.c.customer_id == any_(bindparam("ids", type_=_UUIDS)))
    .order_by(_evidence_rows.c.id)
)
_INSERT_CUSTOMERS: Final = insert(_customers)
_UPDATE_CUSTOMERS: Final = (
    update(_customers)
    .where(_customers.c.id == bindparam("b_id"))
    .values({column: bindparam(f"b_{column}") for column in _MUTABLE})
)
_CLAIM_IDENTITIES: Final = pg_insert(_identities).on_conflict_do_nothing().returning(_identities.c.kind)
_INVALIDATE: Final = (
    update(_identities)
    .where(
        _identities.c.kind == bindparam("b_kind"),
        _identities.c.value == bindparam("b_value"),
        _identities.c.invalid_at.is_(None),
    )
    .values(invalid_at=bindparam("b_at"), invalid_reason=bindparam("b_reason"))
)
_DELETE_EVIDENCE: Final = delete(_evidence_rows).where(
    _evidence_rows.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger())))
)
_INSERT_OWNED: Final = {
    model: pg_insert(_table(model)).on_conflict_do_nothing() for model in (Evidence, Rejection, TimelineEntry)
}
_INSERT_MERGES: Final = insert(_table(Merge))
_INSERT_STAGE_CHANGES: Final = insert(_table(StageChangeRow))
# A plain insert: a concurrent duplicate fails the transaction, and its retry sees the row.
_INSERT_PROCESSED: Final = insert(_processed)


# --- reading what a batch touches ------------------------------------------------------------------------------


async def applied_and_owners(
    session: AsyncSession, event_ids: Sequence[uuid.UUID], identifiers: Collection[Identifier]
) -> tuple[set[uuid.UUID], dict[Identifier, uuid.UUID]]:
    """Which of the event ids were applied before, and the customer owning each of the identifiers that has one."""
    applied: set[uuid.UUID] = set()
    owner_of: dict[Identifier, uuid.UUID] = {}
    parameters = {
        "event_ids": list(event_ids),
        "kinds": [k for k, _ in identifiers],
        "values": [v for _, v in identifiers],
    }
    for kind, value, row_id in await session.execute(_APPLIED_AND_OWNERS, parameters):
        if kind is None:
            applied.add(row_id)
        else:
            owner_of[(kind, value)] = row_id
    return applied, owner_of


async def lock_profiles(session: AsyncSession, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Profile]:
    """The customers' profiles, their rows locked in id order (no deadlocks between replicas).

    Raises `IdentityConflict` when one of them was erased or merged after its identities were read."""
    known = sorted(ids)
    if not known:
        return {}
    rows = (await session.execute(_LOCK_PROFILES, {"ids": known})).all()
    if len(rows) < len(known):
        raise IdentityConflict("an owner was erased or merged meanwhile")
    stored: dict[uuid.UUID, set[Identifier]] = {}
    valid: dict[uuid.UUID, set[Identifier]] = {}
    for customer_id, kind, value, invalid_at in await session.execute(_IDENTITIES_OF, {"ids": known}):
        stored.setdefault(customer_id, set()).add((kind, value))
        if invalid_at is None:
            valid.setdefault(customer_id, set()).add((kind, value))
    return {
        row.id: Profile(
            id=row.id,
            created_at=row.created_at,
            state=state_from_row(dict(row._mapping)),
            personality=row.personality or {},
            valid=valid.get(row.id, set()),
            stored=frozenset(stored.get(row.id, ())),
        )
        for row in rows
    }


async def evidence(session: AsyncSession, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, list[EvidenceEntry]]:
    """The customers' personality evidence, oldest first."""
    out: dict[uuid.UUID, list[EvidenceEntry]] = {i: [] for i in ids}
    if not ids:
        return out
    for customer_id, row_id, kind, payload in await session.execute(_EVIDENCE_OF, {"ids": list(ids)}):
        out[customer_id].append(EvidenceEntry(kind, payload, row_id=row_id))
    return out


# --- writing a batch's changes ---------------------------------------------------------------------------------


async def write(session: AsyncSession, changes: Changes) -> None:
    """The batch's rows, one statement per table, and its records into the outbox
    (`mc.profiled.v1` per step, `mc.customers.v1` per identifier attached or moved).

    Raises `IdentityConflict` when another transaction claimed one of the identifiers meanwhile."""
    if changes.created:
        await session.execute(_INSERT_CUSTOMERS, changes.created)  # survivors first: `merged_into` refers to them
    if changes.changed:
        await session.execute(_UPDATE_CUSTOMERS, [{f"b_{k}": v for k, v in row.items()} for row in changes.changed])
    if changes.identities:
        claimed = await session.execute(_CLAIM_IDENTITIES, changes.identities)
        if len(claimed.all()) < len(changes.identities):
            raise IdentityConflict("another transaction claimed an identifier")
    if changes.moved:
        await _move(session, changes.moved)
    if changes.invalidations:
        await session.execute(_INVALIDATE, [{f"b_{k}": v for k, v in row.items()} for row in changes.invalidations])
    if changes.evidence_deleted:
        await session.execute(_DELETE_EVIDENCE, {"ids": changes.evidence_deleted})
    for model, rows in (
        (Evidence, changes.evidence),
        (Rejection, changes.rejections),
        (TimelineEntry, changes.timeline),
    ):
        if rows:
            await session.execute(_INSERT_OWNED[model], rows)
    if changes.stage_changes:
        await session.execute(_INSERT_STAGE_CHANGES, changes.stage_changes)
    if changes.merges:
        await session.execute(_INSERT_MERGES, changes.merges)
    await session.execute(_INSERT_PROCESSED, changes.processed)
    await enqueue(session, OUTBOX, [*changes.records, *changes.customer_refs])


async def _move(session: AsyncSession, moved: Sequence[dict[str, Any]]) -> None:
    """Re-point what merged customers own, and earlier merges into them, at their survivors."""
    params = [{"b_from": m["from"], "b_to": m["to"]} for m in moved]
    for model in _OWNED:
        table = _table(model)
        await session.execute(
            update(table).where(table.c.customer_id == bindparam("b_from")).values(customer_id=bindparam("b_to")),
            params,
        )
    merges, customers = _table(Merge), _table(Customer)
    await session.execute(
        update(merges).where(merges.c.survivor_id == bindparam("b_from")).values(survivor_id=bindparam("b_to")),
        params,
    )
    await session.execute(
        update(customers).where(customers.c.merged_into == bindparam("b_from")).values(merged_into=bindparam("b_to")),
        params,
    )


# --- erasure ---------------------------------------------------------------------------------------------------


async def identities(session: AsyncSession, ids: Collection[uuid.UUID]) -> list[Identifier]:
    """Every identifier the customers own, valid or not, in (kind, value) order."""
    rows = await session.execute(
        select(Identity.kind, Identity.value)
        .where(Identity.customer_id == any_(_ids(ids)))
        .order_by(Identity.kind, Identity.value)
    )
    return [(r.kind, r.value) for r in rows]


async def erase(
    session: AsyncSession,
    ids: Iterable[uuid.UUID],
    *,
    refs: Collection[str],
    columns: dict[str, Any],
    now: datetime,
) -> None:
    """Delete what the customers own and their records in the outbox (those of `mc.profiled.v1`,
    and those of `mc.customers.v1` keyed by `refs`); empty their rows to `columns`."""
    ids = list(ids)
    for model in _OWNED:
        await session.execute(delete(model).where(model.customer_id.in_(ids)))
    # `mc.profiled.v1` records are keyed by the customer id they report on.
    await session.execute(delete(OUTBOX).where(OUTBOX.c.key.in_([str(i).encode() for i in ids])))
    await session.execute(
        delete(OUTBOX).where(OUTBOX.c.topic == CUSTOMERS, OUTBOX.c.key.in_([r.encode() for r in refs]))
    )
    await session.execute(update(Customer).where(Customer.id.in_(ids)).values(**columns, erased_at=now, updated_at=now))
