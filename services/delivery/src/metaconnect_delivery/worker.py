"""The workers: claim due deliveries and attempt them, bounded overall and per channel.

One loop per replica claims what is due (`DeliveryService.claim`) as long as attempts are free
(`concurrency`), leaving out channels already at `channel_concurrency` and channels whose provider
is at its rate (`rate_per_s`), and runs each claimed
delivery's attempt as its own task. So deliveries to different customers proceed side by side,
a slow provider holds at most its channel's share, and a customer's deliveries keep their order
(the claim takes only a customer's oldest pending delivery). `wake()` (a delivery accepted, an
attempt finished) claims at once; otherwise the loop looks every `poll_s` for retries that fell due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter

from metaconnect_common.schemas import Channel
from metaconnect_delivery.config import DeliverySettings
from metaconnect_delivery.service import Claimed, DeliveryService

log = logging.getLogger(__name__)
CLAIM_BATCH = 50


class DeliveryWorkers:
    def __init__(self, service: DeliveryService, settings: DeliverySettings) -> None:
        self._service = service
        self._concurrency = settings.concurrency
        self._per_channel = settings.channel_concurrency
        self._poll_s = settings.poll_s
        self._busy: Counter[Channel] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._woken = asyncio.Event()

    def wake(self) -> None:
        self._woken.set()

    async def run(self) -> None:
        """Claim and attempt until cancelled; attempts in flight finish first (each writes its outcome)."""
        try:
            while True:
                self._woken.clear()
                free = self._concurrency - len(self._tasks)
                claimed: list[Claimed] = []
                if free > 0:
                    full = [c for c, n in self._busy.items() if n >= self._per_channel]
                    full += self._service.throttled_channels()  # the poll comes back when a call may go
                    try:
                        claimed = await self._service.claim(min(free, CLAIM_BATCH), skip_channels=full)
                    except Exception:  # the database is away: try again after a pause
                        log.exception("claiming due deliveries failed")
                for one in claimed:
                    self._start(one)
                if claimed and len(claimed) == min(free, CLAIM_BATCH):
                    continue  # there may be more due now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), self._poll_s)
        finally:
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    def _start(self, claimed: Claimed) -> None:
        channel = claimed.channel
        self._busy[channel] += 1
        task = asyncio.create_task(self._attempt(claimed), name=f"deliver {claimed.delivery.id}")
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            self._busy[channel] -= 1
            self.wake()  # a slot is free, and its delivery may be due on its next channel now

        task.add_done_callback(done)

    async def _attempt(self, claimed: Claimed) -> None:
        try:
            await self._service.attempt(claimed)
        except Exception:  # its lease runs out and a later claim tries again (recorded as interrupted)
            log.exception("attempting delivery %s failed", claimed.delivery.id)
