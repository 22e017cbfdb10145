"""When a journey's wait is over (pure): a duration from now, an event's timeout, or the next
local time of day on an allowed weekday on the customer's clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from metaconnect_router.journeys.spec import WEEKDAYS, LocalTime, WaitStep


def wait_until(step: WaitStep, now: datetime, time_zone: str | None) -> datetime:
    """When the wait is over (UTC)."""
    if step.duration is not None:
        return now + step.duration
    if step.event is not None:
        return now + step.event.timeout
    assert step.until is not None
    return next_local_time(now, step.until, time_zone)


def next_local_time(now: datetime, until: LocalTime, time_zone: str | None) -> datetime:
    """The first moment after `now` that is `until.at` on one of its weekdays on the customer's clock."""
    zone = _zone(time_zone)
    local = now.astimezone(zone)
    allowed = {WEEKDAYS.index(d) for d in until.weekdays}
    for days in range(8):
        day = local.date() + timedelta(days=days)
        if day.weekday() not in allowed:
            continue
        candidate = _at(day, until.at, zone)
        if candidate > now:
            return candidate.astimezone(UTC)
    raise AssertionError("a week always holds an allowed day")  # pragma: no cover


def _at(day: date, at: time, zone: ZoneInfo) -> datetime:
    """`at` on `day` in `zone`. A time the clocks skip (spring forward) reads with the offset
    before the change, which is the same span later on the new clock (PEP 495, fold=0); a time
    they pass twice (autumn) is its first occurrence."""
    return datetime.combine(day, at).replace(tzinfo=zone)


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ValueError, OSError, KeyError):
        return ZoneInfo("UTC")
