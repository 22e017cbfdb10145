"""The journeys the router walks: the active ones (which customers enter), and any version a walk is on."""

from __future__ import annotations

import time
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_router.journeys import repository
from metaconnect_router.journeys.engine import CompiledJourney
from metaconnect_router.journeys.service import JOURNEYS
from metaconnect_router.journeys.spec import JourneySpec
from metaconnect_router.routes.spec import STORED_SPEC
from metaconnect_router.versioning import active_versions


class JourneyCatalog:
    """Versions parsed once each (a version never changes); the active list reloaded at most every `ttl_s`."""

    def __init__(self, ttl_s: float = 2.0) -> None:
        self._ttl_s = ttl_s
        self._loaded_at = -1e9
        self._active: list[CompiledJourney] = []
        self._versions: dict[tuple[str, int], CompiledJourney] = {}

    async def active(self, session: AsyncSession) -> list[CompiledJourney]:
        if time.monotonic() - self._loaded_at < self._ttl_s:
            return self._active
        found = []
        for row in await active_versions(session, JOURNEYS):
            key = (row.journey, row.version)
            if key not in self._versions:
                self._versions[key] = _compiled(row.journey, row.version, row.spec)
            found.append(self._versions[key])
        self._active, self._loaded_at = found, time.monotonic()
        return found

    async def versions(
        self, session: AsyncSession, keys: Iterable[tuple[str, int]]
    ) -> dict[tuple[str, int], CompiledJourney]:
        """The versions walks are on."""
        wanted = set(keys)
        missing = [k for k in wanted if k not in self._versions]
        for key, spec in (await repository.specs(session, missing)).items():
            self._versions[key] = _compiled(*key, spec)
        return {k: self._versions[k] for k in wanted if k in self._versions}

    def invalidate(self) -> None:
        self._loaded_at = -1e9


def _compiled(name: str, version: int, spec: dict[str, object]) -> CompiledJourney:
    return CompiledJourney(name, version, JourneySpec.model_validate(spec, context=STORED_SPEC))
