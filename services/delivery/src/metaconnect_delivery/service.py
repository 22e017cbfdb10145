"""Send every delivery once: accept it, then attempt it from the schedule until it is sent or failed.

1. **Accept** (the consumer's whole job, `accept`): store the delivery as `pending`, due now, with
   its command (addresses included) in one transaction; the consumer then commits its offsets. A
   known id is not stored again: a redelivered record sends nothing twice.
2. **Claim** (`claim`, by the workers of `worker.py`): due deliveries, oldest first, at most one
   per customer at a time and only the customer's oldest pending one (a customer's deliveries
   keep their order), each under a lease (`FOR UPDATE SKIP LOCKED`: any number of replicas).
3. **Attempt** (`attempt`): one try on the delivery's current channel: the channel's provider
   (none configured: next channel), its circuit (open: next channel), the rendered message (one
   item that cannot render is left out with its own `message.failed`; none renders: the
   delivery fails), then the call: one per device token for push, each its own attempt row.
   `schedule.after` decides the next step, written in one transaction with the attempt rows:
   `sent` (receipts, the inbox message or the inbox copy), a retry at a later `next_attempt_at`
   (backoff with jitter, `Retry-After` honoured), the next channel, or `failed` (a
   `message.failed` and the delivery on `mc.dlq.delivery.v1`). Past its deadline a delivery fails.

Nothing waits on the consumer path or holds a partition: a retry is a row with a time. A send
whose outcome is unknown (a timeout after the request went out, or a process killed during the
call: its lease runs out and the next claim finds it `interrupted`) is recorded `unknown` and
tried again with the same idempotency key the provider dedupes by (FCM collapse id, webhook
`Idempotency-Key`, SMTP `Message-ID`, all the delivery id). A process killed during a backoff
loses nothing and sends nothing twice: the retry is a row.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.db import unit_of_work
from metaconnect_common.kafka.dead_letters import error_headers
from metaconnect_common.kafka.producer import OutgoingRecord
from metaconnect_common.kafka.tracing import context_from, links_to, traceparent_of
from metaconnect_common.outbox import enqueue
from metaconnect_common.schemas import Channel
from metaconnect_common.schemas.delivery import Delivery
from metaconnect_common.schemas.profiled import Contact
from metaconnect_common.topics import dlq_topic
from metaconnect_delivery import metrics, repository
from metaconnect_delivery.config import DeliverySettings
from metaconnect_delivery.inbox.feed import notify
from metaconnect_delivery.models import OUTBOX
from metaconnect_delivery.outcomes import bounce_record, inbox_row, item_summary, items_left_out
from metaconnect_delivery.providers.base import Outgoing, SendResult, Verdict
from metaconnect_delivery.receipts import receipt, receipt_record
from metaconnect_delivery.registry import GuardedProvider, Registry
from metaconnect_delivery.reliability import Backoff
from metaconnect_delivery.rendering.failures import NothingRendered, RenderFailure
from metaconnect_delivery.rendering.messages import InAppMessage
from metaconnect_delivery.rendering.render import Rendering, render_delivery
from metaconnect_delivery.schedule import (
    Failed,
    FailOver,
    Progress,
    Retry,
    RetryPolicy,
    Sent,
    Step,
    after,
    held,
    next_channel,
)
from metaconnect_delivery.sending import (
    Tried,
    accepted,
    combine,
    outcome_of,
    rounds,
    skipped,
    token_hash,
    traced_send,
)

log = logging.getLogger(__name__)
tracer = trace.get_tracer("metaconnect.delivery")
STAGE = "delivery"
DONE = frozenset({"sent", "failed"})


def retry_policy(settings: DeliverySettings) -> RetryPolicy:
    """Attempts, backoff and deadline from the settings: deliveries and notifications alike."""
    return RetryPolicy(
        attempts=settings.attempts,
        backoff=Backoff(
            base_s=settings.backoff_base_s,
            cap_s=max(settings.backoff_cap_s, settings.backoff_base_s),
            max_retry_after_s=settings.max_retry_after_s,
        ),
        deadline=timedelta(seconds=settings.deadline_s),
    )


@dataclass(frozen=True)
class Claimed:
    """A due delivery a worker holds the lease of."""

    delivery: Delivery
    traceparent: str | None
    """The accepting consumer's span: each attempt's `deliver` span is its child."""
    progress: Progress
    attempt_count: int
    done_tokens: frozenset[str]
    interrupted: bool
    """The previous claim's lease ran out during its attempt: that attempt's outcome is unknown."""

    @property
    def channel(self) -> Channel:
        return self.delivery.channels[self.progress.channel_index]


class DeliveryService:
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

    @property
    def max_sms_segments(self) -> int:
        """An SMS is shortened to this many parts (a preview holds texts to it too)."""
        return self._settings.max_sms_segments

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self._sessions

    async def accept(self, deliveries: Sequence[tuple[Delivery, str | None]]) -> None:
        """Store the deliveries (each with its record's `traceparent`) as pending and due now, in one
        transaction; ids stored before are left alone."""
        now = datetime.now(UTC)
        # Attempts continue the consuming span's trace: the record's own (a batch's span only links them).
        here = trace.get_current_span().get_span_context()
        rows = []
        for delivery, traceparent in {d.id: (d, t) for d, t in deliveries}.values():
            trace_id = traceparent.split("-")[1] if traceparent and traceparent.count("-") == 3 else None
            parent = traceparent_of(here) if trace_id and f"{here.trace_id:032x}" == trace_id else traceparent
            rows.append(
                {
                    "id": delivery.id,
                    "customer_id": delivery.customer_id,
                    "status": "pending",
                    "channels": [c.value for c in delivery.channels],
                    "bundle_id": delivery.bundle_id,
                    "urgent": delivery.urgent,
                    "items": [item_summary(i) for i in delivery.items],
                    "trace_id": trace_id,
                    "created_at": now,
                    "updated_at": now,
                    "command": delivery.model_dump(mode="json"),
                    "traceparent": parent,
                    "next_attempt_at": now,
                }
            )
        async with unit_of_work(self._sessions) as session:
            await repository.accept(session, rows)
            await repository.remember_refs(
                session, [(d.customer_id, d.identities, d.created_at) for d, _ in deliveries]
            )

    def throttled_channels(self) -> list[Channel]:
        """Channels not worth claiming for now: their provider is at its rate."""
        return self._registry.throttled(time.monotonic())

    async def claim(self, limit: int, *, skip_channels: Sequence[Channel] = ()) -> list[Claimed]:
        """Due deliveries (not on `skip_channels` now), each leased to the caller."""
        now = datetime.now(UTC)
        lease_until = now + timedelta(seconds=self._settings.lease_s)
        async with unit_of_work(self._sessions) as session:
            rows = await repository.claim_due(
                session, now=now, lease_until=lease_until, limit=limit, skip=[c.value for c in skip_channels]
            )
        claimed = []
        for row in rows:
            delivery = Delivery.model_validate(row["command"])
            claimed.append(
                Claimed(
                    delivery=delivery,
                    traceparent=row["traceparent"],
                    progress=Progress(
                        channel_index=row["channel_index"],
                        channel_attempts=row["channel_attempts"],
                        channels=len(delivery.channels),
                        accepted_at=row["created_at"],
                    ),
                    attempt_count=row["attempt_count"],
                    done_tokens=frozenset(row["done_tokens"]),
                    interrupted=row["interrupted"],
                )
            )
        return claimed

    async def attempt(self, claimed: Claimed) -> str:
        """One attempt on the claimed delivery and its next step; returns its status (`pending`,
        `sent`, `failed`). A bundle's span links to the trace of every item (each interaction's own)."""
        delivery = claimed.delivery
        bundled = delivery.bundle_id is not None or len(delivery.items) > 1
        with tracer.start_as_current_span(
            "deliver",
            context=context_from(claimed.traceparent),
            kind=SpanKind.INTERNAL,
            links=links_to(i.traceparent for i in delivery.items) if bundled else None,
            attributes={
                "metaconnect.delivery_id": str(delivery.id),
                "metaconnect.bundle_id": str(delivery.bundle_id) if delivery.bundle_id else "",
                "metaconnect.delivery.items": len(delivery.items),
                "metaconnect.delivery.channels": [c.value for c in delivery.channels],
                "metaconnect.delivery.channel": claimed.channel.value,
                "metaconnect.attempt": claimed.attempt_count + 1,
            },
        ) as span:
            status = await self._attempt(claimed)
            span.set_attribute("metaconnect.delivery.status", status)
            if status == "failed":
                span.set_status(Status(StatusCode.ERROR, "every channel failed"))
            return status

    async def _attempt(self, claimed: Claimed) -> str:
        await self._registry.refresh(self._sessions)
        delivery, channel, progress = claimed.delivery, claimed.channel, claimed.progress
        tried: list[Tried] = []
        if claimed.interrupted:
            interrupted = SendResult(Verdict.RETRY, "interrupted", unknown=True)
            tried.append(Tried(interrupted))
            progress = replace(progress, channel_attempts=progress.channel_attempts + 1)
        now = datetime.now(UTC)
        deadline = progress.accepted_at + self._policy.deadline
        guarded = self._registry.for_channel(channel) if channel is not Channel.IN_APP else None
        if channel is not Channel.IN_APP and guarded is None:
            tried.append(Tried(skipped("no_provider")))
            return await self._record(claimed, tried, next_channel(progress, "no_provider", now=now, deadline=deadline))
        try:
            rendering = render_delivery(delivery, channel, max_sms_segments=self._settings.max_sms_segments)
        except RenderFailure as failure:
            tried.append(Tried(skipped(failure.reason.value), provider=guarded.provider.name if guarded else None))
            left_out = failure.dropped if isinstance(failure, NothingRendered) else ()
            return await self._record(claimed, tried, Failed(failure.reason.value), left_out=left_out)
        if guarded is None:  # in-app: the inbox is ours, it takes the message at once
            tried.append(Tried(accepted(), provider="inbox"))
            return await self._record(claimed, tried, Sent(), rendering=rendering)
        if not guarded.circuit.allow(time.monotonic()):
            waiting = held(
                progress, "circuit_open", wait_s=guarded.circuit.wait_s(time.monotonic()), now=now, deadline=deadline
            )
            if not isinstance(waiting, Retry):  # a wait for the circuit is no attempt; leaving the channel is
                tried.append(Tried(skipped("circuit_open"), provider=guarded.provider.name))
            return await self._record(claimed, tried, waiting)
        wait = guarded.bucket.take(time.monotonic())
        if wait > 0:  # over the provider's rate: due again when a slot is free, no attempt made
            return await self._record(claimed, tried, Retry(now + timedelta(seconds=wait)))
        calls = await self._send(guarded, claimed, rendering)
        for call in calls:
            if call.result.counts_against_provider:
                guarded.circuit.failure(time.monotonic())
            else:  # it answered, even if it refused this message
                guarded.circuit.success()
        tried.extend(calls)
        step = after(progress, combine(calls), now=datetime.now(UTC), policy=self._policy, rng=self._rng)
        if isinstance(step, Retry):
            metrics.RETRIES.labels(channel.value, guarded.provider.name).inc()
        return await self._record(claimed, tried, step, rendering=rendering)

    async def _send(self, guarded: GuardedProvider, claimed: Claimed, rendering: Rendering) -> list[Tried]:
        """The provider call: for push one per device token not yet done (at once), else one."""
        delivery, provider = claimed.delivery, guarded.provider
        number = claimed.attempt_count + 1
        if claimed.channel is not Channel.PUSH or not delivery.contact.push_tokens:
            outgoing = Outgoing(str(delivery.id), str(delivery.customer_id), delivery.contact, rendering.message)
            result, elapsed_ms = await traced_send(provider, outgoing, number)
            return [Tried(result, elapsed_ms, provider=provider.name)]
        tokens = [t for t in delivery.contact.push_tokens if token_hash(t) not in claimed.done_tokens]

        async def one(token: str) -> Tried:
            contact = Contact(push_tokens=[token])
            outgoing = Outgoing(str(delivery.id), str(delivery.customer_id), contact, rendering.message)
            result, elapsed_ms = await traced_send(provider, outgoing, number)
            return Tried(result, elapsed_ms, token=token_hash(token), provider=provider.name)

        return list(await asyncio.gather(*(one(t) for t in tokens)))

    async def _record(
        self,
        claimed: Claimed,
        tried: Sequence[Tried],
        step: Step,
        *,
        rendering: Rendering | None = None,
        left_out: Sequence[RenderFailure] = (),
    ) -> str:
        """The attempt rows and the step, in one transaction: the delivery sent (receipts first a
        `message.failed` for each item left out, then `message.sent` naming the others; the inbox
        message or copy), due again later, on its next channel now, or failed."""
        delivery, channel = claimed.delivery, claimed.channel
        now = datetime.now(UTC)
        number = claimed.attempt_count
        records: list[OutgoingRecord] = []
        async with unit_of_work(self._sessions) as session:
            rows = []
            for t in tried:
                number += 1
                outcome = outcome_of(t.result)
                metrics.ATTEMPTS.labels(channel.value, t.provider or "none", outcome).inc()
                response = dict(t.result.response) | ({"token_sha256": t.token} if t.token else {})
                rows.append(
                    {
                        "delivery_id": delivery.id,
                        "number": number,
                        "channel": channel.value,
                        "provider": t.provider,
                        "outcome": outcome,
                        "status_code": t.result.status_code,
                        "reason": t.result.reason[:63],
                        "response": response,
                        "duration_ms": t.elapsed_ms or None,
                        "started_at": now,
                    }
                )
                if t.result.address_invalid:  # the profile stops counting this address reachable
                    records.append(bounce_record(delivery, channel, t, now))
            await repository.add_attempts(session, rows)
            done = claimed.done_tokens | {t.token for t in tried if t.token and t.result.verdict is not Verdict.RETRY}
            attempts = claimed.progress.channel_attempts + rounds(tried)
            match step:
                case Sent():
                    sent_by = next((t for t in reversed(tried) if t.result.verdict is Verdict.SENT), tried[-1])
                    records += await self._sent(session, delivery, channel, sent_by, rendering, now)
                case Retry(at=at):
                    await repository.reschedule(
                        session,
                        delivery.id,
                        next_attempt_at=at,
                        channel_index=claimed.progress.channel_index,
                        channel_attempts=attempts,
                        attempt_count=number,
                        done_tokens=sorted(done),
                        updated_at=now,
                    )
                case FailOver(channel_index=index):
                    await repository.reschedule(
                        session,
                        delivery.id,
                        next_attempt_at=now,
                        channel_index=index,
                        channel_attempts=0,
                        attempt_count=number,
                        done_tokens=[],
                        updated_at=now,
                    )
                case Failed(reason=reason):
                    records += self._failed(delivery, channel, reason, number, left_out, now)
                    await repository.finish(session, delivery.id, status="failed", reason=reason[:63], updated_at=now)
            await enqueue(session, OUTBOX, records)
        match step:
            case Sent():
                metrics.DELIVERIES.labels(channel.value, sent_by.provider or "none", "sent").inc()
                return "sent"
            case Failed(reason=reason):
                metrics.DELIVERIES.labels(channel.value, "none", "failed").inc()
                metrics.DEAD_LETTERED.labels(reason[:63]).inc()
                log.warning("delivery %s failed: %s", delivery.id, reason)
                return "failed"
        return "pending"

    async def _sent(
        self,
        session: AsyncSession,
        delivery: Delivery,
        channel: Channel,
        sent_by: Tried,
        rendering: Rendering | None,
        now: datetime,
    ) -> list[OutgoingRecord]:
        await repository.finish(
            session,
            delivery.id,
            status="sent",
            channel=channel.value,
            provider=sent_by.provider,
            provider_message_id=sent_by.result.provider_message_id,
            sent_at=now,
            updated_at=now,
        )
        carried, records = (
            items_left_out(delivery, rendering.items, rendering.dropped, channel, now)
            if rendering
            else (list(delivery.items), [])
        )
        provider = sent_by.provider
        records.append(
            receipt_record(
                receipt(delivery, "message.sent", channel=channel, provider=provider, now=now, items=carried)
            )
        )
        message = rendering.message if rendering else None
        if isinstance(message, InAppMessage):
            await repository.add_to_inbox(session, inbox_row(delivery, message, now))
            await notify(session, delivery.customer_id)
            delivered = receipt(
                delivery, "message.delivered", channel=channel, provider=provider, now=now, items=carried
            )
            records.append(receipt_record(delivered))
        elif delivery.inbox_copy:
            await self._inbox_copy(session, delivery, now)
        return records

    async def _inbox_copy(self, session: AsyncSession, delivery: Delivery, now: datetime) -> None:
        """A transactional message sent on a notifying channel, kept in the customer's inbox too."""
        try:
            copy = render_delivery(delivery, Channel.IN_APP, max_sms_segments=self._settings.max_sms_segments)
        except RenderFailure as failure:
            log.warning("delivery %s: no inbox copy, it does not render in-app: %s", delivery.id, failure.reason.value)
            return
        if isinstance(copy.message, InAppMessage):
            await repository.add_to_inbox(session, inbox_row(delivery, copy.message, now))
            await notify(session, delivery.customer_id)

    def _failed(
        self,
        delivery: Delivery,
        channel: Channel,
        reason: str,
        attempts: int,
        left_out: Sequence[RenderFailure],
        now: datetime,
    ) -> list[OutgoingRecord]:
        """Every channel failed, or no item rendered (`left_out`: a `message.failed` per item, naming its
        variable, instead of one for the whole delivery); and the delivery on the dead-letter topic."""
        if left_out:
            receipts = items_left_out(delivery, (), left_out, channel, now)[1]
        else:
            failed = receipt(delivery, "message.failed", channel=channel, provider=None, now=now, reason=reason)
            receipts = [receipt_record(failed)]
        dead = OutgoingRecord(
            topic=dlq_topic(STAGE),
            key=delivery.kafka_key(),
            value=delivery.model_dump_json().encode(),
            headers=[
                *error_headers(error_type="DeliveryFailed", message=reason, stage=STAGE, attempts=attempts),
                ("mc.delivery_id", str(delivery.id).encode()),
            ],
        )
        return [*receipts, dead]
