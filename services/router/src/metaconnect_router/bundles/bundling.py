"""Meta-connect bundling: a customer's non-urgent items wait in one open bundle and go out together.

A bundle flushes when its window closes or it is full: one delivery with the items ordered by
priority then time, the rest summarised ("and 3 more"). A newer item supersedes an older one with
the same collapse key, and an item without a `collapse_key` collapses by its route and message: a
bundle never holds one message twice ("Your picks" listed five times for five app opens). Items
acted on elsewhere (read in-app) leave the bundle; items deferred by a cap or quiet hours are
carried into the next bundle instead of being dropped. Pure functions over
frozen data: the ledger (`ledger.py`) holds each open bundle as a `Bundle` and applies these to it,
for the decisions and the flusher alike; the rows it writes follow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

from metaconnect_router.routes.spec import Category


@dataclass(frozen=True)
class PendingItem:
    """An item as the bundling rules see it."""

    id: UUID
    route: str
    message_id: str
    priority: int
    category: Category
    collapse_key: str | None
    created_at: datetime
    expires_at: datetime | None
    not_before: datetime | None
    """A deferred item (cap, quiet hours) is not sent before this."""

    @property
    def key(self) -> str:
        """What it collapses by: its `collapse_key`, else its route and message (`route/message`)."""
        return self.collapse_key if self.collapse_key is not None else f"{self.route}/{self.message_id}"

    def __post_init__(self) -> None:
        if not 1 <= self.priority <= 100:
            raise ValueError(f"priority lies between 1 and 100, not {self.priority}")
        for name in ("created_at", "expires_at", "not_before"):
            value: datetime | None = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware")


@dataclass(frozen=True)
class Bundle:
    id: UUID
    opened_at: datetime
    due_at: datetime
    max_items: int
    items: tuple[PendingItem, ...]


@dataclass(frozen=True)
class Added:
    bundle: Bundle
    superseded: tuple[PendingItem, ...]
    """Removed as collapsed: the older pending item, or the incoming one when it is the older."""
    full: bool
    """The bundle holds `max_items` or more and should flush now."""


@dataclass(frozen=True)
class Flush:
    shown: tuple[PendingItem, ...]
    """Priority desc, then created_at asc, then id; at most `show_max`."""
    overflow: int
    """How many more there are ("and 3 more"): len(summarised)."""
    expired: tuple[PendingItem, ...]
    deferred: tuple[PendingItem, ...]
    """not_before still in the future: for the next bundle."""
    summarised: tuple[PendingItem, ...]
    """The items counted in `overflow`, in the same order as `shown` continues."""


def open_bundle(
    bundle_id: UUID, now: datetime, window: timedelta, max_items: int, *, not_before: datetime | None = None
) -> Bundle:
    """An empty bundle due `window` after `now` (a window of 0 is due at once), and not before
    `not_before`: the first item's, or the earliest of deferred items carried over, may go no sooner."""
    for name, value in (("now", now), ("not_before", not_before)):
        if value is not None and value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware")
    if window < timedelta(0):
        raise ValueError(f"a bundle window cannot be negative, not {window}")
    if max_items < 1:
        raise ValueError(f"max_items must be >= 1, not {max_items}")
    due_at = now + window if not_before is None else max(now + window, not_before)
    return Bundle(id=bundle_id, opened_at=now, due_at=due_at, max_items=max_items, items=())


def add(bundle: Bundle, item: PendingItem) -> Added:
    """Add a marketing item; the newer of two items with one key (`PendingItem.key`) stays.

    Newer means later `created_at`, ties broken by id, so the result does not depend on the order
    in which a redelivering consumer hands items over. An item already in the bundle (same id) is
    a redelivery and changes nothing. A full bundle still takes the item: it is summarised at the
    flush rather than lost to a race with the flusher.
    """
    if item.category is Category.TRANSACTIONAL:
        raise ValueError("transactional items are sent at once, never bundled")
    items, superseded = _collapse(bundle.items, item)
    grown = replace(bundle, items=items)
    return Added(bundle=grown, superseded=superseded, full=_full(grown))


