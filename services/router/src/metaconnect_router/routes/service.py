"""Routes: versioned changes (every change a new version with author and time), checks on write.

A `PUT` of the spec a route already has changes nothing and makes no version, so applying
the same route file twice is a no-op (`metaconnect routes apply`). A delete is a version
too: the route stops deciding and keeps its history; a later `PUT` brings it back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.db import unit_of_work
from metaconnect_common.errors import ApiError, FieldError
from metaconnect_router.models import Route, RouteVersion
from metaconnect_router.routes import repository
from metaconnect_router.routes.schemas import RouteOut, RoutePlan, RouteVersionOut
from metaconnect_router.routes.spec import STORED_SPEC, RouteSpec, RouteStatus, spec_document


def _out(route: Route, version: RouteVersion) -> RouteOut:
    return RouteOut(
        name=route.name,
        version=route.version,
        status=RouteStatus(route.status),
        spec=RouteSpec.model_validate(version.spec, context=STORED_SPEC),
        author=version.author,
        created_at=route.created_at,
        updated_at=route.updated_at,
        deleted=route.deleted_at is not None,
    )


def _version_out(version: RouteVersion) -> RouteVersionOut:
    return RouteVersionOut(
        name=version.route,
        version=version.version,
        status=RouteStatus(version.status),
        change=version.change,
        author=version.author,
        created_at=version.created_at,
        spec=RouteSpec.model_validate(version.spec, context=STORED_SPEC),
    )


@dataclass(frozen=True)
class Written:
    route: RouteOut
    created: bool  # a new route (or a deleted one brought back)
    changed: bool  # a new version was written


class RouteService:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, on_change: Callable[[], None] | None = None
    ) -> None:
        self._sessions = sessions
        self._on_change = on_change or (lambda: None)

    async def create(self, spec: RouteSpec, *, author: str) -> RouteOut:
        async with unit_of_work(self._sessions) as session:
            existing = await repository.lock(session, spec.name)
            if existing is not None and existing.deleted_at is None:
                raise ApiError(
                    409,
                    "route_exists",
                    f"route {spec.name} exists; change it with PUT /v1/routes/{spec.name}",
                    errors=[FieldError(field="name", rule="unique", message="a route with this name exists")],
                )
            written = await self._write(session, existing, spec, author=author)
        self._on_change()
        return written.route

    async def put(self, name: str, spec: RouteSpec, *, author: str, if_match: int | None = None) -> Written:
        """Create or change the route; no new version when the spec is what it is already."""
        if spec.name != name:
            raise ApiError(
                422,
                "validation_failed",
                "request failed validation",
                errors=[FieldError(field="name", rule="name_mismatch", message=f"must be {name}, as in the path")],
            )
        async with unit_of_work(self._sessions) as session:
            existing = await repository.lock(session, name)
            if if_match is not None and (existing is None or existing.version != if_match):
                current = existing.version if existing else "none"
                raise ApiError(412, "version_mismatch", f"route {name} is at version {current}, not {if_match}")
            if existing is not None and existing.deleted_at is None:
                version = await repository.version(session, name, existing.version)
                if version is not None and version.spec == spec_document(spec):
                    return Written(_out(existing, version), created=False, changed=False)
            written = await self._write(session, existing, spec, author=author)
        self._on_change()
        return written

    async def plan(self, spec: RouteSpec) -> RoutePlan:
        """What `put` would do with this spec, checked the same way; writes nothing."""
        async with self._sessions() as session:
            found = await repository.current(session, spec.name)
        if found is None or found[0].deleted_at is not None:
            return RoutePlan(name=spec.name, action="create", current_version=None, current=None, proposed=spec)
        route, version = found
        action = "none" if version.spec == spec_document(spec) else "update"
        current = RouteSpec.model_validate(version.spec, context=STORED_SPEC)
        return RoutePlan(name=spec.name, action=action, current_version=route.version, current=current, proposed=spec)

    async def delete(self, name: str, *, author: str) -> bool:
        """Stop the route and keep its history; False when there is no such route."""
        now = datetime.now(UTC)
        async with unit_of_work(self._sessions) as session:
            route = await repository.lock(session, name)
            if route is None or route.deleted_at is not None:
                return False
            current = await repository.version(session, name, route.version)
            assert current is not None  # the current version always exists
            route.version += 1
            route.status = RouteStatus.PAUSED.value
            route.updated_at = route.deleted_at = now
            session.add(
                RouteVersion(
                    route=name,
                    version=route.version,
                    spec={**current.spec, "status": RouteStatus.PAUSED.value},
                    status=RouteStatus.PAUSED.value,
                    change="deleted",
                    author=author,
                    created_at=now,
                )
            )
        self._on_change()
        return True

    async def get(self, name: str) -> RouteOut | None:
        async with self._sessions() as session:
            found = await repository.current(session, name)
        return _out(*found) if found else None

    async def list_routes(
        self,
        *,
        status: RouteStatus | None = None,
        include_deleted: bool = False,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[RouteOut]:
        async with self._sessions() as session:
            rows = await repository.listed(
                session, status=status.value if status else None, deleted=include_deleted, after=after, limit=limit
            )
        return [_out(r, v) for r, v in rows]

    async def versions(self, name: str) -> list[RouteVersionOut]:
        async with self._sessions() as session:
            return [_version_out(v) for v in await repository.versions(session, name)]

    async def _write(self, session: AsyncSession, existing: Route | None, spec: RouteSpec, *, author: str) -> Written:
        now = datetime.now(UTC)
        created = existing is None or existing.deleted_at is not None
        if existing is None:
            existing = Route(name=spec.name, version=0, status=spec.status.value, created_at=now, updated_at=now)
            session.add(existing)
            await session.flush()  # the row its versions refer to
        existing.version += 1
        existing.status = spec.status.value
        existing.updated_at = now
        existing.deleted_at = None
        version = RouteVersion(
            route=spec.name,
            version=existing.version,
            spec=spec_document(spec),
            status=spec.status.value,
            change="created" if created else "updated",
            author=author,
            created_at=now,
        )
        session.add(version)
        await session.flush()
        return Written(_out(existing, version), created=created, changed=True)
