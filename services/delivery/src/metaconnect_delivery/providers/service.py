"""Provider accounts as admins manage them: stored with the secret encrypted, and the
registry re-read at once so the next send uses the change (other replicas within seconds)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.db import unit_of_work
from metaconnect_delivery.config import DeliverySettings, ProviderSettings
from metaconnect_delivery.models import ProviderRow
from metaconnect_delivery.providers import store
from metaconnect_delivery.registry import Registry
from metaconnect_delivery.reliability import CircuitState


@dataclass(frozen=True)
class InUse:
    """The accounts as this replica's registry holds them: each one's circuit, and those serving."""

    circuits: dict[str, CircuitState]
    serving: frozenset[str]


class ProviderAccounts:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], registry: Registry, settings: DeliverySettings
    ) -> None:
        self._sessions = sessions
        self._registry = registry
        self._settings = settings

    @property
    def configured(self) -> list[ProviderSettings]:
        """The accounts from `MC_DELIVERY_PROVIDERS` (a stored one of the same name replaces it)."""
        return list(self._settings.providers)

    async def stored(self) -> list[ProviderRow]:
        async with self._sessions() as session:
            return list(await store.stored(session))

    async def one(self, name: str) -> ProviderRow | ProviderSettings | None:
        """The stored account, else the configured one, else None."""
        async with self._sessions() as session:
            row = await store.one(session, name)
        if row is not None:
            return row
        return next((p for p in self._settings.providers if p.name == name), None)

    async def in_use(self) -> InUse:
        """This replica's circuits and serving accounts (stored ones read again when due)."""
        await self._registry.refresh(self._sessions)
        now = time.monotonic()
        return InUse(
            circuits={name: circuit.state(now) for _, name, circuit in self._registry.circuits()},
            serving=frozenset(self._registry.serving()),
        )

    async def put(self, provider: ProviderSettings, *, author: str) -> tuple[ProviderRow, bool]:
        """Create or replace the account (a missing secret keeps the stored one); True if created."""
        async with unit_of_work(self._sessions) as session:
            row, created = await store.put(
                session,
                provider,
                store.cipher(self._settings),
                author=author,
                now=datetime.now(UTC),
                keep_secret=True,
            )
        await self._registry.refresh(self._sessions, force=True)
        return row, created

    async def remove(self, name: str) -> bool:
        """Remove a stored account; False if none is stored under `name`."""
        async with unit_of_work(self._sessions) as session:
            removed = await store.remove(session, name)
        if removed:
            await self._registry.refresh(self._sessions, force=True)
        return removed
