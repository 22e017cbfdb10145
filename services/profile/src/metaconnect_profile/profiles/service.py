"""Apply interactions to their customers' profiles, exactly once, and report them downstream.

One path, whether one interaction arrives or a thousand: one transaction reads what they
touch (`repository`), applies them in order in memory (`batch`: identity resolution and
merges, the pure state rules, their effects, the `mc.profiled.v1` records) and writes it
all back, the records into the outbox, with the event ids applied. Event ids applied
before are skipped. The relay publishes after the commit, before the consumer commits its
offsets. A record redelivered after a crash at any point therefore changes the profile
once, and a re-publish reuses the record id (derived from the event id), so the router
can dedupe.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.db import unit_of_work
from metaconnect_profile.identity.keys import identifiers
from metaconnect_profile.lifecycles.service import LifecycleCatalog
from metaconnect_profile.profiles import repository
from metaconnect_profile.profiles.batch import TracedInteraction, carry_out, evidence_needed, resolve_steps, unseen
from metaconnect_profile.profiles.state import ProfilePolicy

log = logging.getLogger(__name__)


class ProfileService:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], policy: ProfilePolicy, catalog: LifecycleCatalog | None = None
    ) -> None:
        self._sessions = sessions
        self._policy = policy
        self._catalog = catalog  # None: `policy.lifecycle` as it is

    async def apply(self, items: Sequence[TracedInteraction], *, now: datetime | None = None) -> int:
        """Apply the interactions in order, in one transaction; returns how many were applied now.

        Skipped: event ids applied before (or earlier in `items`), and references naming only a
        Metaconnect id nobody has. Raises `IdentityConflict` (nothing written) when another
        transaction claimed an identifier or erased or merged an owner meanwhile: a retry resolves it.
        """
        now = now or datetime.now(UTC)
        async with unit_of_work(self._sessions) as session:
            # One read for both: the owners of every item's identifiers, kept for the items not applied before.
            applied, owner_of = await repository.applied_and_owners(
                session,
                [item.interaction.event_id for item in items],
                {i for item in items for i in identifiers(item.interaction.customer)},
            )
            todo = unseen(items, applied)
            if not todo:
                return 0
            policy = self._policy
            if self._catalog is not None:
                policy = policy.model_copy(update={"lifecycle": await self._catalog.current(session)})
            wanted = {i for item in todo for i in identifiers(item.interaction.customer)}
            owner_of = {i: owner for i, owner in owner_of.items() if i in wanted}
            profiles = await repository.lock_profiles(session, set(owner_of.values()))
            steps = resolve_steps(todo, owner_of, profiles, now=now, policy=policy)
            if len(steps) < len(todo):
                log.info("skipped %d interactions naming an unknown customer", len(todo) - len(steps))
            if not steps:
                return 0
            needed = {i for i in evidence_needed(steps) if profiles[i].evidence is None}
            for customer_id, entries in (await repository.evidence(session, needed)).items():
                profiles[customer_id].evidence = entries
            await repository.write(session, carry_out(steps, profiles, now=now, policy=policy))
        return len(steps)
