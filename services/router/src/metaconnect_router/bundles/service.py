"""Meta-connect bundles in the database: items join a customer's open bundle; due bundles flush
into one delivery on one channel chosen at flush time; urgent items go at once.

A `Ledger` is one transaction's view of some customers' bundles. It loads what its caller
touches (open bundles, locked; their pending items; recent sends; profiles) once, applies the
pure rules of `bundling.py` in memory and `write`s every change with one statement per table
and kind: a batch of a thousand decisions costs a handful of statements, not thousands. The
decision batch and the flusher both work on one.

The flusher claims due bundles with `FOR UPDATE SKIP LOCKED`, so replicas never flush the same
bundle, and the delivery is written to the outbox in the transaction that marks the bundle
flushed: a crash before the commit leaves the bundle open for the next claim, a crash after it
leaves the record for the relay.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.db import unit_of_work
from metaconnect_common.kafka.producer import OutgoingRecord
from metaconnect_common.kafka.tracing import links_to, traceparent_of
from metaconnect_common.outbox import enqueue
from metaconnect_common.schemas import Channel
from metaconnect_common.schemas.delivery import Delivery, DeliveryItem
from metaconnect_common.schemas.profiled import Contact, ProfileSnapshot
from metaconnect_common.topics import DELIVERIES
from metaconnect_router import metrics
from metaconnect_router.bundles import bundling, repository
from metaconnect_router.channels import bundle_channels
from metaconnect_router.models import OUTBOX
from metaconnect_router.routes.spec import Category, Policy

log = logging.getLogger(__name__)
tracer = trace.get_tracer("metaconnect.router")


@dataclass(slots=True, eq=False)
class ItemRow:
    """A row of `router.items`: one message for one customer."""

    id: uuid.UUID
    decision_id: uuid.UUID
    customer_id: uuid.UUID
    bundle_id: uuid.UUID | None
    state: str  # pending | sent | superseded | acted | expired | erased
    route: str
    message_id: str
    priority: int
    category: str
    collapse_key: str | None
    created_at: datetime
    expires_at: datetime | None
    not_before: datetime | None
    payload: dict[str, Any]  # the DeliveryItem, its channels and locale, the arm it was chosen for
    delivery_id: uuid.UUID | None = None
    delivered_at: datetime | None = None
    engaged_at: datetime | None = None

    def pure(self) -> bundling.Item:
        return bundling.Item(
            id=self.id,
            route=self.route,
            message_id=self.message_id,
            priority=self.priority,
            category=Category(self.category),
            collapse_key=self.collapse_key,
            created_at=self.created_at,
            expires_at=self.expires_at,
            not_before=self.not_before,
        )


@dataclass(slots=True, eq=False)
class BundleRow:
    """A row of `router.bundles`: a customer's bundle, open until it flushes."""

    id: uuid.UUID
    customer_id: uuid.UUID
    status: str  # open | flushed | merged
    opened_at: datetime
    due_at: datetime
    max_items: int
    policy: dict[str, Any]  # of the route whose item opened it: channel order, caps
    flushed_at: datetime | None = None
    delivery_id: uuid.UUID | None = None


_ITEM_FIELDS = tuple(f.name for f in fields(ItemRow))
_BUNDLE_FIELDS = tuple(f.name for f in fields(BundleRow))


R = TypeVar("R", ItemRow, BundleRow)


class _Rows(Generic[R]):
    """New rows and the columns changed on loaded ones, for `write`."""

    def __init__(self, columns: tuple[str, ...]) -> None:
        self._columns = columns
        self.new: dict[uuid.UUID, R] = {}
        self.changed: dict[uuid.UUID, tuple[R, set[str]]] = {}

    def add(self, row: R) -> None:
        self.new[row.id] = row

    def set(self, row: R, **values: Any) -> None:
        for name, value in values.items():
            setattr(row, name, value)
        if row.id not in self.new:
            self.changed.setdefault(row.id, (row, set()))[1].update(values)

    def inserts(self) -> list[dict[str, Any]]:
        return [{c: getattr(row, c) for c in self._columns} for row in self.new.values()]

    def updates(self) -> list[tuple[uuid.UUID, dict[str, Any]]]:
        return [(i, {c: getattr(row, c) for c in changed}) for i, (row, changed) in self.changed.items()]


