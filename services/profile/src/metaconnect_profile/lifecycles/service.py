"""The deployment's lifecycle: versioned changes (every change a new version with author and
time), checked on write, and the catalog the profile service moves customers by.

A `PUT` of the spec the lifecycle has already changes nothing and makes no version, so
applying the same lifecycle file twice is a no-op. Removing a stage customers sit in is
allowed: they keep its name, which ranks below every configured stage (the plan counts them).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.db import unit_of_work
from metaconnect_common.errors import ApiError
from metaconnect_profile.lifecycles import repository
from metaconnect_profile.lifecycles.schemas import LifecycleOut, LifecyclePlan
from metaconnect_profile.lifecycles.spec import DEFAULT_LIFECYCLE, Lifecycle, LifecycleSpec, spec_document
from metaconnect_profile.models import LifecycleVersion

log = logging.getLogger(__name__)


def _out(row: LifecycleVersion) -> LifecycleOut:
    return LifecycleOut(
        version=row.version,
        spec=LifecycleSpec.model_validate(row.spec),
        change=row.change,
        author=row.author,
        created_at=row.created_at,
    )


@dataclass(frozen=True)
class Written:
    lifecycle: LifecycleOut
    changed: bool  # a new version was written


class LifecycleService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], catalog: LifecycleCatalog | None = None) -> None:
        self._sessions = sessions
        self._catalog = catalog

    async def get(self) -> LifecycleOut | None:
        async with self._sessions() as session:
            row = await repository.current(session)
        return _out(row) if row else None

    async def versions(self) -> list[LifecycleOut]:
        async with self._sessions() as session:
            return [_out(r) for r in await repository.versions(session)]

    async def put(self, spec: LifecycleSpec, *, author: str, if_match: int | None = None) -> Written:
        """A new version unless the spec is the current one; 412 when `if_match` is not the current version."""
        async with unit_of_work(self._sessions) as session:
            await repository.lock(session)
            row = await repository.current(session)
            number = row.version if row else 0
            if if_match is not None and number != if_match:
                raise ApiError(
                    412, "version_mismatch", f"the lifecycle is at version {number or 'none'}, not {if_match}"
                )
            document = spec_document(spec)
            if row is not None and row.spec == document:
                return Written(_out(row), changed=False)
            written = LifecycleVersion(
                version=number + 1,
                spec=document,
                change="updated" if row else "created",
                author=author[:200],
                created_at=datetime.now(UTC),
            )
            session.add(written)
            await session.flush()
            out = _out(written)
        if self._catalog is not None:
            self._catalog.invalidate()
        return Written(out, changed=True)

    async def plan(self, spec: LifecycleSpec) -> LifecyclePlan:
        """What `put` would do with this spec, checked the same way; writes nothing."""
        async with self._sessions() as session:
            row = await repository.current(session)
            stranded = await repository.customers_outside(session, [s.name for s in spec.stages])
        if row is None:
            return LifecyclePlan(
                action="create", current_version=None, current=None, proposed=spec, customers_in_removed_stages=stranded
            )
        return LifecyclePlan(
            action="none" if row.spec == spec_document(spec) else "update",
            current_version=row.version,
            current=LifecycleSpec.model_validate(row.spec),
            proposed=spec,
            customers_in_removed_stages=stranded,
        )


class LifecycleCatalog:
    """The current lifecycle, parsed once per version and looked up at most every `ttl_s`:
    a changed lifecycle moves customers within seconds, without a restart."""

    def __init__(self, ttl_s: float = 2.0, fallback: LifecycleSpec = DEFAULT_LIFECYCLE) -> None:
        self._ttl_s = ttl_s
        self._checked_at = -1e9
        self._current = Lifecycle.compile(fallback, 0)  # only until a version is stored (migration 0006 stores one)
        self._unreadable: int | None = None

    async def current(self, session: AsyncSession) -> Lifecycle:
        if time.monotonic() - self._checked_at < self._ttl_s:
            return self._current
        number = await repository.current_number(session)
        if number is not None and number not in (self._current.version, self._unreadable):
            row = await repository.version(session, number)
            if row is not None:
                try:
                    self._current = Lifecycle.compile(LifecycleSpec.model_validate(row.spec), row.version)
                except ValidationError as exc:
                    # Only a version written around the API can be unreadable (migration 0006 from odd
                    # settings): keep moving customers by the last readable one, and say so once.
                    self._unreadable = number
                    log.error(
                        "lifecycle version %d is unreadable (%s); still moving by version %d",
                        number,
                        exc.error_count(),
                        self._current.version,
                    )
        self._checked_at = time.monotonic()
        return self._current

    def invalidate(self) -> None:
        self._checked_at = -1e9
