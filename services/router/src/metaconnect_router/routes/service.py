"""Routes: versioned changes (every change a new version with author and time), checks on write
(`versioning.VersionedSpecs`)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_router.models import Route, RouteVersion
from metaconnect_router.routes.schemas import ROUTE_ANSWERS
from metaconnect_router.routes.spec import RouteSpec
from metaconnect_router.versioning import Kind, VersionedSpecs

ROUTES = Kind(label="route", path="/v1/routes", head=Route, version=RouteVersion, owner="route")


class RouteService(VersionedSpecs[RouteSpec]):
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, on_change: Callable[[], None] | None = None
    ) -> None:
        super().__init__(sessions, ROUTES, ROUTE_ANSWERS, on_change=on_change)
