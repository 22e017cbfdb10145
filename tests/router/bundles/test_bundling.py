"""Meta-connect bundling: windows, fullness, collapse, read-removal, deferral, expiry, order, overflow."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from itertools import count
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaconnect_router.bundles.bundling import (
    Bundle,
    PendingItem,
    add,
    delivery_order,
    due,
    emptied,
    flush,
    join,
    open_bundle,
    remove_acted,
)
from metaconnect_router.routes.spec import Category

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=30)
_ids = count(1)


def item(
    *,
    priority: int = 50,
    key: str | None = None,
    at: timedelta = timedelta(0),
    expires: timedelta | None = None,
    not_before: timedelta | None = None,
    category: Category = Category.MARKETING,
    id_: UUID | None = None,
    message: str | None = None,
) -> PendingItem:
    """An item created `at` after NOW; `expires` and `not_before` are offsets from NOW too."""
    return PendingItem(
        id=id_ or UUID(int=next(_ids)),
        route="welcome",
        message_id=message or f"m-{next(_ids)}",  # each its own message unless told: no default collapse
        priority=priority,
        category=category,
        collapse_key=key,
        created_at=NOW + at,
        expires_at=None if expires is None else NOW + expires,
        not_before=None if not_before is None else NOW + not_before,
    )


def bundle_of(*items: PendingItem, max_items: int = 5) -> Bundle:
    bundle = open_bundle(UUID(int=0), NOW, WINDOW, max_items)
    for it in items:
        bundle = add(bundle, it).bundle
    return bundle


def test_open_bundle_is_due_after_its_window() -> None:
    bundle = open_bundle(UUID(int=9), NOW, WINDOW, 5)
    assert (bundle.opened_at, bundle.due_at, bundle.max_items, bundle.items) == (NOW, NOW + WINDOW, 5, ())
    assert not due(bundle, NOW)
    assert not due(bundle, NOW + WINDOW - timedelta(microseconds=1))
    assert due(bundle, NOW + WINDOW)
    assert due(bundle, NOW + WINDOW + timedelta(hours=1))


def test_a_bundle_opened_for_a_deferred_item_is_due_when_the_item_may_go() -> None:
    later = NOW + WINDOW + timedelta(hours=2)
    assert open_bundle(UUID(int=1), NOW, WINDOW, 5, not_before=later).due_at == later
    assert open_bundle(UUID(int=1), NOW, WINDOW, 5, not_before=NOW + timedelta(minutes=1)).due_at == NOW + WINDOW


@settings(max_examples=200)
@given(
    window=st.timedeltas(timedelta(0), timedelta(days=2)),
    not_before=st.none() | st.timedeltas(timedelta(days=-2), timedelta(days=4)).map(lambda d: NOW + d),
)
def test_a_bundle_is_never_due_before_its_window_nor_its_first_items_time(
    window: timedelta, not_before: datetime | None
) -> None:
    bundle = open_bundle(UUID(int=1), NOW, window, 5, not_before=not_before)
    assert bundle.due_at == max(NOW + window, not_before or NOW)
    assert due(bundle, bundle.due_at)
    assert not due(bundle, bundle.due_at - timedelta(microseconds=1))


def test_a_window_of_zero_is_due_at_once() -> None:
    assert due(open_bundle(UUID(int=1), NOW, timedelta(0), 5), NOW)


@pytest.mark.parametrize(
    ("now", "window", "max_items", "message"),
    [
        (NOW, timedelta(seconds=-1), 5, "negative"),
        (NOW, WINDOW, 0, "max_items"),
        (NOW.replace(tzinfo=None), WINDOW, 5, "timezone-aware"),
    ],
)
def test_open_bundle_refuses_bad_arguments(now: datetime, window: timedelta, max_items: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_bundle(UUID(int=1), now, window, max_items)


def test_items_are_checked() -> None:
    with pytest.raises(ValueError, match="priority"):
        item(priority=101)
    with pytest.raises(ValueError, match="created_at"):
        PendingItem(UUID(int=1), "r", "m", 50, Category.MARKETING, None, datetime(2025, 3, 1), None, None)


def test_a_full_bundle_is_due_before_its_window_closes() -> None:
    bundle = open_bundle(UUID(int=1), NOW, WINDOW, 3)
    fulls = []
    for it in (item(), item(), item()):
        added = add(bundle, it)
        bundle = added.bundle
        fulls.append(added.full)
    assert fulls == [False, False, True]
    assert due(bundle, NOW)


def test_a_full_bundle_still_takes_an_item_and_summarises_it() -> None:
    bundle = bundle_of(item(priority=90), item(priority=80), max_items=2)
    added = add(bundle, item(priority=10))
    assert added.full
    assert len(added.bundle.items) == 3
    out = flush(added.bundle, NOW + WINDOW)
    assert [i.priority for i in out.shown] == [90, 80]
    assert out.overflow == 1
    assert [i.priority for i in out.summarised] == [10]


def test_transactional_items_never_enter_a_bundle() -> None:
    with pytest.raises(ValueError, match="transactional"):
        add(bundle_of(), item(category=Category.TRANSACTIONAL, priority=100))


def test_a_newer_item_supersedes_the_older_with_its_collapse_key() -> None:
    older, other = item(key="cart", at=timedelta(minutes=1)), item(key="news")
    newer = item(key="cart", at=timedelta(minutes=5))
    added = add(bundle_of(older, other), newer)
    assert added.superseded == (older,)
    assert set(added.bundle.items) == {other, newer}
    assert not added.full


def test_an_older_incoming_item_is_itself_superseded() -> None:
    pending = item(key="cart", at=timedelta(minutes=5))
    late = item(key="cart", at=timedelta(minutes=1))
    bundle = bundle_of(pending)
    added = add(bundle, late)
    assert added.superseded == (late,)
    assert added.bundle == bundle


def test_equal_times_collapse_by_id_whatever_the_order() -> None:
    low = item(key="cart", id_=UUID(int=100))
    high = item(key="cart", id_=UUID(int=200))
    assert bundle_of(low, high).items == bundle_of(high, low).items == (high,)


def test_items_without_a_key_never_collapse_and_redelivery_changes_nothing() -> None:
    first, second = item(), item()
    bundle = bundle_of(first, second)
    assert bundle.items == (first, second)
    again = add(bundle, first)
    assert again.bundle == bundle
    assert again.superseded == ()


def test_items_acted_on_leave_the_bundle() -> None:
    read, unread = item(), item()
    bundle = bundle_of(read, unread)
    asked: list[PendingItem] = []

    def was_read(it: PendingItem) -> bool:
        asked.append(it)
        return it.id == read.id

    remaining, removed = remove_acted(bundle, was_read)
    assert removed == (read,)
    assert remaining.items == (unread,)
    assert (remaining.id, remaining.due_at) == (bundle.id, bundle.due_at)
    assert asked == [read, unread]  # once each
    assert remove_acted(remaining, lambda _: False) == (remaining, ())


def test_open_bundle_refuses_a_naive_not_before() -> None:
    with pytest.raises(ValueError, match="not_before must be timezone-aware"):
        open_bundle(UUID(int=1), NOW, WINDOW, 5, not_before=NOW.replace(tzinfo=None))


def test_joined_items_collapse_with_what_the_bundle_holds() -> None:
    # Merged customers' bundles may each hold an item with one key: the newer stays.
    mine, theirs, other = item(key="cart"), item(key="cart", at=timedelta(minutes=1)), item()
    joined = join(bundle_of(mine), [theirs, other])
    assert joined.bundle.items == (theirs, other)
    assert joined.superseded == (mine,)
    assert (joined.bundle.id, joined.bundle.due_at) == (bundle_of(mine).id, bundle_of(mine).due_at)


def test_repeated_triggers_of_one_message_leave_one_item() -> None:
    # A route firing on every app.opened: five items of one message, no collapse_key.
    opens = [item(message="your-picks", at=timedelta(minutes=m)) for m in range(5)]
    added = bundle_of(*opens)
    assert added.items == (opens[-1],)
    # Another route's message of the same id is another message.
    other_route = replace(item(message="your-picks"), route="news")
    assert set(add(added, other_route).bundle.items) == {opens[-1], other_route}
    # An explicit collapse_key is the key: two messages sharing it collapse into one.
    assert len(bundle_of(item(key="k", message="a"), item(key="k", message="b")).items) == 1


def test_an_emptied_bundle_keeps_its_window_and_holds_nothing() -> None:
    bundle = bundle_of(item(), item())
    empty = emptied(bundle)
    assert (empty.items, empty.due_at, empty.max_items) == ((), bundle.due_at, bundle.max_items)
    out = flush(empty, NOW + WINDOW)
    assert (out.shown, out.overflow) == ((), 0)


def test_capped_items_are_deferred_into_the_next_bundle() -> None:
    now = NOW + WINDOW
    later = item(not_before=WINDOW + timedelta(hours=2))
    ready = item(not_before=WINDOW)  # not_before == now: may go
    out = flush(bundle_of(later, ready), now)
    assert out.shown == (ready,)
    assert out.deferred == (later,)
    # Carried over: it waits in the next bundle and goes out once its time has come.
    following = bundle_of()
    for carried in out.deferred:
        following = add(following, carried).bundle
    assert flush(following, now + timedelta(hours=1)).deferred == (later,)
    assert flush(following, now + timedelta(hours=2)).shown == (later,)


def test_expired_items_are_dropped_at_the_flush() -> None:
    now = NOW + WINDOW
    gone = item(expires=WINDOW - timedelta(seconds=1))
    on_the_dot = item(expires=WINDOW)
    fresh = item(expires=WINDOW + timedelta(days=1))
    never_sendable = item(not_before=WINDOW + timedelta(hours=8), expires=WINDOW + timedelta(hours=1))
    out = flush(bundle_of(gone, on_the_dot, fresh, never_sendable), now)
    assert set(out.expired) == {gone, never_sendable}
    assert set(out.shown) == {on_the_dot, fresh}
    assert out.deferred == ()


def test_shown_items_are_ordered_by_priority_then_time_then_id() -> None:
    a = item(priority=40, at=timedelta(minutes=1))
    b = item(priority=90, at=timedelta(minutes=9))
    c = item(priority=40, at=timedelta(minutes=2))
    d = item(priority=90, at=timedelta(minutes=3))
    e = item(priority=40, at=timedelta(minutes=1), id_=UUID(int=10**6))
    out = flush(bundle_of(a, b, c, d, e), NOW + WINDOW)
    assert out.shown == (d, b, a, e, c)


def test_the_rest_are_counted_as_overflow() -> None:
    items = [item(priority=p) for p in (10, 20, 30, 40, 50)]
    bundle = bundle_of(*items)
    out = flush(bundle, NOW + WINDOW, show_max=2)
    assert [i.priority for i in out.shown] == [50, 40]
    assert out.overflow == 3
    assert [i.priority for i in out.summarised] == [30, 20, 10]
    everything = flush(bundle, NOW + WINDOW)  # show_max defaults to max_items
    assert (len(everything.shown), everything.overflow) == (5, 0)
    with pytest.raises(ValueError, match="show_max"):
        flush(bundle, NOW, show_max=0)


def test_times_in_other_offsets_compare_as_instants() -> None:
    berlin = timezone(timedelta(hours=1))
    early = item(at=timedelta(minutes=1))
    late_local = replace(
        early, id=UUID(int=77), message_id="other", created_at=(NOW + timedelta(minutes=2)).astimezone(berlin)
    )
    assert flush(bundle_of(late_local, early), NOW + WINDOW).shown == (early, late_local)


# Properties: any sequence of items, with few collapse keys and close times so that keys and
# ties recur.
@st.composite
def items(draw: st.DrawFn, max_size: int = 12) -> list[PendingItem]:
    n = draw(st.integers(0, max_size))
    ids = draw(st.lists(st.uuids(), min_size=n, max_size=n, unique=True))
    minutes = st.integers(-30, 30)
    return [
        PendingItem(
            id=uid,
            route=draw(st.sampled_from(["r", "s"])),
            message_id=draw(st.sampled_from(["m", "n", "o"])),
            priority=draw(st.integers(1, 100)),
            category=Category.MARKETING,
            collapse_key=draw(st.sampled_from([None, "cart", "news", "price"])),
            created_at=NOW + timedelta(minutes=draw(st.integers(-30, 0))),
            expires_at=draw(st.none() | minutes.map(lambda m: NOW + timedelta(minutes=m))),
            not_before=draw(st.none() | minutes.map(lambda m: NOW + timedelta(minutes=m))),
        )
        for uid in ids
    ]


@settings(max_examples=300)
@given(sequence=items(), max_items=st.integers(1, 6), data=st.data())
def test_adds_keep_one_item_per_key_and_lose_nothing(
    sequence: list[PendingItem], max_items: int, data: st.DataObject
) -> None:
    bundle = open_bundle(UUID(int=0), NOW, WINDOW, max_items)
    superseded: list[PendingItem] = []
    for it in sequence:
        added = add(bundle, it)
        bundle, superseded = added.bundle, [*superseded, *added.superseded]
        assert added.full == (len(bundle.items) >= max_items)
        # A bundle never holds two items with one collapse key, nor (without one) of one route message.
        keys = [p.key for p in bundle.items]
        assert len(keys) == len(set(keys))
        assert all(p.key == (p.collapse_key or f"{p.route}/{p.message_id}") for p in bundle.items)
    assert Counter(bundle.items) + Counter(superseded) == Counter(sequence)
    # The same items in another order leave the same pending set (redelivery, reordering).
    shuffled = data.draw(st.permutations(sequence))
    assert set(bundle_of(*shuffled, max_items=max_items).items) == set(bundle.items)


@settings(max_examples=300)
@given(sequence=items(), show_max=st.none() | st.integers(1, 6), offset=st.integers(-10, 40))
def test_a_flush_accounts_for_every_item_and_shows_them_in_order(
    sequence: list[PendingItem], show_max: int | None, offset: int
) -> None:
    bundle = Bundle(id=UUID(int=0), opened_at=NOW, due_at=NOW + WINDOW, max_items=4, items=tuple(sequence))
    now = NOW + timedelta(minutes=offset)
    out = flush(bundle, now, show_max=show_max)
    assert Counter(out.shown + out.summarised + out.expired + out.deferred) == Counter(sequence)
    assert out.overflow == len(out.summarised)
    assert len(out.shown) <= (bundle.max_items if show_max is None else show_max)
    ordered = [delivery_order(i) for i in out.shown + out.summarised]
    assert ordered == sorted(ordered)
    # Expired: past its expiry by the first instant it may go out (now, or its not_before).
    assert all(i.expires_at is not None and i.expires_at < max(now, i.not_before or now) for i in out.expired)
    assert all(i.not_before is not None and i.not_before > now for i in out.deferred)
    assert all(i.expires_at is None or i.expires_at >= now for i in out.shown + out.summarised)


@settings(max_examples=200)
@given(sequence=items(), data=st.data())
def test_removing_acted_items_keeps_the_others_in_order(sequence: list[PendingItem], data: st.DataObject) -> None:
    bundle = Bundle(id=UUID(int=0), opened_at=NOW, due_at=NOW + WINDOW, max_items=5, items=tuple(sequence))
    acted = set(data.draw(st.sets(st.sampled_from([i.id for i in sequence])) if sequence else st.just(set())))
    remaining, removed = remove_acted(bundle, lambda i: i.id in acted)
    assert {i.id for i in removed} == acted
    assert remaining.items == tuple(i for i in sequence if i.id not in acted)
    assert removed == tuple(i for i in sequence if i.id in acted)
    assert (remaining.id, remaining.due_at, remaining.max_items) == (bundle.id, bundle.due_at, bundle.max_items)


@settings(max_examples=100)
@given(mine=items(max_size=5), theirs=items(max_size=5))
def test_joining_keeps_one_item_per_key_and_loses_nothing(mine: list[PendingItem], theirs: list[PendingItem]) -> None:
    bundle = bundle_of(*mine)
    joined = join(bundle, theirs)
    keys = [p.key for p in joined.bundle.items]
    assert len(keys) == len(set(keys))
    assert Counter(joined.bundle.items) + Counter(joined.superseded) == Counter(bundle.items) + Counter(theirs)
    assert (joined.bundle.id, joined.bundle.due_at) == (bundle.id, bundle.due_at)
