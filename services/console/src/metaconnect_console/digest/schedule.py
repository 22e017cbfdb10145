"""The digest's schedule: every console replica looks every `digest_poll_s`; the one that claims a
period's send (`repository.claim`) gathers the reports and hands the digest to the delivery service.

A period is sent at most once: the claim is a row per period, inserted in a transaction, and only
its inserter sends. A replica that dies after claiming leaves a claim that runs out after
`digest_lease_s`; the next one takes it over and asks the delivery service for the same
notification ids (uuid5 of the period), which it has taken at most once. A send time more than
`digest_catch_up_s` past (the console was down, or the digest was just switched on) is skipped:
an old week's digest is no news.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_console.api import Services
from metaconnect_console.digest import repository
from metaconnect_console.digest.cadence import Period, last_due, period_ending
from metaconnect_console.digest.service import SCHEDULER, NotSent, gather, send

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    period: Period
    notifications: list[str]
    error: str | None


class DigestSchedule:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        services: Services,
        *,
        poll_s: float,
        catch_up_s: float,
        lease_s: float,
        holder: str | None = None,
    ) -> None:
        self._sessions = sessions
        self._services = services
        self._poll_s = poll_s
        self._catch_up = timedelta(seconds=catch_up_s)
        self._lease = timedelta(seconds=lease_s)
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    async def run(self) -> None:
        """Look for a due period until cancelled; a failed look is logged and tried at the next."""
        while True:
            try:
                await self.tick(datetime.now(UTC))
            except Exception:
                log.exception("the digest schedule's look failed")
            await asyncio.sleep(self._poll_s)

    async def tick(self, now: datetime) -> Outcome | None:
        """Send the period due at `now` if this replica claims it; None when nothing was for it."""
        async with self._sessions() as db:
            config, _ = await repository.config(db)
        if not config.sends:
            return None
        due = last_due(config.cadence, now)
        if now - due > self._catch_up:
            return None
        period = period_ending(config.cadence, due)
        async with self._sessions.begin() as db:
            claimed = await repository.claim(db, period, holder=self.holder, now=now, lease_until=now + self._lease)
        if claimed is None:
            return None
        log.info("digest: %s claimed the period ending %s (attempt %d)", self.holder, period.key, claimed.attempts)
        digest = await gather(self._services, SCHEDULER, period, config.cadence.zone)
        error: str | None = None
        ids: list[str] = []
        try:
            sent = await send(self._services, SCHEDULER, digest, config, period.key)
            ids = [notification for _, notification, _ in sent.notifications]
        except NotSent as exc:
            error = str(exc)
            log.warning("digest: the period ending %s was not sent: %s", period.key, error)
        async with self._sessions.begin() as db:
            await repository.finish(
                db, period, holder=self.holder, now=datetime.now(UTC), notifications=ids, error=error
            )
        return Outcome(period, ids, error)
