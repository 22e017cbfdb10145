"""All SQL of identity resolution and merging."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_profile.models import Customer, Evidence, Identity, Merge, Rejection, TimelineEntry


async def owners(session: AsyncSession, ids: Sequence[tuple[str, str]]) -> dict[tuple[str, str], uuid.UUID]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Identity.kind, Identity.value, Identity.customer_id).where(
            or_(*(and_(Identity.kind == k, Identity.value == v) for k, v in ids))
        )
    )
    return {(r.kind, r.value): r.customer_id for r in rows}


async def lock_customers(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[Customer]:
    """The live customers among `ids`, locked in id order (no deadlocks between replicas)."""
    rows = await session.scalars(
        select(Customer)
        .where(Customer.id.in_(sorted(ids)), Customer.erased_at.is_(None), Customer.merged_into.is_(None))
        .order_by(Customer.id)
        .with_for_update()
    )
    return list(rows)


async def attach(
    session: AsyncSession, customer_id: uuid.UUID, ids: Sequence[tuple[str, str]], now: datetime
) -> set[tuple[str, str]]:
    """Give the customer these identifiers; returns those another customer took first."""
    if not ids:
        return set()
    inserted = await session.execute(
        insert(Identity)
        .values([{"kind": k, "value": v, "customer_id": customer_id, "created_at": now} for k, v in ids])
        .on_conflict_do_nothing()
        .returning(Identity.kind, Identity.value)
    )
    return set(ids) - {(r.kind, r.value) for r in inserted}


async def move_to_survivor(
    session: AsyncSession, survivor: uuid.UUID, merged: Sequence[uuid.UUID], *, event_id: uuid.UUID, now: datetime
) -> None:
    """Re-point everything the merged customers own at the survivor and record the merges."""
    for model in (Identity, TimelineEntry, Evidence, Rejection):
        await session.execute(update(model).where(model.customer_id.in_(merged)).values(customer_id=survivor))
    await session.execute(update(Merge).where(Merge.survivor_id.in_(merged)).values(survivor_id=survivor))
    await session.execute(update(Customer).where(Customer.merged_into.in_(merged)).values(merged_into=survivor))
    await session.execute(update(Customer).where(Customer.id.in_(merged)).values(merged_into=survivor, updated_at=now))
    session.add_all(Merge(survivor_id=survivor, merged_id=m, event_id=event_id, merged_at=now) for m in merged)


async def valid_identifiers(session: AsyncSession, customer_id: uuid.UUID) -> set[tuple[str, str]]:
    """The customer's (kind, value) identifiers that still reach them."""
    rows = await session.execute(
        select(Identity.kind, Identity.value).where(Identity.customer_id == customer_id, Identity.invalid_at.is_(None))
    )
    return {(kind, value) for kind, value in rows}


async def invalidate(session: AsyncSession, customer_id: uuid.UUID, kind: str, *, reason: str, now: datetime) -> None:
    await session.execute(
        update(Identity)
        .where(Identity.customer_id == customer_id, Identity.kind == kind, Identity.invalid_at.is_(None))
        .values(invalid_at=now, invalid_reason=reason)
    )
