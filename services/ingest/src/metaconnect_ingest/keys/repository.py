"""All SQL of the keys domain."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_ingest.models import ApiKey


async def add(session: AsyncSession, key: ApiKey) -> None:
    session.add(key)
    await session.flush()


async def get(session: AsyncSession, key_id: uuid.UUID) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


async def list_all(
    session: AsyncSession, *, include_revoked: bool, after: ApiKey | None = None, limit: int | None = None
) -> list[ApiKey]:
    """Keys oldest first; a page starts after the key `after` (by creation time, then id)."""
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id).limit(limit)
    if after is not None:
        query = query.where(tuple_(ApiKey.created_at, ApiKey.id) > tuple_(after.created_at, after.id))
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list((await session.scalars(query)).all())


async def revoke(session: AsyncSession, key_id: uuid.UUID, *, by: str, at: datetime) -> bool:
    result = await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=at, revoked_by=by)
        .returning(ApiKey.id)
    )
    return result.first() is not None
