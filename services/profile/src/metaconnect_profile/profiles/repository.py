"""All SQL of applying interactions to profiles."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_profile.models import Evidence, ProcessedEvent, Rejection, TimelineEntry


async def processed(session: AsyncSession, event_id: uuid.UUID) -> bool:
    return await session.scalar(select(ProcessedEvent.event_id).where(ProcessedEvent.event_id == event_id)) is not None


async def mark_processed(session: AsyncSession, event_id: uuid.UUID, customer_id: uuid.UUID) -> None:
    # A plain insert: a concurrent duplicate fails the transaction, and its retry sees the row.
    session.add(ProcessedEvent(event_id=event_id, customer_id=customer_id))
    await session.flush()


async def add_timeline(session: AsyncSession, row: dict[str, Any]) -> None:
    await session.execute(insert(TimelineEntry).values(**row).on_conflict_do_nothing())


async def add_evidence(session: AsyncSession, row: dict[str, Any]) -> None:
    await session.execute(insert(Evidence).values(**row).on_conflict_do_nothing())


async def evidence_payloads(session: AsyncSession, customer_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(Evidence.payload).where(Evidence.customer_id == customer_id).order_by(Evidence.id)
    )
    return list(rows)


async def delete_behaviour(session: AsyncSession, customer_id: uuid.UUID) -> int:
    result = await session.execute(
        delete(Evidence).where(Evidence.customer_id == customer_id, Evidence.kind == "behaviour").returning(Evidence.id)
    )
    return len(result.all())


async def add_rejection(session: AsyncSession, row: dict[str, Any]) -> None:
    await session.execute(insert(Rejection).values(**row).on_conflict_do_nothing())
