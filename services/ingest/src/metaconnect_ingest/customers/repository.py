"""The `customer_refs` table: written by the `mc.customers.v1` consumer, read by the token mint."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_ingest.models import CustomerRef


async def apply(session: AsyncSession, latest: Mapping[str, uuid.UUID | None]) -> None:
    """Store each ref's latest customer, and forget the refs whose latest record is a tombstone (None)."""
    named = [{"ref": ref, "customer_id": customer} for ref, customer in sorted(latest.items()) if customer]
    forgotten = sorted(ref for ref, customer in latest.items() if customer is None)
    if named:
        statement = insert(CustomerRef).values(named)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[CustomerRef.ref],
                set_={"customer_id": statement.excluded.customer_id, "updated_at": func.now()},
            )
        )
    if forgotten:
        await session.execute(delete(CustomerRef).where(CustomerRef.ref.in_(forgotten)))


async def customer_of(session: AsyncSession, ref: str) -> uuid.UUID | None:
    """The customer `ref` (a stored ref: `cid:c-1`, `id:<uuid>`, ...) names now, if any."""
    found: uuid.UUID | None = await session.scalar(select(CustomerRef.customer_id).where(CustomerRef.ref == ref))
    return found
