"""Reports for management over deliveries and attempts (viewer tokens)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from metaconnect_common.auth import ViewerDep
from metaconnect_common.errors import ERROR_RESPONSES, ApiError, FieldError
from metaconnect_common.http import StrictQueryRoute
from metaconnect_common.stage import SessionDep
from metaconnect_delivery.reports import repository

router = APIRouter(route_class=StrictQueryRoute, tags=["reports"], responses=ERROR_RESPONSES)

DEFAULT_SPAN = timedelta(days=30)


class ProviderRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    provider: str | None = Field(
        description="The provider account; null for deliveries no provider took (no address, nothing to send)."
    )
    deliveries: int = Field(description="Deliveries that ended with this provider (their last attempt's).")
    sent: int = Field(description="Of them, sent: the provider accepted it.")
    failed: int = Field(description="Of them, failed for good (after retries and fail-over).")
    pending: int = Field(description="Of them, not done yet (waiting for a retry or being sent).")
    failure_rate: float | None = Field(description="failed / (sent + failed); null when none is done.")
    attempts: int = Field(description="Calls made to this provider for these deliveries.")
    failed_attempts: int = Field(description="Of them, calls that did not get through: retry, unknown or permanent.")


class ProvidersReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    since: datetime
    until: datetime
    rows: list[ProviderRow] = Field(description="Most deliveries first; the row without a provider last.")


def _day_or_time(value: object) -> date | datetime:
    # As the router's reports take them: a bare day is a UTC day, a time needs its offset.
    if isinstance(value, date):
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


def _bound(value: date, *, end: bool) -> datetime:
    """A day (UTC) from its start, or up to its end; a time as given."""
    if isinstance(value, datetime):
        return value
    return datetime.combine(value + timedelta(days=1) if end else value, time.min, tzinfo=UTC)


@router.get("/v1/reports/providers", summary="Deliveries and failures by provider")
async def providers_report(
    session: SessionDep,
    _: ViewerDep,
    since: Annotated[
        DayOrTime | None,
        Query(description="Deliveries created at or after this time, or from the start of this day (UTC)."),
    ] = None,
    until: Annotated[
        DayOrTime | None,
        Query(description="Deliveries created before this time, or up to the end of this day (UTC); default: now."),
    ] = None,
) -> ProvidersReport:
    end = _bound(until, end=True) if until is not None else datetime.now(UTC)
    start = _bound(since, end=False) if since is not None else end - DEFAULT_SPAN
    if start > end:
        raise ApiError(
            422,
            "validation_failed",
            "request failed validation",
            errors=[FieldError(field="since", rule="range", message="since must not be after until")],
        )
    counts = await repository.provider_counts(session, start, end)
    return ProvidersReport(
        since=start,
        until=end,
        rows=[
            ProviderRow(
                provider=c.provider,
                deliveries=c.deliveries,
                sent=c.sent,
                failed=c.failed,
                pending=c.pending,
                failure_rate=c.failed / (c.sent + c.failed) if c.sent + c.failed else None,
                attempts=c.attempts,
                failed_attempts=c.failed_attempts,
            )
            for c in counts
        ],
    )
