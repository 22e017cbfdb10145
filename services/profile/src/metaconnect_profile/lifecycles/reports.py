"""The lifecycle funnel report for management (viewer tokens), computed from the stage history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_common import periods
from metaconnect_common.auth import ViewerDep
from metaconnect_common.errors import ERROR_RESPONSES
from metaconnect_common.http import StrictQueryRoute
from metaconnect_common.periods import DayOrTime
from metaconnect_common.stage import SessionDep
from metaconnect_profile.deps import CatalogDep
from metaconnect_profile.lifecycles.funnel import Change, funnel
from metaconnect_profile.lifecycles.schemas import (
    CohortOut,
    FunnelReport,
    FunnelStageOut,
    Interval,
    PeriodOut,
    TimeInStage,
)
from metaconnect_profile.models import Customer, StageChangeRow

router = APIRouter(route_class=StrictQueryRoute, tags=["reports"], responses=ERROR_RESPONSES)

DEFAULT_SPAN = timedelta(days=30)


async def _changes(session: AsyncSession, since: datetime, until: datetime) -> list[Change]:
    """Every stage change, at any time, of the live customers who changed stage in the window
    (only they count in it; a merged customer's history is its survivor's)."""
    in_window = (
        select(StageChangeRow.customer_id)
        .where(StageChangeRow.changed_at >= since, StageChangeRow.changed_at < until)
        .distinct()
    )
    rows = await session.execute(
        select(StageChangeRow.customer_id, StageChangeRow.to_stage, StageChangeRow.changed_at, StageChangeRow.id)
        .join(Customer, Customer.id == StageChangeRow.customer_id)
        .where(
            Customer.erased_at.is_(None),
            Customer.merged_into.is_(None),
            StageChangeRow.customer_id.in_(in_window),
        )
    )
    return [Change(customer_id=c, to_stage=s, changed_at=t, order=i) for c, s, t, i in rows]


async def _customers_now(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(Customer.lifecycle_stage, func.count())
        .where(Customer.erased_at.is_(None), Customer.merged_into.is_(None))
        .group_by(Customer.lifecycle_stage)
    )
    return {row[0]: row[1] for row in rows}


@router.get(
    "/v1/reports/funnel",
    summary="The lifecycle funnel: per stage, entries, conversion and time in stage; by cohort; over time",
    description=(
        "Computed from the stage history (`GET /v1/profiles/{ref}/stages`) in the current lifecycle's order. "
        "Conversion: of the customers who entered a stage in the window, the share who later reached any later "
        "stage, with a 95% Wilson interval. Time in stage: Kaplan-Meier median and 90th percentile over the stays "
        "that began in the window, a stay still open censored at now (null when not reached yet)."
    ),
)
async def funnel_report(
    _: ViewerDep,
    session: SessionDep,
    catalog: CatalogDep,
    since: Annotated[
        DayOrTime | None,
        Query(
            description="Entries at or after this time, or from the start of this day (UTC); "
            "default: 30 days before `until`.",
            examples=["2026-12-01"],
        ),
    ] = None,
    until: Annotated[
        DayOrTime | None,
        Query(description="Entries before this time, or up to the end of this day (UTC); default: now."),
    ] = None,
    cohort: Annotated[
        Literal["week"] | None, Query(description="`week`: customers by the ISO week they entered their first stage.")
    ] = None,
    interval: Annotated[Literal["day", "week"], Query(description="Entries over time per day or ISO week.")] = "day",
) -> FunnelReport:
    start, end = periods.window(since, until, default_span=DEFAULT_SPAN)
    lifecycle = await catalog.current(session)
    now = datetime.now(UTC)
    computed = funnel(
        lifecycle.stages,
        await _changes(session, start, end),
        await _customers_now(session),
        since=start,
        until=end,
        now=now,
        interval=interval,
        cohorts=cohort is not None,
    )
    return FunnelReport(
        since=start,
        until=end,
        lifecycle_version=lifecycle.version,
        interval=interval,
        stages=[
            FunnelStageOut(
                stage=s.stage,
                customers_now=s.customers_now,
                entered=s.entered,
                converted=s.converted,
                conversion=s.conversion,
                conversion_interval=Interval(low=s.conversion_low, high=s.conversion_high)
                if s.conversion_low is not None and s.conversion_high is not None
                else None,
                drop_off=s.drop_off,
                time_in_stage=TimeInStage(stays=s.stays, open_stays=s.open_stays, median_s=s.median_s, p90_s=s.p90_s),
            )
            for s in computed.stages
        ],
        cohorts=[CohortOut(week=c.week, customers=c.customers, reached=c.reached) for c in computed.cohorts]
        if cohort is not None
        else None,
        over_time=[PeriodOut(start=p.start, entered=p.entered) for p in computed.over_time],
    )