def delivery_record(delivery: Delivery, traceparent: str | None = None) -> OutgoingRecord:
    """The delivery's record; `traceparent` names the trace it continues."""
    headers = [("mc.delivery_id", str(delivery.id).encode())]
    if traceparent:
        headers.append(("traceparent", traceparent.encode()))
    return OutgoingRecord(
        topic=DELIVERIES, key=delivery.kafka_key(), value=delivery.model_dump_json().encode(), headers=headers
    )


def delivery_trace(delivery: Delivery) -> str | None:
    """The trace a delivery continues: a message sent alone stays in its interaction's trace; a
    bundle starts its own, whose first span links to the trace of every item in it."""
    traceparents = [item.traceparent for item in delivery.items]
    if delivery.bundle_id is None and len(traceparents) == 1:
        return traceparents[0]
    span = tracer.start_span(
        "bundle send",
        context=otel_context.Context(),  # a new trace, whatever span is current
        kind=SpanKind.PRODUCER,
        links=links_to(traceparents),
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "create",
            "messaging.destination.name": DELIVERIES,
            "metaconnect.delivery_id": str(delivery.id),
            "metaconnect.bundle_id": str(delivery.bundle_id),
            "metaconnect.bundle.items": len(delivery.items),
            "metaconnect.bundle.overflow": delivery.overflow,
        },
    )
    span.end()
    return traceparent_of(span.get_span_context())


