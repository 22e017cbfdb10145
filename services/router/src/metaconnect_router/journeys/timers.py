"""Journey timers: walks whose wait fell due move on, from any number of router replicas.

A walk resting at a wait is its own timer (`journey_instances.due_at`). The loop claims due
walks with `FOR UPDATE SKIP LOCKED`, so replicas never take the same one, and moves them on in
the transaction that writes what their steps produce (decisions, bundled items, deliveries in
the outbox, published updates): a crash before the commit leaves the walk due for the next
claim; one after it leaves the records to the relay. No step runs twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.db import unit_of_work
from metaconnect_common.schemas.profiled import ProfileSnapshot
from metaconnect_router import metrics
from metaconnect_router.bundles import repository as bundles
from metaconnect_router.bundles.ledger import Ledger
from metaconnect_router.decisions import repository as decisions
from metaconnect_router.decisions.acting import DecisionBatch
from metaconnect_router.decisions.service import HISTORY, DecisionService
from metaconnect_router.journeys import repository
from metaconnect_router.journeys.engine import Walk
from metaconnect_router.journeys.walking import Walking

log = logging.getLogger(__name__)


class JourneyTimers:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        service: DecisionService,
        *,
        batch: int = 200,
        interval_s: float = 0.25,
    ) -> None:
        self._sessions = sessions
        self._service = service
        self._batch = batch
        self.interval_s = interval_s

    async def fire_due(self, now: datetime | None = None) -> int:
        """Move on every walk due at `now` (the clock's time when None), a claimed batch per
        transaction; how many moved. A batch that fails is moved one walk at a time, so a walk
        that cannot be moved holds up no other (`_one_by_one`)."""
        fired = 0
        while True:
            at = now or datetime.now(UTC)
            try:
                moved = await self._round(at, self._batch)
            except Exception as exc:  # one walk may be at fault: find it, move the others
                log.warning("journey timer round failed (%s): moving its walks one by one", type(exc).__name__)
                return fired + await self._one_by_one(at)
            fired += moved
            if moved < self._batch:
                return fired

    async def _round(self, at: datetime, limit: int) -> int:
        """Claim up to `limit` due walks and move them on, in one transaction; how many."""
        async with unit_of_work(self._sessions) as session:
            walking = Walking(self._service.journeys)
            walks = await walking.claim_due(session, at, limit)
            due = [w.due_at for w in walks if w.due_at is not None]
            if walks:
                await self._move(session, walking, walks, at)
        walking.observe()
        for due_at in due:
            metrics.TIMER_LATENESS.observe(max(0.0, (at - due_at).total_seconds()))
        return len(walks)

    async def _one_by_one(self, at: datetime) -> int:
        """Up to a batch of due walks, each in its own transaction. A walk that fails to move waits
        and is tried again later (`repository.postpone`: backing off, until it gives up on it), so
        the walks due after it go on."""
        moved = 0
        for _ in range(self._batch):
            async with unit_of_work(self._sessions) as session:
                found = await repository.claim_due(session, at, 1)
            if not found:
                return moved
            walk = found[0]
            try:
                async with unit_of_work(self._sessions) as session:
                    walking = Walking(self._service.journeys)
                    walks = await walking.claim_one(session, walk.id, at)
                    if walks:
                        await self._move(session, walking, walks, at)
                walking.observe()
                moved += len(walks)
            except Exception as exc:
                error = type(exc).__name__
                async with unit_of_work(self._sessions) as session:
                    gave_up = await repository.postpone(session, walk.id, error, at)
                log.warning(
                    "journey walk %s of %s failed to move on (%s): %s",
                    walk.id,
                    walk.journey,
                    error,
                    "it left the journey (failed)" if gave_up else "tried again later",
                )
        return moved

    async def _move(self, session: AsyncSession, walking: Walking, walks: Sequence[Walk], at: datetime) -> None:
        customers = list(dict.fromkeys(w.customer_id for w in walks))
        ledger = Ledger()
        await ledger.load(session, customers, sends_since=at - HISTORY)
        erased = await decisions.erased_among(session, customers)
        profiles = {
            customer: ProfileSnapshot.model_validate(doc)
            for customer, doc in (await bundles.profiles(session, customers)).items()
            if customer not in erased
        }
        batch = DecisionBatch(
            new=set(),
            erased=erased,
            ledger=ledger,
            routes=[],
            posteriors=await self._service.posteriors(session),
            walking=walking,
        )
        for walk in walks:
            profile = profiles.get(walk.customer_id)
            actions = walking.on_timer(walk, profile, at)
            if profile is not None:
                self._service.sender.carry_out(batch, walking, actions, profile, at)
        await decisions.add_decisions(session, batch.decisions)
        await walking.write(session)
        await ledger.write(session, at)

    async def fire_due_once(self) -> int:
        """One round now; failures are logged (the next round tries again)."""
        try:
            return await self.fire_due()
        except Exception as exc:  # the database may be away: try again next round
            log.warning("journey timers failed: %s", type(exc).__name__)
            return 0

    async def run(self, relay_flush: Callable[[], Awaitable[object]]) -> None:
        """Fire due walks until cancelled: after a round, sleep until the next is due (at most
        `interval_s`); `relay_flush` publishes what the round produced at once."""
        while True:
            looked = datetime.now(UTC)
            if await self.fire_due_once():
                with contextlib.suppress(Exception):  # the relay publishes them on its next round
                    await relay_flush()
            await asyncio.sleep(await self._pause(looked))

    async def _pause(self, looked: datetime) -> float:
        """Until the next wait falls due, at most `interval_s`. Walks already due when the round
        looked and still waiting are held by another transaction (another replica moving them),
        or the round failed: they are no reason to look again at once (that would spin)."""
        try:
            async with self._sessions() as session:
                due = await repository.next_due(session, after=looked)
        except Exception:  # the database may be away: the next round says so
            return self.interval_s
        if due is None:
            return self.interval_s
        return min(self.interval_s, max(0.0, (due - datetime.now(UTC)) / timedelta(seconds=1)))
