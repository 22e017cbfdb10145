"""Meta-connect bundles in the database: items join a customer's open bundle; due bundles flush
into one delivery on one channel chosen at flush time; urgent items go at once.

The pure rules are in `bundling.py`; this module loads and stores their inputs and outputs
inside the caller's transaction. The flusher claims due bundles with `FOR UPDATE SKIP
LOCKED`, so replicas never flush the same bundle, and the delivery is written to the
outbox in the transaction that marks the bundle flushed: a crash before the commit leaves
the bundle open for the next claim, a crash after it leaves the record for the relay.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.db import unit_of_work
from metaconnect_common.kafka.producer import OutgoingRecord
from metaconnect_common.outbox import enqueue
from metaconnect_common.schemas import Channel
from metaconnect_common.schemas.delivery import Delivery, DeliveryItem
from metaconnect_common.schemas.profiled import ProfileSnapshot
from metaconnect_common.topics import DELIVERIES
from metaconnect_router.bundles import bundling
from metaconnect_router.bundles import repository as bundles
from metaconnect_router.decisions import repository as decisions
from metaconnect_router.decisions.channels import choose_channel
from metaconnect_router.decisions.eligibility import local_now
from metaconnect_router.models import OUTBOX, Bundle, Item
from metaconnect_router.routes.spec import Category, Policy

log = logging.getLogger(__name__)


def as_bundling_item(row: Item) -> bundling.Item:
    return bundling.Item(
        id=row.id,
        route=row.route,
        message_id=row.message_id,
        priority=row.priority,
        category=Category(row.category),
        collapse_key=row.collapse_key,
        created_at=row.created_at,
        expires_at=row.expires_at,
        not_before=row.not_before,
    )


def delivery_record(delivery: Delivery) -> OutgoingRecord:
    return OutgoingRecord(
        topic=DELIVERIES,
        key=delivery.kafka_key(),
        value=delivery.model_dump_json().encode(),
        headers=[("mc.delivery_id", str(delivery.id).encode())],
    )


async def send(
    session: AsyncSession,
    customer_id: uuid.UUID,
    rows: Sequence[Item],
    channels: Sequence[Channel],
    *,
    now: datetime,
    locale: str,
    bundle_id: uuid.UUID | None = None,
    overflow: int = 0,
) -> Delivery:
    """One delivery of `rows` (in reading order) on `channels[0]`: outbox, sends, item states."""
    delivery = Delivery(
        id=uuid.uuid4(),
        customer_id=customer_id,
        channels=list(channels),
        locale=locale,
        items=[DeliveryItem.model_validate(row.payload["item"]) for row in rows],
        overflow=overflow,
        bundle_id=bundle_id,
        urgent=bundle_id is None,
        created_at=now,
    )
    await enqueue(session, OUTBOX, [delivery_record(delivery)])
    for row in rows:
        row.state = "sent"
        row.delivery_id = delivery.id
        # The channel it went on is the arm its receipts teach.
        row.payload = {**row.payload, "sent_channel": channels[0].value}
    await decisions.record_send(session, customer_id, channels[0], now)
    return delivery


async def add(session: AsyncSession, row: Item, policy: Policy, now: datetime) -> Bundle:
    """Put a marketing item into the customer's open bundle (opened now if none); flush it when full."""
    bundle = await bundles.open_bundle(session, row.customer_id)
    if bundle is None:
        bundle = Bundle(
            id=uuid.uuid4(),
            customer_id=row.customer_id,
            status="open",
            opened_at=now,
            due_at=max(now + policy.bundle_window, row.not_before or now),
            max_items=policy.bundle_max_items,
            policy=policy.model_dump(mode="json"),
        )
        session.add(bundle)
        await session.flush()
    pending = await bundles.pending_items(session, bundle.id)
    pure = bundling.Bundle(
        id=bundle.id,
        opened_at=bundle.opened_at,
        due_at=bundle.due_at,
        max_items=bundle.max_items,
        items=tuple(as_bundling_item(p) for p in pending),
    )
    added = bundling.add(pure, as_bundling_item(row))
    row.bundle_id = bundle.id
    row.state = "pending" if any(i.id == row.id for i in added.bundle.items) else "superseded"
    session.add(row)
    await bundles.set_state(session, [i.id for i in added.superseded if i.id != row.id], "superseded")
    await session.flush()
    if added.full:
        await flush(session, bundle, now)
    return bundle


