"""When a journey's wait is over, on the customer's clock (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from metaconnect_router.journeys import clock
from metaconnect_router.journeys.spec import LocalTime, Weekday

NOW = datetime(2026, 3, 27, 10, 0, tzinfo=UTC)  # a Friday; Berlin moves its clocks on Sunday 29 March


def test_a_local_time_wait_lands_on_the_customers_clock_across_the_clock_change() -> None:
    until = LocalTime(at=datetime.strptime("09:00", "%H:%M").time(), weekdays=[Weekday.MON])
    # Friday 10:00 UTC -> Monday 30 March 09:00 in Berlin, which is summer time by then (UTC+2).
    assert clock.next_local_time(NOW, until, "Europe/Berlin") == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    assert clock.next_local_time(NOW, until, "America/New_York") == datetime(2026, 3, 30, 13, 0, tzinfo=UTC)
    assert clock.next_local_time(NOW, until, "Not/AZone") == datetime(2026, 3, 30, 9, 0, tzinfo=UTC)
    # A time the clocks skip (02:30 on 29 March in Berlin) is the same span after the change: 03:30.
    skipped = LocalTime(at=datetime.strptime("02:30", "%H:%M").time(), weekdays=[Weekday.SUN])
    assert clock.next_local_time(NOW, skipped, "Europe/Berlin") == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


@given(
    now=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)),
    zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]),
    hour=st.integers(0, 23),
    minute=st.sampled_from([0, 15, 30, 45]),
    days=st.sets(st.sampled_from(list(Weekday)), min_size=1),
)
@settings(max_examples=300, deadline=None)
def test_a_local_time_wait_is_after_now_within_a_week_on_an_allowed_day(
    now: datetime, zone: str, hour: int, minute: int, days: set[Weekday]
) -> None:
    from zoneinfo import ZoneInfo

    until = LocalTime(at=datetime(2000, 1, 1, hour, minute).time(), weekdays=sorted(days))
    due = clock.next_local_time(now, until, zone)
    assert now < due <= now + timedelta(days=8)
    local = due.astimezone(ZoneInfo(zone))
    assert list(Weekday)[local.weekday()] in days
