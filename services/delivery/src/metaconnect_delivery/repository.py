"""All SQL of delivering: the delivery row (the idempotency record), attempts, the inbox, and the
customer a ref names."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_common.refs import MERGED_KIND, CustomerId, CustomerLookup, stored_ref
from metaconnect_delivery.models import Attempt, CustomerRefRow, DeliveryRow, InboxMessage

_DELIVERIES = cast(Table, DeliveryRow.__table__)
_ATTEMPTS = cast(Table, Attempt.__table__)
_REFS = cast(Table, CustomerRefRow.__table__)
# The statements of a delivery's every step are built once, on the tables (not the ORM entities):
# rows are parameters, so nothing is compiled or run through the ORM's bulk layer per batch.
_NEW_DELIVERY = insert(_DELIVERIES)
_ACCEPT = _NEW_DELIVERY.on_conflict_do_update(
    index_elements=[_DELIVERIES.c.id],
    set_={
        "status": "pending",
        "command": _NEW_DELIVERY.excluded.command,
        "traceparent": _NEW_DELIVERY.excluded.traceparent,
        "next_attempt_at": _NEW_DELIVERY.excluded.next_attempt_at,
    },
    where=and_(_DELIVERIES.c.status == "sending", _DELIVERIES.c.command.is_(None)),
)
_NEW_REF = insert(_REFS)
_REMEMBER = _NEW_REF.on_conflict_do_update(
    index_elements=[_REFS.c.ref],
    set_={"customer_id": _NEW_REF.excluded.customer_id, "updated_at": _NEW_REF.excluded.updated_at},
    where=_REFS.c.updated_at <= _NEW_REF.excluded.updated_at,
)
_ADD_ATTEMPT = insert(_ATTEMPTS)


async def accept(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Store deliveries as `pending`, one statement. An id stored before keeps its row, except one
    the version before left `sending` without its command: it is scheduled now."""
    if rows:
        await session.execute(_ACCEPT, list(rows))


_CLAIM = text(
    """
    UPDATE delivery.deliveries AS t SET lease_until = :lease_until
    FROM (
        SELECT d.id, d.lease_until AS previous FROM delivery.deliveries AS d
        WHERE d.status = 'pending' AND d.next_attempt_at <= :now
          AND (d.lease_until IS NULL OR d.lease_until < :now)
          AND NOT ((d.channels ->> d.channel_index) = ANY(:skip))
          AND NOT EXISTS (
              SELECT 1 FROM delivery.deliveries AS e
              WHERE e.customer_id = d.customer_id AND e.status = 'pending' AND e.seq < d.seq
          )
        ORDER BY d.next_attempt_at, d.seq
        LIMIT :limit
        FOR UPDATE OF d SKIP LOCKED
    ) AS due
    WHERE t.id = due.id
    RETURNING t.id, t.command, t.traceparent, t.channel_index, t.channel_attempts, t.attempt_count,
              t.done_tokens, t.created_at, due.previous IS NOT NULL AS interrupted
    """
)


async def claim_due(
    session: AsyncSession, *, now: datetime, lease_until: datetime, limit: int, skip: Sequence[str]
) -> list[dict[str, Any]]:
    """Lease up to `limit` due deliveries whose current channel is not in `skip`: oldest due first,
    only each customer's oldest pending one (so a customer's deliveries keep their order), rows other
    workers hold skipped. `interrupted`: the row's previous lease ran out (its worker died mid-attempt)."""
    result = await session.execute(_CLAIM, {"now": now, "lease_until": lease_until, "limit": limit, "skip": list(skip)})
    return [dict(row._mapping) for row in result]


async def reschedule(session: AsyncSession, delivery_id: uuid.UUID, **values: Any) -> None:
    """The delivery is due again at `next_attempt_at` (on `channel_index`); its lease ends."""
    await session.execute(update(_DELIVERIES).where(_DELIVERIES.c.id == delivery_id).values(lease_until=None, **values))


async def remember_refs(session: AsyncSession, listed: Sequence[tuple[uuid.UUID, Sequence[str], datetime]]) -> None:
    """The refs each delivery listed (customer, `Delivery.identities`, when the router made it) now
    name its customer, unless a delivery made later already said otherwise. One statement."""
    latest: dict[str, tuple[uuid.UUID, datetime]] = {}
    for customer_id, refs, as_of in listed:
        for ref in refs:
            if ref not in latest or latest[ref][1] <= as_of:
                latest[ref] = (customer_id, as_of)
    if latest:
        await session.execute(
            _REMEMBER,
            [{"ref": ref, "customer_id": customer, "updated_at": as_of} for ref, (customer, as_of) in latest.items()],
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


async def add_attempts(session: AsyncSession, attempts: Sequence[dict[str, Any]]) -> None:
    if attempts:
        await session.execute(_ADD_ATTEMPT, list(attempts))


async def finish(session: AsyncSession, delivery_id: uuid.UUID, **values: Any) -> None:
    """The delivery is done (`status` sent or failed): its command, addresses included, and schedule go."""
    await session.execute(
        update(_DELIVERIES)
        .where(_DELIVERIES.c.id == delivery_id)
        .values(command=None, next_attempt_at=None, lease_until=None, done_tokens=[], **values)
    )


async def add_to_inbox(session: AsyncSession, message: dict[str, Any]) -> None:
    await session.execute(insert(InboxMessage).values(**message).on_conflict_do_nothing())


async def deliveries_of(
    session: AsyncSession, customers: Sequence[uuid.UUID], limit: int, *, after: DeliveryRow | None = None
) -> Sequence[DeliveryRow]:
    """Newest first by (created_at, id); with `after`, only the deliveries listed after it."""
    statement = select(DeliveryRow).where(DeliveryRow.customer_id.in_(list(customers)))
    if after is not None:
        statement = statement.where(tuple_(DeliveryRow.created_at, DeliveryRow.id) < (after.created_at, after.id))
    rows = await session.scalars(statement.order_by(DeliveryRow.created_at.desc(), DeliveryRow.id.desc()).limit(limit))
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