async def flush(session: AsyncSession, bundle: Bundle, now: datetime) -> Delivery | None:
    """Flush a locked open bundle: one delivery of what may go, the deferred items into a new bundle."""
    pending = await bundles.pending_items(session, bundle.id)
    rows = {p.id: p for p in pending}
    pure = bundling.Bundle(
        id=bundle.id,
        opened_at=bundle.opened_at,
        due_at=bundle.due_at,
        max_items=bundle.max_items,
        items=tuple(as_bundling_item(p) for p in pending),
    )
    result = bundling.flush(pure, now)
    bundle.status = "flushed"
    bundle.flushed_at = now
    await bundles.set_state(session, [i.id for i in result.expired], "expired")
    await session.flush()
    delivery = None
    shown = [rows[i.id] for i in result.shown]
    if shown:
        profile_doc = await decisions.profile_of(session, bundle.customer_id)
        profile = ProfileSnapshot.model_validate(profile_doc) if profile_doc else None
        policy = Policy.model_validate(bundle.policy)
        channels = _bundle_channels(shown, profile, policy, now)
        sendable = [r for r in shown if channels[0].value in r.payload["channels"]]
        unsendable = [r for r in shown if r not in sendable]
        summarised = [rows[i.id] for i in result.summarised]
        delivery = await send(
            session,
            bundle.customer_id,
            sendable,
            channels,
            now=now,
            locale=profile.locale if profile and profile.locale else "en",
            bundle_id=bundle.id,
            overflow=len(summarised),
        )
        bundle.delivery_id = delivery.id
        # Summarised items count as delivered with the bundle ("and 3 more" links to the inbox).
        for row in summarised:
            row.state, row.delivery_id = "sent", delivery.id
        carried = [*unsendable]
    else:
        carried = []
    carried += [rows[i.id] for i in result.deferred]
    if carried:
        await _carry(session, bundle, carried, now)
    return delivery


def _bundle_channels(
    rows: Sequence[Item], profile: ProfileSnapshot | None, policy: Policy, now: datetime
) -> list[Channel]:
    """The channels every shown item allows (the first item's when they share none), best first."""
    allowed = [[Channel(c) for c in r.payload["channels"]] for r in rows]
    common = [c for c in allowed[0] if all(c in a for a in allowed[1:])] or allowed[0]
    if profile is None:
        return common
    reachable = [c for c in common if c in profile.reachable] or common
    choice = choose_channel(
        reachable, profile, policy, local_hour=local_now(profile, policy, now).hour, holdout=profile.holdout
    )
    return [c for c, _ in choice.ranked]


async def _carry(session: AsyncSession, flushed: Bundle, rows: Sequence[Item], now: datetime) -> None:
    """Deferred items (caps, quiet hours) wait in the customer's next bundle, due when they may go."""
    earliest = min((r.not_before for r in rows if r.not_before is not None), default=now)
    policy = Policy.model_validate(flushed.policy)
    bundle = Bundle(
        id=uuid.uuid4(),
        customer_id=flushed.customer_id,
        status="open",
        opened_at=now,
        due_at=max(now + policy.bundle_window, earliest),
        max_items=flushed.max_items,
        policy=flushed.policy,
    )
    session.add(bundle)
    await session.flush()
    for row in rows:
        row.bundle_id = bundle.id


async def merge(session: AsyncSession, survivor: uuid.UUID, merged: Sequence[uuid.UUID]) -> None:
    """Customers merged in the profile service: their pending items join the survivor's open bundle,
    their sends count against the survivor's caps, their decisions are listed under the survivor."""
    target = await bundles.open_bundle(session, survivor)
    for customer in merged:
        bundle = await bundles.open_bundle(session, customer)
        if bundle is None:
            continue
        if target is None:
            bundle.customer_id, target = survivor, bundle
        else:
            await bundles.move_pending(session, bundle.id, target.id)
            bundle.status = "merged"
        await session.flush()
    await bundles.repoint(session, merged, survivor)


class Flusher:
    """Flushes due bundles every `interval_s`; safe with any number of replicas."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, batch: int = 50, interval_s: float = 1.0) -> None:
        self._sessions = sessions
        self._batch = batch
        self.interval_s = interval_s

    async def flush_due(self, now: datetime) -> int:
        """Flush due bundles (one transaction per claimed batch); returns how many deliveries were made."""
        made = 0
        while True:
            async with unit_of_work(self._sessions) as session:
                claimed = await bundles.claim_due(session, now, self._batch)
                for bundle in claimed:
                    if await flush(session, bundle, now) is not None:
                        made += 1
            if len(claimed) < self._batch:
                return made

    async def flush_due_once(self) -> int:
        """One round at the current time; failures are logged (the next round tries again)."""
        try:
            return await self.flush_due(datetime.now(UTC))
        except Exception as exc:  # the database may be away: try again next round
            log.warning("bundle flush failed: %s", type(exc).__name__)
            return 0
