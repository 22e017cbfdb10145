"""Notifications to staff: accepted once per id, then sent from the schedule like a delivery.

A notification takes the delivery path's provider of its channel (the same accounts, circuit
breakers and rate limits, `Registry`), its retry policy and backoff (`schedule.after`, `held`) and
its attempt rows (`attempts`, owned by the notification instead of a delivery). It is not a
customer's delivery: no customer, no receipt on `mc.interactions.v1`, no inbox message, no
fail-over to another channel. Its id is the provider's idempotency key too (SMTP `Message-ID`,
webhook `Idempotency-Key`), so a retry after an unknown outcome is recognisable as the same message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.db import unit_of_work
from metaconnect_common.schemas import Channel
from metaconnect_common.schemas.profiled import Contact
from metaconnect_delivery import metrics
from metaconnect_delivery.config import DeliverySettings
from metaconnect_delivery.models import Attempt, NotificationRow
from metaconnect_delivery.notifications import repository
from metaconnect_delivery.notifications.schemas import NotificationIn
from metaconnect_delivery.providers.base import Outgoing, SendResult, Verdict
from metaconnect_delivery.registry import Registry
from metaconnect_delivery.rendering.messages import EmailMessage, Rendered, WebhookMessage
from metaconnect_delivery.schedule import Failed, Progress, Retry, Sent, Step, after, held
from metaconnect_delivery.sending import Tried, outcome_of, skipped, traced_send
from metaconnect_delivery.service import retry_policy

log = logging.getLogger(__name__)
CLAIM_BATCH = 20


class IdReused(Exception):
    """The id names a notification with another channel or subject."""


@dataclass(frozen=True)
class ClaimedNotification:
    id: uuid.UUID
    channel: Channel
    subject: str
    content: dict[str, Any]
    attempt_count: int
    created_at: datetime
    interrupted: bool


def message_of(notification_id: uuid.UUID, channel: Channel, subject: str, content: dict[str, Any]) -> Rendered:
    """What the channel's provider sends: a multipart mail, or the webhook's JSON body."""
    if channel is Channel.EMAIL:
        return EmailMessage(subject=subject, text=content["text"], html=content.get("html") or "")
    payload: dict[str, Any] = {
        "type": "notification",
        "notification_id": str(notification_id),
        "subject": subject,
        "text": content["text"],
    }
    if content.get("data") is not None:
        payload["data"] = content["data"]
    return WebhookMessage(payload=payload)


class Notifications:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        registry: Registry,
        settings: DeliverySettings,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self._registry = registry
        self._settings = settings
        self._policy = retry_policy(settings)
        self._rng = rng or random.Random()
        self._woken = asyncio.Event()

    async def submit(self, body: NotificationIn, *, by: str) -> tuple[NotificationRow, bool]:
        """Store the notification, due now; the one stored before under its id if there is one
        (`IdReused` when that one has another channel or subject). True when it is new."""
        now = datetime.now(UTC)
        content = {"to": body.to, "text": body.text, "html": body.html, "data": body.data}
        async with unit_of_work(self._sessions) as session:
            added = await repository.add(
                session,
                {
                    "id": body.id,
                    "channel": body.channel,
                    "status": "pending",
                    "subject": body.subject,
                    "recipients": len(body.to),
                    "content": content,
                    "requested_by": by[:320],
                    "created_at": now,
                    "updated_at": now,
                    "next_attempt_at": now,
                },
            )
            row = await repository.notification(session, body.id)
        assert row is not None
        if not added and (row.channel != body.channel or row.subject != body.subject):
            raise IdReused
        if added:
            self.wake()
        return row, added

    async def read(self, notification_id: uuid.UUID) -> tuple[NotificationRow, Sequence[Attempt]] | None:
        async with self._sessions() as session:
            row = await repository.notification(session, notification_id)
            if row is None:
                return None
            return row, await repository.attempts(session, notification_id)

    def wake(self) -> None:
        self._woken.set()

    async def run(self) -> None:
        """Claim and send due notifications until cancelled; a cancelled send's lease runs out and
        the next claim tries it again (recorded as interrupted)."""
        while True:
            self._woken.clear()
            claimed: list[ClaimedNotification] = []
            try:
                claimed = await self.claim(CLAIM_BATCH)
            except Exception:  # the database is away: try again after a pause
                log.exception("claiming due notifications failed")
            outcomes = await asyncio.gather(*(self.attempt(c) for c in claimed), return_exceptions=True)
            for one, outcome in zip(claimed, outcomes, strict=True):
                if isinstance(outcome, Exception):  # its lease runs out and a later claim tries again
                    log.error("attempting notification %s failed: %s", one.id, type(outcome).__name__)
            if len(claimed) == CLAIM_BATCH:
                continue  # there may be more due now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), self._settings.poll_s)

    async def claim(self, limit: int) -> list[ClaimedNotification]:
        now = datetime.now(UTC)
        async with unit_of_work(self._sessions) as session:
            rows = await repository.claim_due(
                session, now=now, lease_until=now + timedelta(seconds=self._settings.lease_s), limit=limit
            )
        return [
            ClaimedNotification(
                id=r["id"],
                channel=Channel(r["channel"]),
                subject=r["subject"],
                content=r["content"],
                attempt_count=r["attempt_count"],
                created_at=r["created_at"],
                interrupted=r["interrupted"],
            )
            for r in rows
        ]

    async def attempt(self, claimed: ClaimedNotification) -> str:
        """One try through the channel's provider and the next step; returns the status."""
        await self._registry.refresh(self._sessions)
        tried: list[Tried] = []
        if claimed.interrupted:  # the call before may have gone out: it counts as an attempt
            tried.append(Tried(SendResult(Verdict.RETRY, "interrupted", unknown=True)))
        made = claimed.attempt_count + len(tried)
        progress = Progress(channel_index=0, channel_attempts=made, channels=1, accepted_at=claimed.created_at)
        now = datetime.now(UTC)
        deadline = claimed.created_at + self._policy.deadline
        guarded = self._registry.for_channel(claimed.channel)
        if guarded is None:
            tried.append(Tried(skipped("no_provider")))
            return await self._record(claimed, tried, Failed("no_provider"))
        if not guarded.circuit.allow(time.monotonic()):
            wait_s = guarded.circuit.wait_s(time.monotonic())
            waiting = held(progress, "circuit_open", wait_s=wait_s, now=now, deadline=deadline)
            if not isinstance(waiting, Retry):
                tried.append(Tried(skipped("circuit_open"), provider=guarded.provider.name))
            return await self._record(claimed, tried, waiting)
        wait = guarded.bucket.take(time.monotonic())
        if wait > 0:  # over the provider's rate: due again when a call may go, no attempt made
            return await self._record(claimed, tried, Retry(now + timedelta(seconds=wait)))
        outgoing = Outgoing(
            delivery_id=str(claimed.id),
            customer_id="",
            contact=Contact(),
            message=message_of(claimed.id, claimed.channel, claimed.subject, claimed.content),
            recipients=tuple(claimed.content.get("to") or ()),
        )
        result, elapsed_ms = await traced_send(guarded.provider, outgoing, claimed.attempt_count + len(tried) + 1)
        if result.counts_against_provider:
            guarded.circuit.failure(time.monotonic())
        else:
            guarded.circuit.success()
        tried.append(Tried(result, elapsed_ms, provider=guarded.provider.name))
        step = after(progress, result, now=datetime.now(UTC), policy=self._policy, rng=self._rng)
        return await self._record(claimed, tried, step)

    async def _record(self, claimed: ClaimedNotification, tried: Sequence[Tried], step: Step) -> str:
        """The attempt rows and the next step in one transaction. Sent or failed, the content
        (addresses, text) is dropped."""
        now = datetime.now(UTC)
        number = claimed.attempt_count
        rows = []
        for t in tried:
            number += 1
            outcome = outcome_of(t.result)
            metrics.ATTEMPTS.labels(claimed.channel.value, t.provider or "none", outcome).inc()
            rows.append(
                {
                    "notification_id": claimed.id,
                    "number": number,
                    "channel": claimed.channel.value,
                    "provider": t.provider,
                    "outcome": outcome,
                    "status_code": t.result.status_code,
                    "reason": t.result.reason[:63],
                    "response": dict(t.result.response),
                    "duration_ms": t.elapsed_ms or None,
                    "started_at": now,
                }
            )
        async with unit_of_work(self._sessions) as session:
            await repository.add_attempts(session, rows)
            match step:
                case Sent():
                    sent_by = next(t for t in reversed(tried) if t.result.verdict is Verdict.SENT)
                    status = "sent"
                    await repository.update_notification(
                        session,
                        claimed.id,
                        status=status,
                        content=None,
                        provider=sent_by.provider,
                        provider_message_id=sent_by.result.provider_message_id,
                        sent_at=now,
                        updated_at=now,
                        next_attempt_at=None,
                        attempt_count=number,
                    )
                case Retry(at=at):
                    status = "pending"
                    await repository.update_notification(
                        session, claimed.id, next_attempt_at=at, updated_at=now, attempt_count=number
                    )
                case _:  # failed: a notification has one channel, nothing to fail over to
                    status = "failed"
                    reason = step.reason if isinstance(step, Failed) else "failed"
                    await repository.update_notification(
                        session,
                        claimed.id,
                        status=status,
                        content=None,
                        reason=reason[:63],
                        updated_at=now,
                        next_attempt_at=None,
                        attempt_count=number,
                    )
        # The id and the outcome only: never an address or the text.
        log.info("notification %s on %s: %s after %d attempts", claimed.id, claimed.channel.value, status, number)
        return status
