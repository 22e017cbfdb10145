"""All SQL of the lifecycle's versions."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_profile.models import Customer, LifecycleVersion


async def lock(session: AsyncSession) -> None:
    """Serialise changes of the lifecycle until the transaction ends: concurrent `PUT`s get consecutive versions."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('profile.lifecycle_versions'))"))


async def current(session: AsyncSession) -> LifecycleVersion | None:
    row: LifecycleVersion | None = await session.scalar(
        select(LifecycleVersion).order_by(LifecycleVersion.version.desc()).limit(1)
    )
    return row


async def current_number(session: AsyncSession) -> int | None:
    number: int | None = await session.scalar(select(func.max(LifecycleVersion.version)))
    return number


async def version(session: AsyncSession, number: int) -> LifecycleVersion | None:
    row: LifecycleVersion | None = await session.get(LifecycleVersion, number)
    return row


async def versions(session: AsyncSession) -> list[LifecycleVersion]:
    return list(await session.scalars(select(LifecycleVersion).order_by(LifecycleVersion.version.desc())))


async def customers_outside(session: AsyncSession, stages: Collection[str]) -> dict[str, int]:
    """How many live customers sit in each stage not among `stages`."""
    rows = await session.execute(
        select(Customer.lifecycle_stage, func.count())
        .where(
            Customer.erased_at.is_(None),
            Customer.merged_into.is_(None),
            Customer.lifecycle_stage.not_in(list(stages)),
        )
        .group_by(Customer.lifecycle_stage)
        .order_by(Customer.lifecycle_stage)
    )
    return {row[0]: row[1] for row in rows}
