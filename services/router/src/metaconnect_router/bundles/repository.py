"""All SQL of bundles: the open bundle of a customer, its items, the due ones."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_router.models import Bundle, Decision, Item, Send


async def open_bundle(session: AsyncSession, customer_id: uuid.UUID) -> Bundle | None:
    """The customer's open bundle, locked (the flusher skips it meanwhile)."""
    found: Bundle | None = await session.scalar(
        select(Bundle).where(Bundle.customer_id == customer_id, Bundle.status == "open").with_for_update()
    )
    return found


async def pending_items(session: AsyncSession, bundle_id: uuid.UUID) -> list[Item]:
    rows = await session.scalars(
        select(Item).where(Item.bundle_id == bundle_id, Item.state == "pending").order_by(Item.created_at)
    )
    return list(rows)


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> list[Bundle]:
    """Due open bundles, locked; bundles another replica holds are skipped, never waited for."""
    rows = await session.scalars(
        select(Bundle)
        .where(Bundle.status == "open", Bundle.due_at <= now)
        .order_by(Bundle.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(rows)


async def set_state(session: AsyncSession, item_ids: Sequence[uuid.UUID], state: str, **values: object) -> None:
    if item_ids:
        await session.execute(update(Item).where(Item.id.in_(list(item_ids))).values(state=state, **values))


async def move_pending(session: AsyncSession, source: uuid.UUID, target: uuid.UUID) -> None:
    await session.execute(
        update(Item).where(Item.bundle_id == source, Item.state == "pending").values(bundle_id=target)
    )


async def repoint(session: AsyncSession, merged: Sequence[uuid.UUID], survivor: uuid.UUID) -> None:
    """Everything of the merged customers now belongs to the survivor."""
    for model in (Item, Send, Decision):
        await session.execute(update(model).where(model.customer_id.in_(list(merged))).values(customer_id=survivor))