def join(bundle: Bundle, items: Iterable[PendingItem]) -> Added:
    """Items that move over together: a merged customer's pending items, or items carried into the
    next bundle. They collapse with what the bundle holds as added items do (two merged customers'
    bundles may each hold the same message); nothing flushes here, whatever `full` says."""
    kept, superseded = bundle.items, tuple[PendingItem, ...]()
    for item in items:
        kept, gone = _collapse(kept, item)
        superseded += gone
    grown = replace(bundle, items=kept)
    return Added(bundle=grown, superseded=superseded, full=_full(grown))


def _collapse(
    items: tuple[PendingItem, ...], item: PendingItem
) -> tuple[tuple[PendingItem, ...], tuple[PendingItem, ...]]:
    """`items` with `item` added and at most one item per key: (items, superseded)."""
    if any(pending.id == item.id for pending in items):
        return items, ()
    # At most one pending item per key: every way in goes through here and keeps it so.
    rival = next((p for p in items if p.key == item.key), None)
    if rival is None:
        return (*items, item), ()
    if _newness(rival) > _newness(item):
        return items, (item,)
    return (*(p for p in items if p.id != rival.id), item), (rival,)


def emptied(bundle: Bundle) -> Bundle:
    """The bundle without its items (its customer was erased): it flushes with nothing to send."""
    return replace(bundle, items=())


def remove_acted(bundle: Bundle, acted: Callable[[PendingItem], bool]) -> tuple[Bundle, tuple[PendingItem, ...]]:
    """Take out the items the customer has already acted on (e.g. read in-app): (bundle, removed)."""
    # `acted` is called once per item: it may look things up, and must not be asked twice.
    verdicts = [(item, acted(item)) for item in bundle.items]
    removed = tuple(item for item, gone in verdicts if gone)
    if not removed:
        return bundle, ()
    return replace(bundle, items=tuple(item for item, gone in verdicts if not gone)), removed


def due(bundle: Bundle, now: datetime) -> bool:
    """The window has closed (at `due_at`, not before) or the bundle is full."""
    return now >= bundle.due_at or _full(bundle)


def flush(bundle: Bundle, now: datetime, *, show_max: int | None = None) -> Flush:
    """Split the bundle for one delivery at `now`.

    Expired: `expires_at` before `now` (an item may still go out at its expiry instant), or a
    deferred item that expires before its `not_before` and so could never be sent. Deferred:
    `not_before` after `now`. The rest are ordered priority desc, created_at asc, id; the first
    `show_max` (default `max_items`) are shown, the others summarised.
    """
    limit = bundle.max_items if show_max is None else show_max
    if limit < 1:
        raise ValueError(f"show_max must be >= 1, not {limit}")
    expired: list[PendingItem] = []
    deferred: list[PendingItem] = []
    ready: list[PendingItem] = []
    for item in bundle.items:
        earliest = now if item.not_before is None else max(now, item.not_before)
        if item.expires_at is not None and item.expires_at < earliest:
            expired.append(item)
        elif earliest > now:
            deferred.append(item)
        else:
            ready.append(item)
    ready.sort(key=delivery_order)
    return Flush(
        shown=tuple(ready[:limit]),
        overflow=max(0, len(ready) - limit),
        expired=tuple(expired),
        deferred=tuple(deferred),
        summarised=tuple(ready[limit:]),
    )


def delivery_order(item: PendingItem) -> tuple[int, datetime, UUID]:
    """Sort key of a delivery: priority desc, then older first, then id (for a total order)."""
    return (-item.priority, item.created_at, item.id)


def _full(bundle: Bundle) -> bool:
    return len(bundle.items) >= bundle.max_items


def _newness(item: PendingItem) -> tuple[datetime, UUID]:
    return (item.created_at, item.id)
