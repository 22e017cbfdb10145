"""Decayed counts (hand-computed) and local active hours across daylight saving time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from metaconnect_common.schemas.interaction import Channel
from metaconnect_common.schemas.profiled import PersonalitySnapshot
from metaconnect_profile.profiles.documents import to_snapshot
from metaconnect_profile.profiles.engagement import Decayed, Receipt, add, local_hour, value_at
from tests.profile.profiles.events import EMPTY, HALF_LIFE, POLICY, T0, event, run

DAY = timedelta(days=1)


@pytest.mark.parametrize(("days", "expected"), [(0, 1.0), (15, 2**-0.5), (30, 0.5), (60, 0.25), (90, 0.125), (-5, 1.0)])
def test_a_count_of_one_halves_every_half_life(days: int, expected: float) -> None:
    assert value_at(Decayed(value=1.0, at=T0), T0 + days * DAY, HALF_LIFE) == pytest.approx(expected)


def test_increments_decay_then_add() -> None:
    # 1 at day 0, 1 at day 30: 0.5 + 1 = 1.5 at day 30, 0.75 at day 60.
    count = add(add(None, T0, HALF_LIFE), T0 + 30 * DAY, HALF_LIFE)
    assert count.at == T0 + 30 * DAY
    assert count.value == pytest.approx(1.5)
    assert value_at(count, T0 + 60 * DAY, HALF_LIFE) == pytest.approx(0.75)


def test_a_late_increment_is_decayed_to_the_stored_time() -> None:
    in_order = add(add(None, T0, HALF_LIFE), T0 + 30 * DAY, HALF_LIFE)
    late = add(add(None, T0 + 30 * DAY, HALF_LIFE), T0, HALF_LIFE)
    assert late.at == in_order.at
    assert late.value == pytest.approx(in_order.value)


def test_receipts_count_per_channel_and_decay_on_read() -> None:
    state = run(
        EMPTY,
        event("message.sent", channel=Channel.PUSH, at=T0),
        event("message.delivered", channel=Channel.PUSH, at=T0),
        event("message.opened", channel=Channel.PUSH, at=T0 + 30 * DAY),
        event("message.sent", channel=Channel.EMAIL, at=T0 + 30 * DAY),
    ).state
    assert set(state.engagement) == {Channel.PUSH, Channel.EMAIL}
    assert state.engagement[Channel.PUSH][Receipt.SENT] == Decayed(value=1.0, at=T0)

    snapshot = to_snapshot(
        state, reachable=[Channel.PUSH], personality=PersonalitySnapshot(), now=T0 + 60 * DAY, policy=POLICY
    )
    push = snapshot.engagement[Channel.PUSH]
    assert push.sent == pytest.approx(0.25)
    assert push.delivered == pytest.approx(0.25)
    assert push.opened == pytest.approx(0.5)
    assert push.clicked == 0.0
    assert snapshot.engagement[Channel.EMAIL].sent == pytest.approx(0.5)


@pytest.mark.parametrize("receipt", ["failed", "bounced", "dismissed", "replied", "clicked"])
def test_every_receipt_kind_is_counted(receipt: str) -> None:
    state = run(EMPTY, event(f"message.{receipt}", channel=Channel.SMS)).state
    assert state.engagement[Channel.SMS][Receipt(receipt)] == Decayed(value=1.0, at=T0)


@pytest.mark.parametrize(
    ("utc", "hour"),
    [
        (datetime(2025, 3, 29, 1, 30, tzinfo=UTC), 2),  # Saturday: CET, UTC+1
        (datetime(2025, 3, 30, 1, 30, tzinfo=UTC), 3),  # last Sunday of March, after 01:00 UTC: CEST, UTC+2
        (datetime(2025, 3, 30, 0, 30, tzinfo=UTC), 1),  # same Sunday, still CET
        (datetime(2025, 10, 26, 0, 30, tzinfo=UTC), 2),  # last Sunday of October, 02:30 CEST (first pass)
        (datetime(2025, 10, 26, 1, 30, tzinfo=UTC), 2),  # 02:30 CET (the repeated hour)
        (datetime(2025, 10, 25, 1, 30, tzinfo=UTC), 3),  # Saturday: still CEST
    ],
)
def test_local_hour_across_daylight_saving_time(utc: datetime, hour: int) -> None:
    assert local_hour(utc, "Europe/Berlin") == hour


def test_local_hour_is_utc_when_the_zone_is_unknown() -> None:
    assert local_hour(datetime(2025, 3, 30, 1, 30, tzinfo=UTC), None) == 1


def test_active_hours_use_the_customer_zone_and_decay() -> None:
    berlin = run(EMPTY, event("profile.updated", {"time_zone": "Europe/Berlin"}, at=T0)).state
    summer = datetime(2025, 3, 30, 1, 30, tzinfo=UTC)
    winter = datetime(2025, 10, 26, 1, 30, tzinfo=UTC)
    state = run(berlin, event("app.opened", at=summer), event("app.opened", at=winter)).state
    assert state.active_hours[3] == Decayed(value=1.0, at=summer)
    assert state.active_hours[2] == Decayed(value=1.0, at=winter)
    # The update itself counts in the zone it sets: 2025-06-01 12:00 UTC is 14:00 CEST.
    assert state.active_hours[14] == Decayed(value=1.0, at=T0)
    hours = to_snapshot(
        state, reachable=[], personality=PersonalitySnapshot(), now=winter + 30 * DAY, policy=POLICY
    ).active_hours
    assert hours[2] == pytest.approx(0.5)
    assert sum(1 for h in hours if h) == 3


@pytest.mark.parametrize(
    "kind", ["message.sent", "message.delivered", "message.failed", "message.bounced", "app.uninstalled"]
)
def test_platform_events_are_not_active_hours(kind: str) -> None:
    assert run(EMPTY, event(kind, channel=Channel.PUSH)).state.active_hours == EMPTY.active_hours


@pytest.mark.parametrize(
    "kind", ["app.opened", "message.opened", "message.clicked", "message.replied", "purchase.completed"]
)
def test_customer_events_are_active_hours(kind: str) -> None:
    assert run(EMPTY, event(kind, at=T0)).state.active_hours[12] == Decayed(value=1.0, at=T0)


def test_what_a_journey_publishes_is_not_the_customers_active_hour() -> None:
    update = event("profile.updated", {"traits": {"hot_lead": True}}, at=T0, source="journey:sales-handover")
    applied = run(EMPTY, update)
    assert applied.state.traits == {"hot_lead": True}
    assert applied.state.active_hours == EMPTY.active_hours
