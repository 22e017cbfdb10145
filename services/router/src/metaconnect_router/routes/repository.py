"""All SQL of routes and their versions."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_router.models import Route, RouteVersion


async def lock(session: AsyncSession, name: str) -> Route | None:
    """The route row, locked: concurrent changes of one route get consecutive versions."""
    route: Route | None = await session.scalar(select(Route).where(Route.name == name).with_for_update())
    return route


async def current(session: AsyncSession, name: str) -> tuple[Route, RouteVersion] | None:
    row = (
        await session.execute(
            select(Route, RouteVersion)
            .join(RouteVersion, (RouteVersion.route == Route.name) & (RouteVersion.version == Route.version))
            .where(Route.name == name)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def listed(
    session: AsyncSession, *, status: str | None, deleted: bool, after: str | None = None, limit: int | None = None
) -> list[tuple[Route, RouteVersion]]:
    query = (
        select(Route, RouteVersion)
        .join(RouteVersion, (RouteVersion.route == Route.name) & (RouteVersion.version == Route.version))
        .order_by(Route.name)
        .limit(limit)
    )
    if after is not None:
        query = query.where(Route.name > after)
    if status is not None:
        query = query.where(Route.status == status)
    if not deleted:
        query = query.where(Route.deleted_at.is_(None))
    return [(r, v) for r, v in (await session.execute(query)).all()]


async def versions(session: AsyncSession, name: str) -> list[RouteVersion]:
    rows = await session.scalars(
        select(RouteVersion).where(RouteVersion.route == name).order_by(RouteVersion.version.desc())
    )
    return list(rows)


async def version(session: AsyncSession, name: str, number: int) -> RouteVersion | None:
    row: RouteVersion | None = await session.get(RouteVersion, (name, number))
    return row


async def active_versions(session: AsyncSession) -> list[RouteVersion]:
    """The current versions of the routes that decide (active and not deleted)."""
    rows = await session.scalars(
        select(RouteVersion)
        .join(Route, (RouteVersion.route == Route.name) & (RouteVersion.version == Route.version))
        .where(Route.status == "active", Route.deleted_at.is_(None))
        .order_by(Route.name)
    )
    return list(rows)
