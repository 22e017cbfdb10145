"""All SQL of delivering: the delivery row (the idempotency record), attempts, the inbox, and the
customer a ref names."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_common.refs import MERGED_KIND, CustomerId, CustomerLookup, stored_ref
from metaconnect_delivery.models import Attempt, CustomerRefRow, DeliveryRow, InboxMessage


async def claim(session: AsyncSession, row: dict[str, Any]) -> bool:
    """Record a delivery as `sending`; False when it was recorded before."""
    inserted = await session.execute(
        insert(DeliveryRow).values(**row).on_conflict_do_nothing().returning(DeliveryRow.id)
    )
    return inserted.first() is not None


async def remember_refs(session: AsyncSession, customer_id: uuid.UUID, refs: Sequence[str], as_of: datetime) -> None:
    """The refs a delivery listed (`Delivery.identities`) now name its customer, unless a delivery
    made later (`as_of`: when the router made it) already said otherwise. One statement."""
    if not refs:
        return
    statement = insert(CustomerRefRow).values(
        [{"ref": ref, "customer_id": customer_id, "updated_at": as_of} for ref in dict.fromkeys(refs)]
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[CustomerRefRow.ref],
            set_={"customer_id": statement.excluded.customer_id, "updated_at": statement.excluded.updated_at},
            where=CustomerRefRow.updated_at <= statement.excluded.updated_at,
        )
    )


async def customer_of(session: AsyncSession, ref: CustomerLookup) -> uuid.UUID | None:
    """The customer a parsed ref names; None when no delivery named them by it.

    An identifier names the customer whose deliveries listed it. A customer id names the survivor
    it was merged into (listed as `id:<uuid>`), else that customer once anything was delivered to it."""
    listed = await session.scalar(select(CustomerRefRow.customer_id).where(CustomerRefRow.ref == stored_ref(ref)))
    if listed is not None or not isinstance(ref, CustomerId):
        return listed
    return await session.scalar(select(DeliveryRow.customer_id).where(DeliveryRow.customer_id == ref.id).limit(1))


async def with_merged(session: AsyncSession, customer_id: uuid.UUID) -> list[uuid.UUID]:
    """The customer and every customer its deliveries listed as merged into it (`id:<uuid>`):
    what was delivered to those before the merge is the customer's too."""
    refs = await session.scalars(
        select(CustomerRefRow.ref).where(
            CustomerRefRow.customer_id == customer_id, CustomerRefRow.ref.startswith(f"{MERGED_KIND}:")
        )
    )
    return [customer_id, *sorted(uuid.UUID(ref.partition(":")[2]) for ref in refs)]


async def delivery(session: AsyncSession, delivery_id: uuid.UUID, *, lock: bool = False) -> DeliveryRow | None:
    statement = select(DeliveryRow).where(DeliveryRow.id == delivery_id)
    found: DeliveryRow | None = await session.scalar(statement.with_for_update() if lock else statement)
    return found


async def attempts(session: AsyncSession, delivery_id: uuid.UUID) -> Sequence[Attempt]:
    rows = await session.scalars(select(Attempt).where(Attempt.delivery_id == delivery_id).order_by(Attempt.number))
    return list(rows)


async def add_attempt(session: AsyncSession, attempt: dict[str, Any]) -> None:
    await session.execute(insert(Attempt).values(**attempt))


async def finish(session: AsyncSession, delivery_id: uuid.UUID, **values: Any) -> None:
    await session.execute(update(DeliveryRow).where(DeliveryRow.id == delivery_id).values(**values))


async def add_to_inbox(session: AsyncSession, message: dict[str, Any]) -> None:
    await session.execute(insert(InboxMessage).values(**message).on_conflict_do_nothing())


async def deliveries_of(session: AsyncSession, customers: Sequence[uuid.UUID], limit: int) -> Sequence[DeliveryRow]:
    rows = await session.scalars(
        select(DeliveryRow)
        .where(DeliveryRow.customer_id.in_(list(customers)))
        .order_by(DeliveryRow.created_at.desc())
        .limit(limit)
    )
    return list(rows)


async def inbox_of(
    session: AsyncSession, customers: Sequence[uuid.UUID], limit: int, *, unread_only: bool = False
) -> Sequence[InboxMessage]:
    statement = select(InboxMessage).where(InboxMessage.customer_id.in_(list(customers)))
    if unread_only:
        statement = statement.where(InboxMessage.read_at.is_(None))
    rows = await session.scalars(statement.order_by(InboxMessage.created_at.desc()).limit(limit))
    return list(rows)


async def unread_count(session: AsyncSession, customers: Sequence[uuid.UUID]) -> int:
    count = await session.scalar(
        select(func.count()).where(InboxMessage.customer_id.in_(list(customers)), InboxMessage.read_at.is_(None))
    )
    return int(count or 0)


async def inbox_message(
    session: AsyncSession, customers: Sequence[uuid.UUID], message_id: uuid.UUID, *, lock: bool = False
) -> InboxMessage | None:
    statement = select(InboxMessage).where(InboxMessage.id == message_id, InboxMessage.customer_id.in_(list(customers)))
    found: InboxMessage | None = await session.scalar(statement.with_for_update() if lock else statement)
    return found


async def latest_inbox_time(session: AsyncSession, customers: Sequence[uuid.UUID]) -> datetime | None:
    latest: datetime | None = await session.scalar(
        select(func.max(InboxMessage.created_at)).where(InboxMessage.customer_id.in_(list(customers)))
    )
    return latest


async def inbox_since(
    session: AsyncSession, customers: Sequence[uuid.UUID], since: datetime | None
) -> Sequence[InboxMessage]:
    """Messages stored after `since` (all when None), oldest first."""
    statement = select(InboxMessage).where(InboxMessage.customer_id.in_(list(customers)))
    if since is not None:
        statement = statement.where(InboxMessage.created_at > since)
    rows = await session.scalars(statement.order_by(InboxMessage.created_at).limit(200))
    return list(rows)
