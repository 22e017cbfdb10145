"""When the digest goes out, and which period it reports on (pure).

A weekly cadence names a weekday and a local time in a time zone (default Monday 08:00
Europe/Berlin). Each send time ends a period: the week before it, from the same local time seven
days earlier. A period's send is named by its end, so every replica computes the same key and the
same notification ids (uuid5) for it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DIGEST_NAMESPACE = uuid.UUID("5b0e3c36-7d36-4c55-9a57-3f1f0c2d7e61")


@dataclass(frozen=True)
class Cadence:
    weekday: int = 0
    """0 Monday ... 6 Sunday."""
    at: time = time(8, 0)
    zone: str = "Europe/Berlin"

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday is 0 (Monday) to 6 (Sunday), not {self.weekday}")
        if not known_zone(self.zone):
            raise ValueError(f"no time zone {self.zone!r}")

    def describe(self) -> str:
        return f"every {WEEKDAYS[self.weekday]} at {self.at:%H:%M} ({self.zone})"


@dataclass(frozen=True)
class Period:
    since: datetime
    until: datetime
    """The send time: the period ends when its digest is due."""

    @property
    def key(self) -> str:
        return self.until.astimezone(UTC).isoformat()


def known_zone(name: str) -> bool:
    if name not in available_timezones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _local(day: date, cadence: Cadence) -> datetime:
    # A wall time skipped by a DST change comes out an hour later (fold 0), as clocks show it.
    return datetime.combine(day, cadence.at, tzinfo=ZoneInfo(cadence.zone)).astimezone(UTC)


def last_due(cadence: Cadence, now: datetime) -> datetime:
    """The latest send time at or before `now` (UTC)."""
    local_today = now.astimezone(ZoneInfo(cadence.zone)).date()
    back = (local_today.weekday() - cadence.weekday) % 7
    candidate = _local(local_today - timedelta(days=back), cadence)
    if candidate > now:
        candidate = _local(local_today - timedelta(days=back + 7), cadence)
    return candidate


def next_due(cadence: Cadence, now: datetime) -> datetime:
    """The first send time after `now` (UTC)."""
    due = last_due(cadence, now)
    return _local(due.astimezone(ZoneInfo(cadence.zone)).date() + timedelta(days=7), cadence)


def period_ending(cadence: Cadence, due: datetime) -> Period:
    """The week before the send time `due`: from the same local time seven days earlier."""
    local_day = due.astimezone(ZoneInfo(cadence.zone)).date()
    return Period(since=_local(local_day - timedelta(days=7), cadence), until=due)


def week_before(now: datetime) -> Period:
    """The seven days up to `now`: what a digest sent now reports on."""
    return Period(since=now - timedelta(days=7), until=now)


def notification_id(send_key: str, channel: str) -> uuid.UUID:
    """The delivery service's idempotency key of one send on one channel: a crash and a retry of
    the same send (or two replicas) ask for the same notification, which goes out once."""
    return uuid.uuid5(DIGEST_NAMESPACE, f"{send_key}/{channel}")
