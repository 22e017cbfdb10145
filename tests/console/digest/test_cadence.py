"""When the digest is due and which week it reports on (pure), across time zones and DST."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metaconnect_console.digest.cadence import (
    Cadence,
    last_due,
    next_due,
    notification_id,
    period_ending,
    week_before,
)

BERLIN = Cadence()  # Monday 08:00 Europe/Berlin


def test_the_default_is_monday_at_eight_in_berlin() -> None:
    assert (BERLIN.weekday, BERLIN.at, BERLIN.zone) == (0, time(8, 0), "Europe/Berlin")
    assert BERLIN.describe() == "every Monday at 08:00 (Europe/Berlin)"


def test_the_last_send_time_is_this_mondays_once_it_passed_else_last_weeks() -> None:
    # Monday 7 Dec 2026, 08:00 in Berlin (winter) is 07:00 UTC.
    assert last_due(BERLIN, datetime(2026, 12, 7, 7, 0, tzinfo=UTC)) == datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
    assert last_due(BERLIN, datetime(2026, 12, 7, 6, 59, tzinfo=UTC)) == datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    assert last_due(BERLIN, datetime(2026, 12, 10, 12, 0, tzinfo=UTC)) == datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
    assert next_due(BERLIN, datetime(2026, 12, 7, 7, 0, tzinfo=UTC)) == datetime(2026, 12, 14, 7, 0, tzinfo=UTC)


def test_a_period_is_the_local_week_before_its_send_time_across_a_dst_change() -> None:
    # Summer time ends on Sunday 25 Oct 2026: Monday 08:00 is 06:00 UTC before and 07:00 UTC after.
    due = last_due(BERLIN, datetime(2026, 10, 26, 12, 0, tzinfo=UTC))
    assert due == datetime(2026, 10, 26, 7, 0, tzinfo=UTC)
    period = period_ending(BERLIN, due)
    assert period.since == datetime(2026, 10, 19, 6, 0, tzinfo=UTC)
    assert period.until == due
    assert period.key == "2026-10-26T07:00:00+00:00"


def test_a_cadence_refuses_an_unknown_zone_or_weekday() -> None:
    with pytest.raises(ValueError, match="time zone"):
        Cadence(zone="Mars/Olympus")
    with pytest.raises(ValueError, match="weekday"):
        Cadence(weekday=7)


zones = st.sampled_from(["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"])
moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC))


@given(
    weekday=st.integers(0, 6),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    zone=zones,
    now=moments,
)
def test_the_last_send_time_is_at_most_a_week_back_and_the_next_after_now(
    weekday: int, hour: int, minute: int, zone: str, now: datetime
) -> None:
    cadence = Cadence(weekday, time(hour, minute), zone)
    due = last_due(cadence, now)
    assert now - timedelta(days=7, hours=2) < due <= now
    assert now < next_due(cadence, now) <= now + timedelta(days=7, hours=2)
    period = period_ending(cadence, due)
    assert timedelta(days=7) - timedelta(hours=2) <= period.until - period.since <= timedelta(days=7, hours=2)


def test_a_send_has_one_notification_id_per_channel_the_same_everywhere() -> None:
    key = period_ending(BERLIN, datetime(2026, 12, 7, 7, 0, tzinfo=UTC)).key
    assert notification_id(key, "email") == notification_id(key, "email")
    assert notification_id(key, "email") != notification_id(key, "webhook")
    assert notification_id(key, "email") != notification_id("2026-12-14T07:00:00+00:00", "email")


def test_send_now_reports_on_the_seven_days_before() -> None:
    now = datetime(2026, 12, 9, 15, 30, tzinfo=UTC)
    assert week_before(now).since == now - timedelta(days=7)
