"""All SQL of deciding: processed records, erased customers, arm statistics, decisions, and the
customer a ref names."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Table, Uuid, bindparam, false, func, literal_column, select, true, tuple_, union_all
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_common.refs import CustomerId, CustomerLookup, stored_ref
from metaconnect_common.schemas import Channel
from metaconnect_router.bundles.repository import any_of
from metaconnect_router.decisions.ranking import Arm, Posterior
from metaconnect_router.models import ArmStats, CustomerProfile, Decision, Erased, Processed
from metaconnect_router.routes.spec import Tone

# Spelled as the GIN index `ix_customer_profiles_identities` is (`->` with a constant key), so the
# planner uses it: `profile['identities']` would be a subscript with a bound key, which it does not match.
IDENTITIES = CustomerProfile.profile.op("->", return_type=JSONB)(literal_column("'identities'"))

PROCESSED: Table = Processed.__table__  # type: ignore[assignment]
ERASED: Table = Erased.__table__  # type: ignore[assignment]
DECISIONS: Table = Decision.__table__  # type: ignore[assignment]
ARMS: Table = ArmStats.__table__  # type: ignore[assignment]
# One statement text whatever the batch's size, so SQLAlchemy compiles it once and asyncpg prepares
# it once per connection (`.values([...])` would be a new statement for every batch).
_MARK_PROCESSED = (
    insert(PROCESSED)
    .from_select(
        ["record_id", "processed_at"],
        select(
            func.unnest(bindparam("record_ids", type_=ARRAY(Uuid()))),
            bindparam("now", type_=DateTime(timezone=True)),
        ),
    )
    .on_conflict_do_nothing()
    .returning(PROCESSED.c.record_id)
)
_ERASED_AMONG = select(ERASED.c.customer_id).where(any_of(ERASED.c.customer_id, "customers"))
_arm_counts = insert(ARMS)
# Executed for many arms: one statement text, compiled once (`.values([...])` compiled every batch
# that carried receipts).
_ADD_TO_ARMS = _arm_counts.on_conflict_do_update(
    index_elements=[ARMS.c.pattern, ARMS.c.tone, ARMS.c.channel],
    set_={
        "successes": ARMS.c.successes + _arm_counts.excluded.successes,
        "failures": ARMS.c.failures + _arm_counts.excluded.failures,
        "updated_at": _arm_counts.excluded.updated_at,
    },
)
# A batch's first read, one round trip: the records it marks as processed (those not seen before)
# and, flagged, the erased customers among its own.
_marked = _MARK_PROCESSED.cte("marked")
_MARK_PROCESSED_AND_ERASED = union_all(
    select(_marked.c.record_id, false()),
    select(ERASED.c.customer_id, true()).where(any_of(ERASED.c.customer_id, "customers")),
)
# The table's insert, not the ORM's bulk insert of `Decision`: the same rows without the ORM's work per row.
_ADD_DECISIONS = insert(DECISIONS)


async def mark_processed(
    session: AsyncSession, record_ids: Sequence[uuid.UUID], customers: Sequence[uuid.UUID], now: datetime
) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """The record ids not decided on before (now marked) and the erased ones among `customers`, in
    one statement."""
    if not record_ids:
        return set(), await erased_among(session, customers)
    params = {"record_ids": list(dict.fromkeys(record_ids)), "customers": list(customers), "now": now}
    new: set[uuid.UUID] = set()
    erased: set[uuid.UUID] = set()
    for row_id, is_erased in await session.execute(_MARK_PROCESSED_AND_ERASED, params):
        (erased if is_erased else new).add(row_id)
    return new, erased


async def erased_among(session: AsyncSession, customers: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    rows = await session.scalars(_ERASED_AMONG, {"customers": list(customers)})
    return set(rows)


async def posteriors(session: AsyncSession) -> dict[Arm, Posterior]:
    rows = await session.execute(
        select(ArmStats.pattern, ArmStats.tone, ArmStats.channel, ArmStats.successes, ArmStats.failures)
    )
    return {
        Arm(pattern, Tone(tone), Channel(channel)): Posterior(max(0.0, successes), max(0.0, failures))
        for pattern, tone, channel, successes, failures in rows
    }


async def add_to_arms(session: AsyncSession, counts: Mapping[Arm, Sequence[float]], now: datetime) -> None:
    """Add [successes, failures] to each arm's counts, in one statement executed for every arm. A
    failure may be taken back (-1): an engagement turns its delivery's failure into a success.

    Arms are shared by every customer, and each partition's batch is a transaction of its own
    running beside the others: rows go in key order, so two batches lock the arms they share in
    the same order and one waits for the other. In the order they came, they deadlocked, and
    PostgreSQL broke the deadlock only after `deadlock_timeout` (1 s), then the batch went record
    by record: a second's delay for every customer in it."""
    if not counts:
        return
    await session.execute(
        _ADD_TO_ARMS,
        [
            {
                "pattern": arm.pattern,
                "tone": arm.tone.value,
                "channel": arm.channel.value,
                "successes": successes,
                "failures": failures,
                "updated_at": now,
            }
            for arm, (successes, failures) in sorted(
                counts.items(), key=lambda kv: (kv[0].pattern, kv[0].tone.value, kv[0].channel.value)
            )
        ],
    )


async def add_decisions(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(_ADD_DECISIONS, list(rows))


async def decisions_of(
    session: AsyncSession, customer_id: uuid.UUID, limit: int, *, after: Decision | None = None
) -> Sequence[Decision]:
    """Newest first by (created_at, id); with `after`, only the decisions listed after it."""
    statement = select(Decision).where(Decision.customer_id == customer_id)
    if after is not None:
        statement = statement.where(tuple_(Decision.created_at, Decision.id) < (after.created_at, after.id))
    rows = await session.scalars(statement.order_by(Decision.created_at.desc(), Decision.id.desc()).limit(limit))
    return list(rows)


async def decision(session: AsyncSession, decision_id: uuid.UUID) -> Decision | None:
    found: Decision | None = await session.get(Decision, decision_id)
    return found


async def customer_of(session: AsyncSession, ref: CustomerLookup) -> uuid.UUID | None:
    """The customer a parsed ref names, by the latest snapshots the router holds; None when unknown
    (or erased: the router forgot its profile).

    An identifier names the customer whose snapshot lists it. A customer id names the survivor
    whose snapshot lists it as merged (`id:<uuid>`), else that customer if the router has its
    profile. The newest snapshot wins should two list one ref (one not yet updated since a merge)."""
    listed = await session.scalar(
        select(CustomerProfile.customer_id)
        .where(IDENTITIES.contains([stored_ref(ref)]))
        .order_by(CustomerProfile.updated_at.desc())
        .limit(1)
    )
    if listed is not None or not isinstance(ref, CustomerId):
        return listed
    return await session.scalar(select(CustomerProfile.customer_id).where(CustomerProfile.customer_id == ref.id))
