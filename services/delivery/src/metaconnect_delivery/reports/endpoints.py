"""Reports for management over deliveries and attempts (viewer tokens)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from metaconnect_common import periods
from metaconnect_common.auth import ViewerDep
from metaconnect_common.errors import ERROR_RESPONSES
from metaconnect_common.http import StrictQueryRoute
from metaconnect_common.periods import DayOrTime
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
    start, end = periods.window(since, until, default_span=DEFAULT_SPAN)
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
