"""Meta-connect bundles in the database: items join a customer's open bundle; due bundles flush
into one delivery on one channel chosen at flush time; urgent items go at once.

A `Ledger` is one transaction's view of some customers' bundles. It loads what its caller
touches (open bundles, locked; their pending items; recent sends; profiles) once, applies the
pure rules of `bundling.py` in memory and `write`s every change with one statement per table
and kind: a batch of a thousand decisions costs a handful of statements, not thousands. The
decision batch and the flusher both work on one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_common.kafka.producer import OutgoingRecord
from metaconnect_common.outbox import enqueue
from metaconnect_common.schemas import Channel
from metaconnect_common.schemas.delivery import Delivery
from metaconnect_common.schemas.profiled import Contact, ProfileSnapshot
from metaconnect_router import metrics
from metaconnect_router.bundles import bundling, repository
from metaconnect_router.bundles.repository import BUNDLES, ITEMS
from metaconnect_router.bundles.rows import BundleRow, Changes, ItemRow
from metaconnect_router.bundles.tracing import delivery_record, delivery_trace
from metaconnect_router.channels import bundle_channels
from metaconnect_router.models import OUTBOX, BundleStatus, ItemState
from metaconnect_router.routes.spec import Policy


@dataclass(slots=True, eq=False)
class _Held:
    """An open bundle of this transaction: its row, the bundle as the pure rules see it, and the
    rows of its pending items by id (the same items as `bundle.items`)."""

    row: BundleRow
    bundle: bundling.Bundle
    items: dict[uuid.UUID, ItemRow]


class Ledger:
    """Bundles, pending items, sends and profiles of some customers within one transaction."""

    def __init__(self) -> None:
        self.sent: dict[uuid.UUID, dict[Channel, list[datetime]]] = {}
        """Each loaded customer's recent sends per channel, these included: what caps count."""
        self.profiles: dict[uuid.UUID, ProfileSnapshot] = {}
        self.deliveries: list[Delivery] = []
        """Made by this ledger, in order."""
        self._open: dict[uuid.UUID, _Held] = {}  # by customer
        self._loaded: set[uuid.UUID] = set()
        self._delivered: dict[uuid.UUID, list[ItemRow]] = {}  # by delivery id
        self._items: Changes[ItemRow] = Changes(ITEMS)
        self._bundles: Changes[BundleRow] = Changes(BUNDLES)
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
        for bundle, items in await repository.open_bundles(session, wanted):
            self._keep(BundleRow.loaded(bundle), [ItemRow.loaded(row) for row in items])
        sent = await repository.recent_sends(session, wanted, sends_since)
        for customer in wanted:
            self.sent[customer] = sent.get(customer, {})

    async def claim_due(self, session: AsyncSession, now: datetime, limit: int) -> list[BundleRow]:
        """Due open bundles that no other transaction holds, with their items and profiles."""
        bundles = [BundleRow.loaded(row) for row in await repository.claim_due(session, now, limit)]
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
            item = ItemRow.loaded(row)
            self._delivered.setdefault(row["delivery_id"], []).append(item)

    async def _hold(self, session: AsyncSession, bundles: Sequence[BundleRow]) -> None:
        pending: dict[uuid.UUID, list[ItemRow]] = {b.id: [] for b in bundles}
        for row in await repository.pending_items(session, list(pending)):
            pending[row["bundle_id"]].append(ItemRow.loaded(row))
        for held in bundles:
            self._keep(held, pending[held.id])

    def _keep(self, held: BundleRow, items: Sequence[ItemRow]) -> None:
        """An open bundle this transaction holds, with its pending items (oldest first)."""
        bundle = bundling.Bundle(
            id=held.id,
            opened_at=held.opened_at,
            due_at=held.due_at,
            max_items=held.max_items,
            items=tuple(i.pending() for i in items),
        )
        self._open[held.customer_id] = _Held(held, bundle, {i.id: i for i in items})

    # -- changing, in memory ---------------------------------------------------------------------

    def delivered(self, delivery_id: uuid.UUID) -> list[ItemRow]:
        """The loaded items a delivery carried (see `load_delivered`)."""
        return self._delivered.get(delivery_id, [])

    def failed(self, delivery_id: uuid.UUID, item_ids: Sequence[uuid.UUID]) -> None:
        """The delivery's receipt says these items never reached the customer: later receipts of the
        delivery (its `message.sent`, an open) teach nothing about them."""
        gone = set(item_ids)
        rows = self._delivered.get(delivery_id, [])
        for row in rows:
            if row.id in gone:
                self._items.set(row, state=ItemState.FAILED)
        self._delivered[delivery_id] = [row for row in rows if row.id not in gone]

    def mark(self, row: ItemRow, **values: Any) -> None:
        """Change columns of a loaded item (e.g. `delivered_at`)."""
        self._items.set(row, **values)

    def save_profile(self, customer_id: uuid.UUID, profile: ProfileSnapshot) -> None:
        """The customer's latest profile: bundles choose their channel with it at flush time."""
        self.profiles[customer_id] = profile
        self._saved_profiles.add(customer_id)

    def add(self, row: ItemRow, policy: Policy, now: datetime) -> BundleRow:
        """Put a new marketing item into its customer's open bundle (opened now if none); flush it when full."""
        held = self._open.get(row.customer_id)
        if held is None:
            held = self._open_bundle(
                row.customer_id,
                now,
                window=policy.bundle_window,
                max_items=policy.bundle_max_items,
                policy=policy.model_dump(mode="json"),
                not_before=row.not_before,
            )
        added = bundling.add(held.bundle, row.pending())
        held.bundle = added.bundle
        row.bundle_id = held.row.id
        kept = any(i.id == row.id for i in added.bundle.items)
        row.state = ItemState.PENDING if kept else ItemState.SUPERSEDED
        self._items.add(row)
        for gone in added.superseded:
            if gone.id != row.id:
                self._items.set(held.items.pop(gone.id), state=ItemState.SUPERSEDED)
        if kept:
            held.items[row.id] = row
        if added.full:
            self._flush(held, now)
        return held.row

    def send_now(
        self, row: ItemRow, channels: Sequence[Channel], now: datetime, *, inbox_copy: bool = False
    ) -> Delivery:
        """An urgent item (transactional, or for a system): its own delivery at once, with a copy in
        the customer's inbox when `inbox_copy`."""
        self._items.add(row)
        return self._send(row.customer_id, [row], channels, now=now, locale=row.content.locale, inbox_copy=inbox_copy)

    def flush_due(self, now: datetime) -> list[Delivery]:
        """Flush the held bundles that are due; the deliveries made."""
        made = len(self.deliveries)
        for held in list(self._open.values()):  # not the bundles these flushes open
            if bundling.due(held.bundle, now):
                self._flush(held, now)
        return self.deliveries[made:]

    def act(self, customer_id: uuid.UUID, *, collapse_key: str | None, item_ids: Sequence[uuid.UUID]) -> int:
        """Pending items the customer already acted on (read in-app, say) leave their bundle."""
        held = self._open.get(customer_id)
        if held is None or not (collapse_key or item_ids):
            return 0
        ids = set(item_ids)
        held.bundle, removed = bundling.remove_acted(
            held.bundle, lambda i: i.id in ids or (collapse_key is not None and i.collapse_key == collapse_key)
        )
        for item in removed:
            self._items.set(held.items.pop(item.id), state=ItemState.ACTED)
        return len(removed)

    def erase(self, customer_id: uuid.UUID) -> None:
        """Forget the customer's pending items, sends and profile; remember that they were erased."""
        held = self._open.get(customer_id)
        if held is not None:
            for row in held.items.values():
                self._items.set(row, state=ItemState.ERASED)
            held.items.clear()
            held.bundle = bundling.emptied(held.bundle)
        self._erased.append(customer_id)
        self.sent[customer_id] = {}
        self.profiles.pop(customer_id, None)
        self._saved_profiles.discard(customer_id)

    def merge(self, survivor: uuid.UUID, merged: Sequence[uuid.UUID]) -> None:
        """Customers merged in the profile service (all `load`ed): their pending items join the survivor's
        open bundle, their sends count against the survivor's caps, their rows become the survivor's,
        their profiles are dropped."""
        target = self._open.get(survivor)
        sent = self.sent.setdefault(survivor, {})
        for customer in merged:
            self.profiles.pop(customer, None)
            self._saved_profiles.discard(customer)
            for channel, at in self.sent.pop(customer, {}).items():
                sent[channel] = sorted([*sent.get(channel, []), *at])
            held = self._open.pop(customer, None)
            if held is None:
                continue
            if target is None:
                self._bundles.set(held.row, customer_id=survivor)
                self._open[survivor] = target = held
            else:
                for row in held.items.values():
                    self._items.set(row, bundle_id=target.row.id)
                joined = bundling.join(target.bundle, held.bundle.items)
                target.bundle = joined.bundle
                target.items.update(held.items)
                self._supersede(target, joined.superseded)
                self._bundles.set(held.row, status=BundleStatus.MERGED)
        if target is not None:
            for row in target.items.values():
                row.customer_id = survivor  # in the database by `repoint` at `write`
        self._merges.append((list(merged), survivor))

    def _flush(self, held: _Held, now: datetime) -> None:
        """Flush an open bundle: one delivery of what may go, the deferred items into a new bundle."""
        bundle, customer = held.row, held.row.customer_id
        if self._open.get(customer) is held:
            del self._open[customer]
        result = bundling.flush(held.bundle, now)
        rows = held.items
        self._bundles.set(bundle, status=BundleStatus.FLUSHED, flushed_at=now)
        for item in result.expired:
            self._items.set(rows[item.id], state=ItemState.EXPIRED)
        carried: list[ItemRow] = []
        shown = [rows[i.id] for i in result.shown]
        if shown:
            profile = self.profiles.get(customer)
            policy = Policy.model_validate(bundle.policy)
            channels = bundle_channels([r.content.channels for r in shown], profile, policy, now)
            sendable = [r for r in shown if channels[0] in r.content.channels]
            carried = [r for r in shown if channels[0] not in r.content.channels]
            summarised = [rows[i.id] for i in result.summarised]
            delivery = self._send(
                customer,
                sendable,
                channels,
                now=now,
                locale=profile.locale if profile and profile.locale else "en",
                bundle_id=bundle.id,
                overflow=result.overflow,
            )
            self._bundles.set(bundle, delivery_id=delivery.id)
            # Summarised items count as delivered with the bundle ("and 3 more" links to the inbox).
            for row in summarised:
                self._items.set(row, state=ItemState.SENT, delivery_id=delivery.id)
        carried += [rows[i.id] for i in result.deferred]
        if carried:
            self._carry(bundle, carried, now)

    def _open_bundle(
        self,
        customer_id: uuid.UUID,
        now: datetime,
        *,
        window: timedelta,
        max_items: int,
        policy: dict[str, Any],
        not_before: datetime | None,
    ) -> _Held:
        bundle = bundling.open_bundle(uuid.uuid4(), now, window, max_items, not_before=not_before)
        row = BundleRow(
            id=bundle.id,
            customer_id=customer_id,
            status=BundleStatus.OPEN,
            opened_at=bundle.opened_at,
            due_at=bundle.due_at,
            max_items=bundle.max_items,
            policy=policy,
        )
        self._bundles.add(row)
        held = self._open[customer_id] = _Held(row, bundle, {})
        return held

    def _carry(self, flushed: BundleRow, rows: Sequence[ItemRow], now: datetime) -> None:
        """Deferred items (caps, quiet hours) wait in the customer's next bundle, due when they may go."""
        held = self._open_bundle(
            flushed.customer_id,
            now,
            window=Policy.model_validate(flushed.policy).bundle_window,
            max_items=flushed.max_items,
            policy=flushed.policy,
            not_before=min((r.not_before for r in rows if r.not_before is not None), default=None),
        )
        joined = bundling.join(held.bundle, (r.pending() for r in rows))
        held.bundle = joined.bundle
        for row in rows:
            self._items.set(row, bundle_id=held.row.id)
            held.items[row.id] = row
        self._supersede(held, joined.superseded)

    def _supersede(self, held: _Held, superseded: Sequence[bundling.PendingItem]) -> None:
        for gone in superseded:
            self._items.set(held.items.pop(gone.id), state=ItemState.SUPERSEDED)

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
        inbox_copy: bool = False,
    ) -> Delivery:
        """One delivery of `rows` (in reading order) on `channels[0]`: outbox, send, item states."""
        profile = self.profiles.get(customer_id)
        delivery = Delivery(
            id=uuid.uuid4(),
            customer_id=customer_id,
            contact=profile.contact if profile else Contact(),
            identities=list(profile.identities) if profile else [],
            channels=list(channels),
            locale=locale,
            items=[row.content.item for row in rows],
            overflow=overflow,
            bundle_id=bundle_id,
            urgent=bundle_id is None,
            inbox_copy=inbox_copy,
            created_at=now,
        )
        self._outbox.append(delivery_record(delivery, delivery_trace(delivery)))
        for row in rows:
            # The channel it went on is the arm its receipts teach.
            payload = row.content.model_copy(update={"sent_channel": channels[0]})
            self._items.set(row, state=ItemState.SENT, delivery_id=delivery.id, payload=payload)
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
        await repository.update_rows(session, BUNDLES, self._bundles.updates())
        await repository.insert_rows(session, BUNDLES, self._bundles.inserts())
        await repository.insert_rows(session, ITEMS, self._items.inserts())
        await repository.update_rows(session, ITEMS, self._items.updates())
        await repository.insert_rows(session, repository.SENDS, self._sends)
        if self._outbox:
            await enqueue(session, OUTBOX, self._outbox)
        await repository.erase(session, self._erased, now)
        for merged, survivor in self._merges:
            await repository.repoint(session, merged, survivor)
        saved = {c: self.profiles[c].model_dump(mode="json") for c in self._saved_profiles}
        await repository.save_profiles(session, saved, now)
