"""Send every delivery once: render, call the provider with retries, fail over, record, report.

For each `mc.deliveries.v1` record (its id is the idempotency key):

1. Claim it: insert the delivery row as `sending` (committed). A delivery already `sent` or
   `failed` is done: a redelivered record sends nothing twice once its outcome was recorded.
2. For each channel in the router's order: the channel's provider (none configured: next
   channel), its circuit (open: next channel), the rendered message (a template error fails
   the whole delivery with its reason; it never crashes the consumer), then up to
   `attempts` calls with exponential backoff and full jitter on timeouts, refused
   connections, 408, 429 (its `Retry-After` honoured up to `max_retry_after_s`) and 5xx; a
   permanent answer (4xx, no address) fails over at once.
3. Every call is one attempt row with the provider's answer. A successful call is recorded
   in the same transaction as the delivery turning `sent`, its receipt (`message.sent`) in
   the outbox and, for in-app, the inbox message.
4. When every channel failed: `failed` with the last reason, a `message.failed` receipt and
   the delivery on the dead-letter topic `mc.dlq.delivery.v1`, in one transaction.

A process killed between a provider's answer and step 3's commit sends that message again
when the record is redelivered (at least once); the provider sees the same delivery id as
its idempotency key or collapse id.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.db import unit_of_work
from metaconnect_common.kafka.dead_letters import error_headers
from metaconnect_common.kafka.producer import OutgoingRecord
from metaconnect_common.kafka.tracing import links_to
from metaconnect_common.outbox import enqueue
from metaconnect_common.schemas import Channel
from metaconnect_common.schemas.delivery import Delivery, DeliveryItem
from metaconnect_common.topics import dlq_topic
from metaconnect_delivery import metrics, repository
from metaconnect_delivery.config import DeliverySettings
from metaconnect_delivery.inbox.feed import notify
from metaconnect_delivery.models import OUTBOX
from metaconnect_delivery.providers.base import Outgoing, Provider, SendResult, Verdict
from metaconnect_delivery.receipts import item_failed, receipt, receipt_record
from metaconnect_delivery.registry import Registry
from metaconnect_delivery.reliability import Backoff
from metaconnect_delivery.rendering.failures import NothingRendered, RenderFailure
from metaconnect_delivery.rendering.messages import InAppMessage, RenderedItem
from metaconnect_delivery.rendering.render import Rendering, render_delivery

log = logging.getLogger(__name__)
tracer = trace.get_tracer("metaconnect.delivery")
STAGE = "delivery"
DONE = frozenset({"sent", "failed"})


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
        self._backoff = Backoff(
            base_s=settings.backoff_base_s,
            cap_s=max(settings.backoff_cap_s, settings.backoff_base_s),
            max_retry_after_s=settings.max_retry_after_s,
        )
        self._rng = rng or random.Random()

    async def deliver(self, delivery: Delivery, *, traceparent: str | None = None) -> str:
        """Send `delivery` unless its outcome is recorded; returns its final status.

        Its span links to the trace of every item of a bundle (each interaction's own trace)."""
        bundled = delivery.bundle_id is not None or len(delivery.items) > 1
        with tracer.start_as_current_span(
            "deliver",
            kind=SpanKind.INTERNAL,
            links=links_to(i.traceparent for i in delivery.items) if bundled else None,
            attributes={
                "metaconnect.delivery_id": str(delivery.id),
                "metaconnect.bundle_id": str(delivery.bundle_id) if delivery.bundle_id else "",
                "metaconnect.delivery.items": len(delivery.items),
                "metaconnect.delivery.channels": [c.value for c in delivery.channels],
            },
        ) as span:
            status = await self._deliver(delivery, traceparent)
            span.set_attribute("metaconnect.delivery.status", status)
            if status == "failed":
                span.set_status(Status(StatusCode.ERROR, "every channel failed"))
            return status

    async def _deliver(self, delivery: Delivery, traceparent: str | None) -> str:
        await self._registry.refresh(self._sessions)
        status = await self._claim(delivery, traceparent)
        if status in DONE:
            return status
        number = await self._attempts_so_far(delivery.id)
        reason = "no_channel"
        for channel in delivery.channels:
            guarded = self._registry.for_channel(channel) if channel is not Channel.IN_APP else None
            if channel is not Channel.IN_APP and guarded is None:
                number += 1
                await self._attempt(delivery, number, channel, None, _skipped("no_provider"), 0.0)
                reason = "no_provider"
                continue
            try:
                rendering = render_delivery(delivery, channel, max_sms_segments=self._settings.max_sms_segments)
            except RenderFailure as failure:
                number += 1
                result = _skipped(failure.reason.value)
                await self._attempt(delivery, number, channel, guarded.provider.name if guarded else None, result, 0.0)
                left_out = failure.dropped if isinstance(failure, NothingRendered) else ()
                return await self._fail(delivery, channel, failure.reason.value, number, left_out=left_out)
            message = rendering.message
            if guarded is None:  # in-app: the inbox is ours, it takes the message at once
                number += 1
                await self._attempt(delivery, number, channel, "inbox", _accepted(), 0.0, rendering)
                return "sent"
            for attempt in range(1, self._settings.attempts + 1):
                if not guarded.circuit.allow(time.monotonic()):
                    number += 1
                    result = _skipped("circuit_open")
                    await self._attempt(delivery, number, channel, guarded.provider.name, result, 0.0)
                    reason = "circuit_open"
                    break
                wait = guarded.bucket.reserve(time.monotonic())
                if wait > 0:
                    await asyncio.sleep(wait)
                outgoing = Outgoing(str(delivery.id), str(delivery.customer_id), delivery.contact, message)
                result, elapsed_ms = await _traced_send(guarded.provider, outgoing, attempt)
                if result.counts_against_provider:
                    guarded.circuit.failure(time.monotonic())
                else:  # it answered, even if it refused this message
                    guarded.circuit.success()
                number += 1
                await self._attempt(delivery, number, channel, guarded.provider.name, result, elapsed_ms, rendering)
                if result.verdict is Verdict.SENT:
                    return "sent"
                reason = result.reason
                if result.verdict is Verdict.PERMANENT or attempt == self._settings.attempts:
                    break
                if result.retry_after_s is not None and result.retry_after_s > self._settings.max_retry_after_s:
                    break  # the provider asks for a longer pause than a delivery should wait: fail over
                metrics.RETRIES.labels(channel.value, guarded.provider.name).inc()
                await asyncio.sleep(self._backoff.delay(attempt, self._rng, retry_after_s=result.retry_after_s))
        return await self._fail(delivery, delivery.channels[-1], reason, number)

    async def _claim(self, delivery: Delivery, traceparent: str | None) -> str:
        now = datetime.now(UTC)
        async with unit_of_work(self._sessions) as session:
            claimed = await repository.claim(
                session,
                {
                    "id": delivery.id,
                    "customer_id": delivery.customer_id,
                    "status": "sending",
                    "channels": [c.value for c in delivery.channels],
                    "bundle_id": delivery.bundle_id,
                    "urgent": delivery.urgent,
                    "items": [_item_summary(i) for i in delivery.items],
                    "trace_id": traceparent.split("-")[1] if traceparent and traceparent.count("-") == 3 else None,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            if claimed:
                await repository.remember_refs(session, delivery.customer_id, delivery.identities, delivery.created_at)
                return "sending"
            row = await repository.delivery(session, delivery.id)
            return row.status if row else "sending"

    async def _attempts_so_far(self, delivery_id: uuid.UUID) -> int:
        async with self._sessions() as session:
            return len(await repository.attempts(session, delivery_id))

    async def _attempt(
        self,
        delivery: Delivery,
        number: int,
        channel: Channel,
        provider: str | None,
        result: SendResult,
        elapsed_ms: float,
        rendering: Rendering | None = None,
    ) -> None:
        """One attempt row; a successful one also turns the delivery `sent`, with its receipts: first
        a `message.failed` for each item left out, then the others' `message.sent` naming only them."""
        now = datetime.now(UTC)
        outcome = "skipped" if result.response.get("skipped") else result.verdict.value
        metrics.ATTEMPTS.labels(channel.value, provider or "none", outcome).inc()
        async with unit_of_work(self._sessions) as session:
            await repository.add_attempt(
                session,
                {
                    "delivery_id": delivery.id,
                    "number": number,
                    "channel": channel.value,
                    "provider": provider,
                    "outcome": outcome,
                    "status_code": result.status_code,
                    "reason": result.reason[:63],
                    "response": dict(result.response),
                    "duration_ms": elapsed_ms or None,
                    "started_at": now,
                },
            )
            if result.address_invalid:  # the profile stops counting the channel reachable
                bounced = receipt(
                    delivery, "message.bounced", channel=channel, provider=provider, now=now, reason=result.reason
                )
                await enqueue(session, OUTBOX, [receipt_record(bounced, bounce="hard")])
            if result.verdict is not Verdict.SENT:
                return
            await repository.finish(
                session,
                delivery.id,
                status="sent",
                channel=channel.value,
                provider=provider,
                provider_message_id=result.provider_message_id,
                sent_at=now,
                updated_at=now,
            )
            carried, records = (
                _left_out(delivery, rendering.items, rendering.dropped, channel, now)
                if rendering
                else (list(delivery.items), [])
            )
            sent = receipt(delivery, "message.sent", channel=channel, provider=provider, now=now, items=carried)
            records.append(receipt_record(sent))
            message = rendering.message if rendering else None
            if isinstance(message, InAppMessage):
                await repository.add_to_inbox(session, _inbox_row(delivery, message, now))
                await notify(session, delivery.customer_id)
                delivered = receipt(
                    delivery, "message.delivered", channel=channel, provider=provider, now=now, items=carried
                )
                records.append(receipt_record(delivered))
            await enqueue(session, OUTBOX, records)
        metrics.DELIVERIES.labels(channel.value, provider or "none", "sent").inc()

    async def _fail(
        self,
        delivery: Delivery,
        channel: Channel,
        reason: str,
        attempts: int,
        *,
        left_out: Sequence[RenderFailure] = (),
    ) -> str:
        """Every channel failed, or no item rendered (`left_out`: a `message.failed` per item, naming its
        variable, instead of one for the whole delivery)."""
        now = datetime.now(UTC)
        async with unit_of_work(self._sessions) as session:
            await repository.finish(session, delivery.id, status="failed", reason=reason[:63], updated_at=now)
            if left_out:
                receipts = _left_out(delivery, (), left_out, channel, now)[1]
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
            await enqueue(session, OUTBOX, [*receipts, dead])
        metrics.DELIVERIES.labels(channel.value, "none", "failed").inc()
        metrics.DEAD_LETTERED.labels(reason[:63]).inc()
        log.warning("delivery %s failed: %s", delivery.id, reason)
        return "failed"


async def _traced_send(provider: Provider, outgoing: Outgoing, attempt: int) -> tuple[SendResult, float]:
    """One provider call as a CLIENT span of the delivery's trace (no address, no secret on it)."""
    with tracer.start_as_current_span(
        f"send {provider.channel.value}",
        kind=SpanKind.CLIENT,
        attributes={
            "metaconnect.provider": provider.name,
            "metaconnect.channel": provider.channel.value,
            "metaconnect.delivery_id": outgoing.delivery_id,
            "metaconnect.attempt": attempt,
            **_server(provider),
        },
    ) as span:
        started = time.perf_counter()
        result = await provider.send(outgoing)
        elapsed = time.perf_counter() - started
        elapsed_ms = elapsed * 1000
        metrics.PROVIDER_SECONDS.labels(provider.channel.value, provider.name, result.verdict.value).observe(elapsed)
        span.set_attribute("metaconnect.outcome", result.verdict.value)
        span.set_attribute("metaconnect.reason", result.reason)
        if result.status_code is not None:
            span.set_attribute("http.response.status_code", result.status_code)
        if result.verdict is not Verdict.SENT:
            span.set_status(Status(StatusCode.ERROR, result.reason))
        return result, elapsed_ms


def _server(provider: Provider) -> dict[str, str | int]:
    """Semantic-convention attributes of the provider's endpoint (host and port, never the path,
    which can name an account)."""
    url = urlsplit(provider.settings.base_url)
    attributes: dict[str, str | int] = {"server.address": url.hostname or "", "url.scheme": url.scheme}
    if url.port:
        attributes["server.port"] = url.port
    if url.scheme in ("http", "https"):
        attributes["http.request.method"] = "POST"
    return attributes


def _left_out(
    delivery: Delivery,
    shown_items: Sequence[RenderedItem],
    dropped: Sequence[RenderFailure],
    channel: Channel,
    now: datetime,
) -> tuple[list[DeliveryItem], list[OutgoingRecord]]:
    """The items a rendering carried, and a `message.failed` receipt for each item it left out
    (counted and logged, without values; items sent with their fallback text are counted too)."""
    for shown in shown_items:
        if shown.fallback is not None:
            metrics.TEMPLATE_FALLBACKS.labels(shown.fallback.reason.value).inc()
            log.info("delivery %s item %s sent with its fallback text: %s", delivery.id, shown.item_id, shown.fallback)
    by_id = {item.id: item for item in delivery.items}
    records: list[OutgoingRecord] = []
    for failure in dropped:
        item = by_id.get(failure.item_id) if failure.item_id else None
        if item is None:
            continue
        metrics.ITEMS_LEFT_OUT.labels(failure.reason.value).inc()
        log.warning("delivery %s left out item %s: %s", delivery.id, item.id, failure)
        failed = item_failed(
            delivery,
            item,
            channel=channel,
            now=now,
            reason=failure.reason.value,
            field=failure.field,
            variable=failure.variable,
        )
        records.append(receipt_record(failed))
    shown_ids = {shown.item_id for shown in shown_items}
    return [item for item in delivery.items if item.id in shown_ids], records


def _item_summary(item: DeliveryItem) -> dict[str, str]:
    return {
        "id": str(item.id),
        "decision_id": str(item.decision_id),
        "route": item.route,
        "message_id": item.message_id,
    }


def _skipped(reason: str) -> SendResult:
    return SendResult(Verdict.PERMANENT, reason, response={"skipped": True})


def _accepted() -> SendResult:
    return SendResult(Verdict.SENT, "stored")


def _inbox_row(delivery: Delivery, message: InAppMessage, now: datetime) -> dict[str, Any]:
    return {
        "id": uuid.uuid5(delivery.id, "inbox"),
        "customer_id": delivery.customer_id,
        "delivery_id": delivery.id,
        "content": {
            "items": [
                {
                    "item_id": str(i.item_id),
                    "message_id": i.message_id,
                    "title": i.title,
                    "body": i.body,
                    "action_url": i.action_url,
                    "tone": i.tone,
                    "category": i.category,
                }
                for i in message.items
            ],
            "overflow": message.overflow,
            "overflow_line": message.overflow_line,
        },
        "created_at": now,
        "read_at": None,
    }


__all__: Sequence[str] = ["DeliveryService"]