class Ledger:
    """Bundles, pending items, sends and profiles of some customers within one transaction."""

    def __init__(self) -> None:
        self.open: dict[uuid.UUID, BundleRow] = {}
        """Each loaded customer's open bundle."""
        self.sent: dict[uuid.UUID, dict[Channel, list[datetime]]] = {}
        """Each loaded customer's recent sends per channel, these included: what caps count."""
        self.profiles: dict[uuid.UUID, ProfileSnapshot] = {}
        self.deliveries: list[Delivery] = []
        """Made by this ledger, in order."""
        self._loaded: set[uuid.UUID] = set()
        self._pending: dict[uuid.UUID, list[ItemRow]] = {}  # by bundle id
        self._delivered: dict[uuid.UUID, list[ItemRow]] = {}  # by delivery id
        self._items: _Rows[ItemRow] = _Rows(_ITEM_FIELDS)
        self._bundles: _Rows[BundleRow] = _Rows(_BUNDLE_FIELDS)
        self._saved_profiles: set[uuid.UUID] = set()
        self._sends: list[dict[str, Any]] = []
        self._outbox: list[OutgoingRecord] = []
        self._erased: list[uuid.UUID] = []
        self._merges: list[tuple[list[uuid.UUID], uuid.UUID]] = []

    # -- loading -------------------------------------------------------------------------------

    async def load(self, session: AsyncSession, customers: Sequence[uuid.UUID], *, sends_since: datetime) -> None:
        """The customers' open bundles (locked), their pending items and recent sends; once each."""
        wanted = [c for c in dict.fromkeys(customers) if c not in self._loaded]
        if not wanted:
            return
        self._loaded.update(wanted)
        bundles = [BundleRow(**row) for row in await repository.open_bundles(session, wanted)]
        await self._hold(session, bundles)
        sent = await repository.recent_sends(session, wanted, sends_since)
        for customer in wanted:
            self.sent[customer] = sent.get(customer, {})

    async def claim_due(self, session: AsyncSession, now: datetime, limit: int) -> list[BundleRow]:
        """Due open bundles that no other transaction holds, with their items and profiles."""
        bundles = [BundleRow(**row) for row in await repository.claim_due(session, now, limit)]
        await self._hold(session, bundles)
        customers = [b.customer_id for b in bundles]
        for customer, doc in (await repository.profiles(session, customers)).items():
            self.profiles[customer] = ProfileSnapshot.model_validate(doc)
        return bundles

    async def load_delivered(self, session: AsyncSession, delivery_ids: Sequence[uuid.UUID]) -> None:
        """The items of these deliveries (locked), for `delivered`."""
        if not delivery_ids:
            return
        for row in await repository.delivered_items(session, list(dict.fromkeys(delivery_ids))):
            item = ItemRow(**row)
            self._delivered.setdefault(row["delivery_id"], []).append(item)

    async def _hold(self, session: AsyncSession, bundles: Sequence[BundleRow]) -> None:
        for bundle in bundles:
            self.open[bundle.customer_id] = bundle
            self._pending[bundle.id] = []
        for row in await repository.pending_items(session, [b.id for b in bundles]):
            self._pending[row["bundle_id"]].append(ItemRow(**row))

    # -- changing, in memory ---------------------------------------------------------------------

    def delivered(self, delivery_id: uuid.UUID) -> list[ItemRow]:
        """The loaded items a delivery carried (see `load_delivered`)."""
        return self._delivered.get(delivery_id, [])

    def mark(self, row: ItemRow, **values: Any) -> None:
        """Change columns of a loaded item (e.g. `delivered_at`)."""
        self._items.set(row, **values)

    def save_profile(self, customer_id: uuid.UUID, profile: ProfileSnapshot) -> None:
        """The customer's latest profile: bundles choose their channel with it at flush time."""
        self.profiles[customer_id] = profile
        self._saved_profiles.add(customer_id)

    def add(self, row: ItemRow, policy: Policy, now: datetime) -> BundleRow:
        """Put a new marketing item into its customer's open bundle (opened now if none); flush it when full."""
        bundle = self.open.get(row.customer_id)
        if bundle is None:
            bundle = self._open(
                row.customer_id,
                now,
                due_at=max(now + policy.bundle_window, row.not_before or now),
                max_items=policy.bundle_max_items,
                policy=policy.model_dump(mode="json"),
            )
        pending = self._pending[bundle.id]
        added = bundling.add(_pure(bundle, pending), row.pure())
        row.bundle_id = bundle.id
        row.state = "pending" if any(i.id == row.id for i in added.bundle.items) else "superseded"
        self._items.add(row)
        gone = {i.id for i in added.superseded if i.id != row.id}
        for old in pending:
            if old.id in gone:
                self._items.set(old, state="superseded")
        pending[:] = [p for p in pending if p.id not in gone]
        if row.state == "pending":
            pending.append(row)
        if added.full:
            self.flush(bundle, now)
        return bundle

    def send_now(self, row: ItemRow, channels: Sequence[Channel], now: datetime) -> Delivery:
        """An urgent (transactional) item: its own delivery at once."""
        self._items.add(row)
        return self._send(row.customer_id, [row], channels, now=now, locale=row.payload["locale"])

    def flush(self, bundle: BundleRow, now: datetime) -> Delivery | None:
        """Flush an open bundle: one delivery of what may go, the deferred items into a new bundle."""
        pending = self._pending.pop(bundle.id, [])
        by_id = {p.id: p for p in pending}
        result = bundling.flush(_pure(bundle, pending), now)
        self._bundles.set(bundle, status="flushed", flushed_at=now)
        if self.open.get(bundle.customer_id) is bundle:
            del self.open[bundle.customer_id]
        for item in result.expired:
            self._items.set(by_id[item.id], state="expired")
        delivery = None
        carried: list[ItemRow] = []
        shown = [by_id[i.id] for i in result.shown]
        if shown:
            profile = self.profiles.get(bundle.customer_id)
            allowed = [[Channel(c) for c in r.payload["channels"]] for r in shown]
            channels = bundle_channels(allowed, profile, Policy.model_validate(bundle.policy), now)
            sendable = [r for r in shown if channels[0].value in r.payload["channels"]]
            carried = [r for r in shown if channels[0].value not in r.payload["channels"]]
            summarised = [by_id[i.id] for i in result.summarised]
            delivery = self._send(
                bundle.customer_id,
                sendable,
                channels,
                now=now,
                locale=profile.locale if profile and profile.locale else "en",
                bundle_id=bundle.id,
                overflow=len(summarised),
            )
            self._bundles.set(bundle, delivery_id=delivery.id)
            # Summarised items count as delivered with the bundle ("and 3 more" links to the inbox).
            for row in summarised:
                self._items.set(row, state="sent", delivery_id=delivery.id)
        carried += [by_id[i.id] for i in result.deferred]
        if carried:
            self._carry(bundle, carried, now)
        return delivery

    def act(self, customer_id: uuid.UUID, *, collapse_key: str | None, item_ids: Sequence[uuid.UUID]) -> int:
        """Pending items the customer already acted on (read in-app, say) leave their bundle."""
        bundle = self.open.get(customer_id)
        if bundle is None or not (collapse_key or item_ids):
            return 0
        ids = set(item_ids)
        pending = self._pending[bundle.id]
        acted = [p for p in pending if p.id in ids or (collapse_key is not None and p.collapse_key == collapse_key)]
        for row in acted:
            self._items.set(row, state="acted")
        pending[:] = [p for p in pending if p not in acted]
        return len(acted)

    def erase(self, customer_id: uuid.UUID) -> None:
        """Forget the customer's pending items, sends and profile; remember that they were erased."""
        bundle = self.open.get(customer_id)
        if bundle is not None:
            for row in self._pending[bundle.id]:
                self._items.set(row, state="erased")
            self._pending[bundle.id] = []
        self._erased.append(customer_id)
        self.sent[customer_id] = {}
        self.profiles.pop(customer_id, None)
        self._saved_profiles.discard(customer_id)

    def merge(self, survivor: uuid.UUID, merged: Sequence[uuid.UUID]) -> None:
        """Customers merged in the profile service (all `load`ed): their pending items join the survivor's
        open bundle, their sends count against the survivor's caps, their rows become the survivor's."""
        target = self.open.get(survivor)
        sent = self.sent.setdefault(survivor, {})
        for customer in merged:
            for channel, at in self.sent.pop(customer, {}).items():
                sent[channel] = sorted([*sent.get(channel, []), *at])
            bundle = self.open.pop(customer, None)
            if bundle is None:
                continue
            if target is None:
                self._bundles.set(bundle, customer_id=survivor)
                self.open[survivor] = target = bundle
            else:
                moved = self._pending.pop(bundle.id, [])
                for row in moved:
                    self._items.set(row, bundle_id=target.id)
                self._pending[target.id].extend(moved)
                self._bundles.set(bundle, status="merged")
        if target is not None:
            for row in self._pending[target.id]:
                row.customer_id = survivor  # in the database by `repoint` at `write`
        self._merges.append((list(merged), survivor))

    def _open(
        self, customer_id: uuid.UUID, now: datetime, *, due_at: datetime, max_items: int, policy: dict[str, Any]
    ) -> BundleRow:
        bundle = BundleRow(uuid.uuid4(), customer_id, "open", now, due_at, max_items, policy)
        self._bundles.add(bundle)
        self.open[customer_id] = bundle
        self._pending[bundle.id] = []
        return bundle

    def _carry(self, flushed: BundleRow, rows: Sequence[ItemRow], now: datetime) -> None:
        """Deferred items (caps, quiet hours) wait in the customer's next bundle, due when they may go."""
        earliest = min((r.not_before for r in rows if r.not_before is not None), default=now)
        window = Policy.model_validate(flushed.policy).bundle_window
        bundle = self._open(
            flushed.customer_id,
            now,
            due_at=max(now + window, earliest),
            max_items=flushed.max_items,
            policy=flushed.policy,
        )
        for row in rows:
            self._items.set(row, bundle_id=bundle.id)
        self._pending[bundle.id] = list(rows)

    def _send(
        self,
        customer_id: uuid.UUID,
        rows: Sequence[ItemRow],
        channels: Sequence[Channel],
        *,
        now: datetime,
        locale: str,
        bundle_id: uuid.UUID | None = None,
        overflow: int = 0,
    ) -> Delivery:
        """One delivery of `rows` (in reading order) on `channels[0]`: outbox, send, item states."""
        profile = self.profiles.get(customer_id)
        delivery = Delivery(
            id=uuid.uuid4(),
            customer_id=customer_id,
            contact=profile.contact if profile else Contact(),
            channels=list(channels),
            locale=locale,
            items=[DeliveryItem.model_validate(row.payload["item"]) for row in rows],
            overflow=overflow,
            bundle_id=bundle_id,
            urgent=bundle_id is None,
            created_at=now,
        )
        self._outbox.append(delivery_record(delivery, delivery_trace(delivery)))
        for row in rows:
            # The channel it went on is the arm its receipts teach.
            payload = {**row.payload, "sent_channel": channels[0].value}
            self._items.set(row, state="sent", delivery_id=delivery.id, payload=payload)
        self._sends.append({"customer_id": customer_id, "channel": channels[0].value, "sent_at": now})
        self.sent.setdefault(customer_id, {}).setdefault(channels[0], []).append(now)
        self.deliveries.append(delivery)
        return delivery

    def observe(self, now: datetime) -> None:
        """Count the deliveries made (once their transaction committed): size and time in bundle."""
        for delivery in self.deliveries:
            metrics.BUNDLE_ITEMS.observe(len(delivery.items) + delivery.overflow)
            for item in delivery.items:
                metrics.TIME_IN_BUNDLE.observe(max((now - item.created_at).total_seconds(), 0.0))

    # -- writing ---------------------------------------------------------------------------------

    async def write(self, session: AsyncSession, now: datetime) -> None:
        """Store every change. Bundles first (a flushed one frees its customer's open slot before
        the next opens; items refer to bundles), merges after the rows they repoint."""
        await repository.update_rows(session, repository.BUNDLES, self._bundles.updates())
        await repository.insert_rows(session, repository.BUNDLES, self._bundles.inserts())
        await repository.insert_rows(session, repository.ITEMS, self._items.inserts())
        await repository.update_rows(session, repository.ITEMS, self._items.updates())
        await repository.insert_rows(session, repository.SENDS, self._sends)
        if self._outbox:
            await enqueue(session, OUTBOX, self._outbox)
        await repository.erase(session, self._erased, now)
        for merged, survivor in self._merges:
            await repository.repoint(session, merged, survivor)
        saved = {c: self.profiles[c].model_dump(mode="json") for c in self._saved_profiles}
        await repository.save_profiles(session, saved, now)


