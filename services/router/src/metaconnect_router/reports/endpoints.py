"""Reports for management over stored decisions and items (viewer tokens)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from metaconnect_common import periods
from metaconnect_common.auth import ViewerDep
from metaconnect_common.errors import ERROR_RESPONSES
from metaconnect_common.http import StrictQueryRoute
from metaconnect_common.periods import DayOrTime
from metaconnect_common.stage import SessionDep
from metaconnect_router.reports import repository, stats
from metaconnect_router.reports.repository import (
    TIME_IN_BUNDLE_BOUNDS,
    CohortCounts,
    DecisionGroup,
    EngagementGroup,
    Period,
    Window,
)
from metaconnect_router.reports.schemas import (
    BundlesReport,
    Cohort,
    DecisionPeriodRow,
    DecisionRow,
    DecisionsOverTime,
    DecisionsReport,
    EngagementOverTime,
    EngagementPeriodRow,
    EngagementReport,
    EngagementRow,
    Interval,
    OverallUplift,
    SizeRow,
    TimeRow,
    Uplift,
    UpliftReport,
)

router = APIRouter(route_class=StrictQueryRoute, tags=["reports"], responses=ERROR_RESPONSES)

DEFAULT_SPAN = timedelta(days=30)
CONFIDENCE = 0.95


async def report_window(
    since: Annotated[
        DayOrTime | None,
        Query(
            description="Decisions made at or after this time, or from the start of this day (UTC); "
            "default: 30 days before `until`.",
            examples=["2026-12-01", "2026-12-01T08:00:00+01:00"],
        ),
    ] = None,
    until: Annotated[
        DayOrTime | None,
        Query(
            description="Decisions made before this time, or up to the end of this day (UTC); default: now.",
            examples=["2026-12-07"],
        ),
    ] = None,
    route: Annotated[str | None, Query(min_length=1, max_length=63, description="Only this route's.")] = None,
) -> Window:
    start, end = periods.window(since, until, default_span=DEFAULT_SPAN)
    return Window(since=start, until=end, route=route)


WindowDep = Annotated[Window, Depends(report_window)]


@router.get("/v1/reports/decisions", summary="Decisions and engagement by outcome, route, channel, tone or pattern")
async def decisions_report(
    session: SessionDep,
    _: ViewerDep,
    window: WindowDep,
    group_by: DecisionGroup = DecisionGroup.ROUTE,
) -> DecisionsReport:
    counts = await repository.decision_counts(session, window, group_by)
    rows = [
        DecisionRow(
            group=c.group,
            decisions=c.decisions,
            sent=c.sent,
            failed=c.failed,
            engaged=c.engaged,
            engagement_rate=stats.rate(c.engaged, c.sent),
        )
        for c in counts
    ]
    sent, engaged = sum(r.sent for r in rows), sum(r.engaged for r in rows)
    total = DecisionRow(
        group=None,
        decisions=sum(r.decisions for r in rows),
        sent=sent,
        failed=sum(r.failed for r in rows),
        engaged=engaged,
        engagement_rate=stats.rate(engaged, sent),
    )
    return DecisionsReport(
        since=window.since, until=window.until, route=window.route, group_by=group_by, rows=rows, total=total
    )


@router.get("/v1/reports/engagement", summary="Items delivered and engaged with, by route, channel, tone or pattern")
async def engagement_report(
    session: SessionDep,
    _: ViewerDep,
    window: WindowDep,
    group_by: EngagementGroup = EngagementGroup.ROUTE,
) -> EngagementReport:
    counts = await repository.engagement_counts(session, window, group_by)
    rows = [
        EngagementRow(
            group=c.group,
            sent=c.sent,
            failed=c.failed,
            engaged=c.engaged,
            engagement_rate=stats.rate(c.engaged, c.sent),
        )
        for c in counts
    ]
    return EngagementReport(since=window.since, until=window.until, route=window.route, group_by=group_by, rows=rows)


@router.get(
    "/v1/reports/decisions/over-time",
    summary="Decisions and engagement by outcome, route, channel, tone or pattern per day or week",
)
async def decisions_over_time(
    session: SessionDep,
    _: ViewerDep,
    window: WindowDep,
    group_by: DecisionGroup = DecisionGroup.OUTCOME,
    period: Period = Period.DAY,
) -> DecisionsOverTime:
    counts = await repository.decision_counts(session, window, group_by, period)
    rows = [
        DecisionPeriodRow(
            period=_bucket(c),
            group=c.group,
            decisions=c.decisions,
            sent=c.sent,
            failed=c.failed,
            engaged=c.engaged,
            engagement_rate=stats.rate(c.engaged, c.sent),
        )
        for c in counts
    ]
    return DecisionsOverTime(
        since=window.since, until=window.until, route=window.route, group_by=group_by, period=period, rows=rows
    )


@router.get(
    "/v1/reports/engagement/over-time",
    summary="Items delivered and engaged with, by route, channel, tone or pattern per day or week",
)
async def engagement_over_time(
    session: SessionDep,
    _: ViewerDep,
    window: WindowDep,
    group_by: EngagementGroup = EngagementGroup.ROUTE,
    period: Period = Period.DAY,
) -> EngagementOverTime:
    counts = await repository.engagement_counts(session, window, group_by, period)
    rows = [
        EngagementPeriodRow(
            period=_bucket(c),
            group=c.group,
            sent=c.sent,
            failed=c.failed,
            engaged=c.engaged,
            engagement_rate=stats.rate(c.engaged, c.sent),
        )
        for c in counts
    ]
    return EngagementOverTime(
        since=window.since, until=window.until, route=window.route, group_by=group_by, period=period, rows=rows
    )


@router.get("/v1/reports/bundles", summary="Bundles flushed: their sizes and their time in bundle")
async def bundles_report(session: SessionDep, _: ViewerDep, window: WindowDep) -> BundlesReport:
    counts = await repository.bundle_counts(session, window)
    lower = (0, *TIME_IN_BUNDLE_BOUNDS)
    upper: tuple[int | None, ...] = (*TIME_IN_BUNDLE_BOUNDS, None)
    return BundlesReport(
        since=window.since,
        until=window.until,
        route=window.route,
        bundles=counts.bundles,
        items=counts.items,
        mean_size=counts.items / counts.bundles if counts.bundles else None,
        median_seconds=counts.median_seconds,
        p90_seconds=counts.p90_seconds,
        sizes=[SizeRow(size=size, bundles=bundles) for size, bundles in counts.by_size],
        time_in_bundle=[
            TimeRow(at_least_seconds=low, under_seconds=high, bundles=bundles)
            for low, high, bundles in zip(lower, upper, counts.by_time, strict=True)
        ],
    )


@router.get(
    "/v1/reports/uplift",
    summary="Engagement of treated against holdout customers, per route and stratified over routes",
)
async def uplift_report(session: SessionDep, _: ViewerDep, window: WindowDep) -> UpliftReport:
    by_route: dict[str, dict[bool, CohortCounts]] = defaultdict(dict)
    for c in await repository.cohort_counts(session, window):
        by_route[c.route][c.holdout] = c
    cohorts = {route: _cohorts(counts) for route, counts in sorted(by_route.items())}
    compared = [c for c in cohorts.values() if c.comparable]
    overall = stats.compare(compared, confidence=CONFIDENCE)
    return UpliftReport(
        since=window.since,
        until=window.until,
        route=window.route,
        confidence=CONFIDENCE,
        overall=OverallUplift(
            since=window.since,
            until=window.until,
            route=window.route,
            routes_compared=len(compared),
            treated=Cohort(
                customers=sum(c.treated for c in compared),
                engaged=sum(c.treated_engaged for c in compared),
                rate=overall.treated_rate,
            ),
            holdout=Cohort(
                customers=sum(c.holdout for c in compared),
                engaged=sum(c.holdout_engaged for c in compared),
                rate=overall.holdout_rate,
            ),
            uplift=overall.uplift,
            relative_lift=overall.relative_lift,
            interval=_interval(overall),
        ),
        routes=[_uplift(route, c) for route, c in cohorts.items()],
    )


def _cohorts(counts: dict[bool, CohortCounts]) -> stats.Cohorts:
    treated, holdout = counts.get(False), counts.get(True)
    return stats.Cohorts(
        treated_engaged=treated.engaged if treated else 0,
        treated=treated.customers if treated else 0,
        holdout_engaged=holdout.engaged if holdout else 0,
        holdout=holdout.customers if holdout else 0,
    )


def _uplift(route: str, cohorts: stats.Cohorts) -> Uplift:
    comparison = stats.compare([cohorts], confidence=CONFIDENCE)
    return Uplift(
        route=route,
        treated=Cohort(customers=cohorts.treated, engaged=cohorts.treated_engaged, rate=comparison.treated_rate),
        holdout=Cohort(customers=cohorts.holdout, engaged=cohorts.holdout_engaged, rate=comparison.holdout_rate),
        uplift=comparison.uplift,
        relative_lift=comparison.relative_lift,
        interval=_interval(comparison),
    )


def _interval(comparison: stats.Comparison) -> Interval | None:
    interval = comparison.interval
    return Interval(low=interval[0], high=interval[1]) if interval else None


def _bucket(counts: repository.ItemCounts) -> date:
    if counts.period is None:  # asked per period, so every row has one
        raise ValueError("a report over time needs a period on every row")
    return counts.period
