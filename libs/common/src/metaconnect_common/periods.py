"""A report's time window, as every report API takes it: `since` and `until`, each a day
(`2026-12-07`, UTC) or a time with its offset."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from pydantic import PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from metaconnect_common.errors import ApiError, FieldError


def _day_or_time(value: object) -> date | datetime:
    if isinstance(value, date):  # a datetime is a date too
        return value
    text = str(value)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise PydanticCustomError(
            "date_or_datetime", "a day (2026-12-07) or a time with its offset (2026-12-07T08:00:00Z)"
        ) from None
    if len(text) == len("2026-12-07"):
        return parsed.date()
    if parsed.tzinfo is None:
        raise PydanticCustomError("timezone_aware", "a time needs its offset, e.g. Z or +01:00")
    return parsed


DayOrTime = Annotated[
    date | datetime,
    PlainValidator(_day_or_time),
    WithJsonSchema({"type": "string", "anyOf": [{"format": "date"}, {"format": "date-time"}]}),
]
"""A report bound: a day (`2026-12-07`, UTC) or a time with its offset."""


def window_start(value: datetime | date) -> datetime:
    """A time as given; a day from its start (UTC)."""
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time.min, tzinfo=UTC)


def window_end(value: datetime | date) -> datetime:
    """A time as given; a day up to its end (UTC), so `until=2026-12-07` includes that day."""
    if isinstance(value, datetime):
        return value
    return datetime.combine(value + timedelta(days=1), time.min, tzinfo=UTC)


def window(
    since: datetime | date | None, until: datetime | date | None, *, default_span: timedelta
) -> tuple[datetime, datetime]:
    """`[since, until)` as times: `until` defaults to now, `since` to `default_span` before it;
    a 422 naming `since` when it lies after `until`."""
    end = window_end(until) if until is not None else datetime.now(UTC)
    start = window_start(since) if since is not None else end - default_span
    if start > end:
        raise ApiError(
            422,
            "validation_failed",
            "request failed validation",
            errors=[FieldError(field="since", rule="range", message="since must not be after until")],
        )
    return start, end