def _pure(bundle: BundleRow, pending: Sequence[ItemRow]) -> bundling.Bundle:
    return bundling.Bundle(
        id=bundle.id,
        opened_at=bundle.opened_at,
        due_at=bundle.due_at,
        max_items=bundle.max_items,
        items=tuple(p.pure() for p in pending),
    )


class Flusher:
    """Flushes due bundles every `interval_s`; safe with any number of replicas."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, batch: int = 200, interval_s: float = 1.0
    ) -> None:
        self._sessions = sessions
        self._batch = batch
        self.interval_s = interval_s

    async def flush_due(self, now: datetime) -> int:
        """Flush due bundles (one transaction per claimed batch); returns how many deliveries were made."""
        made = 0
        while True:
            async with unit_of_work(self._sessions) as session:
                ledger = Ledger()
                claimed = await ledger.claim_due(session, now, self._batch)
                for bundle in claimed:
                    ledger.flush(bundle, now)
                await ledger.write(session, now)
            ledger.observe(now)
            made += len(ledger.deliveries)
            if len(claimed) < self._batch:
                return made

    async def flush_due_once(self) -> int:
        """One round at the current time; failures are logged (the next round tries again)."""
        try:
            return await self.flush_due(datetime.now(UTC))
        except Exception as exc:  # the database may be away: try again next round
            log.warning("bundle flush failed: %s", type(exc).__name__)
            return 0


__all__: Sequence[str] = ["BundleRow", "Flusher", "ItemRow", "Ledger", "delivery_record"]
