"""The ledger in memory: the bundling rules applied to rows, without a database.

What a batch loads and writes is covered against PostgreSQL in `test_bundles_db.py`; here a
ledger starts empty (customers with no open bundle yet) and the rows it changes are inspected.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from metaconnect_common.schemas import Channel
from metaconnect_router.bundles.ledger import Ledger
from metaconnect_router.models import BundleStatus, ItemState
from metaconnect_router.routes.spec import Category, Policy
from tests.router.bundles.rows_factory import item_row

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=10)
POLICY = Policy(bundle_window=WINDOW, bundle_max_items=3)


def test_a_full_bundle_flushes_into_one_delivery_on_one_channel() -> None:
    ledger, customer = Ledger(), uuid.uuid4()
    rows = [item_row(customer, NOW + timedelta(seconds=i), priority=10 * (i + 1)) for i in range(3)]
    bundles = [ledger.add(row, POLICY, NOW + timedelta(seconds=i)) for i, row in enumerate(rows)]
    [delivery] = ledger.deliveries
    assert len({b.id for b in bundles}) == 1
    assert (bundles[0].status, bundles[0].delivery_id, delivery.bundle_id) == (
        BundleStatus.FLUSHED,
        delivery.id,
        bundles[0].id,
    )
    assert [i.priority for i in delivery.items] == [30, 20, 10]
    assert delivery.channels[0] is Channel.PUSH
    assert {(r.state, r.delivery_id, r.content.sent_channel) for r in rows} == {
        (ItemState.SENT, delivery.id, Channel.PUSH)
    }
    assert ledger.sent[customer] == {Channel.PUSH: [NOW + timedelta(seconds=2)]}


def test_a_bundle_flushes_when_its_window_closes_not_before() -> None:
    ledger, customer = Ledger(), uuid.uuid4()
    row = item_row(customer, NOW)
    bundle = ledger.add(row, POLICY, NOW)
    assert bundle.due_at == NOW + WINDOW
    assert ledger.flush_due(NOW + WINDOW - timedelta(microseconds=1)) == []
    [delivery] = ledger.flush_due(NOW + WINDOW)
    assert [i.id for i in delivery.items] == [row.id]
    assert ledger.flush_due(NOW + 2 * WINDOW) == []  # flushed once


def test_a_newer_item_with_the_same_collapse_key_supersedes_the_older() -> None:
    ledger, customer = Ledger(), uuid.uuid4()
    older, newer = item_row(customer, NOW, key="cart"), item_row(customer, NOW + timedelta(seconds=1), key="cart")
    ledger.add(older, POLICY, NOW)
    ledger.add(newer, POLICY, NOW + timedelta(seconds=1))
    assert (older.state, newer.state) == (ItemState.SUPERSEDED, ItemState.PENDING)
    [delivery] = ledger.flush_due(NOW + WINDOW)
    assert [i.id for i in delivery.items] == [newer.id]


def test_items_acted_on_leave_the_bundle() -> None:
    ledger, customer = Ledger(), uuid.uuid4()
    read, keyed, kept = item_row(customer, NOW), item_row(customer, NOW, key="news"), item_row(customer, NOW)
    for row in (read, keyed, kept):
        ledger.add(row, POLICY.model_copy(update={"bundle_max_items": 5}), NOW)
    assert ledger.act(customer, collapse_key=None, item_ids=[]) == 0
    assert ledger.act(customer, collapse_key="news", item_ids=[read.id]) == 2
    assert (read.state, keyed.state, kept.state) == (ItemState.ACTED, ItemState.ACTED, ItemState.PENDING)
    [delivery] = ledger.flush_due(NOW + WINDOW)
    assert [i.id for i in delivery.items] == [kept.id]


def test_a_deferred_item_opens_a_bundle_due_when_it_may_go() -> None:
    ledger, customer = Ledger(), uuid.uuid4()
    later = NOW + timedelta(hours=2)
    assert ledger.add(item_row(customer, NOW, not_before=later), POLICY, NOW).due_at == later


def test_a_deferred_item_is_carried_into_the_next_bundle() -> None:
    ledger, customer = Ledger(), uuid.uuid4()
    now_row = item_row(customer, NOW)
    later = NOW + timedelta(hours=1)
    deferred = item_row(customer, NOW, not_before=later)
    first = ledger.add(now_row, POLICY, NOW)
    ledger.add(deferred, POLICY, NOW)
    [delivery] = ledger.flush_due(NOW + WINDOW)
    assert [i.id for i in delivery.items] == [now_row.id]
    assert deferred.state is ItemState.PENDING
    assert deferred.bundle_id not in (None, first.id)
    assert ledger.flush_due(later - timedelta(microseconds=1)) == []
    [carried] = ledger.flush_due(later)
    assert [i.id for i in carried.items] == [deferred.id]


def test_items_no_shared_channel_allows_wait_for_the_next_bundle() -> None:
    ledger, customer = Ledger(), uuid.uuid4()
    push = item_row(customer, NOW, channels=(Channel.PUSH,))
    sms = item_row(customer, NOW + timedelta(seconds=1), channels=(Channel.SMS,))
    ledger.add(push, POLICY, NOW)
    ledger.add(sms, POLICY, NOW)
    [delivery] = ledger.flush_due(NOW + WINDOW)
    assert ([i.id for i in delivery.items], delivery.channels) == ([push.id], [Channel.PUSH])
    assert (sms.state, sms.delivery_id) == (ItemState.PENDING, None)
    [next_one] = ledger.flush_due(NOW + 2 * WINDOW)
    assert [i.id for i in next_one.items] == [sms.id]


def test_an_urgent_item_goes_at_once_in_its_own_delivery() -> None:
    ledger, customer = Ledger(), uuid.uuid4()
    row = item_row(customer, NOW, category=Category.TRANSACTIONAL)
    delivery = ledger.send_now(row, [Channel.SMS, Channel.EMAIL], NOW)
    assert (delivery.urgent, delivery.bundle_id, delivery.locale, delivery.channels[0]) == (
        True,
        None,
        "de",
        Channel.SMS,
    )
    assert (row.state, row.content.sent_channel) == (ItemState.SENT, Channel.SMS)


def test_an_erased_customers_pending_items_are_never_sent() -> None:
    ledger, customer = Ledger(), uuid.uuid4()
    row = item_row(customer, NOW)
    ledger.add(row, POLICY, NOW)
    ledger.erase(customer)
    assert row.state is ItemState.ERASED
    assert ledger.flush_due(NOW + WINDOW) == []
    assert ledger.sent[customer] == {}


def test_a_merged_customers_items_join_the_survivors_bundle() -> None:
    ledger, survivor, merged = Ledger(), uuid.uuid4(), uuid.uuid4()
    mine, theirs = item_row(survivor, NOW), item_row(merged, NOW + timedelta(seconds=1))
    target = ledger.add(mine, POLICY, NOW)
    gone = ledger.add(theirs, POLICY, NOW)
    ledger.merge(survivor, [merged])
    assert (gone.status, theirs.bundle_id, theirs.customer_id) == (BundleStatus.MERGED, target.id, survivor)
    [delivery] = ledger.flush_due(NOW + WINDOW)
    assert (delivery.customer_id, {i.id for i in delivery.items}) == (survivor, {mine.id, theirs.id})


def test_a_merged_customers_bundle_becomes_the_survivors_when_they_had_none() -> None:
    ledger, survivor, merged = Ledger(), uuid.uuid4(), uuid.uuid4()
    theirs = item_row(merged, NOW)
    bundle = ledger.add(theirs, POLICY, NOW)
    ledger.merge(survivor, [merged])
    assert (bundle.customer_id, bundle.status, theirs.customer_id) == (survivor, BundleStatus.OPEN, survivor)
