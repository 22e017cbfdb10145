"""All SQL of the reports: decisions and their items counted in one GROUP BY per report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Date, Float, SQLColumnExpression, and_, cast, func, null, or_, select
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_router.models import Bundle, BundleStatus, Decision, Item, ItemState


class DecisionGroup(StrEnum):
    ROUTE = "route"
    CHANNEL = "channel"
    TONE = "tone"
    PATTERN = "pattern"
    OUTCOME = "outcome"


class Period(StrEnum):
    """A time bucket of a report over time: a UTC day, or an ISO week (from Monday, UTC)."""

    DAY = "day"
    WEEK = "week"


class EngagementGroup(StrEnum):
    ROUTE = "route"
    CHANNEL = "channel"
    TONE = "tone"
    PATTERN = "pattern"


@dataclass(frozen=True)
class Window:
    """Decisions made in [since, until), of one route or of all."""

    since: datetime
    until: datetime
    route: str | None = None


@dataclass(frozen=True)
class ItemCounts:
    group: str | None
    sent: int
    failed: int
    engaged: int
    period: date | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class DecisionCounts(ItemCounts):
    decisions: int


@dataclass(frozen=True)
class CohortCounts:
    """One route's customers of one cohort reached by it, and how many engaged at least once."""

    route: str
    holdout: bool
    customers: int
    engaged: int


_FAILED = Item.state == ItemState.FAILED.value
# Sent: a provider accepted it (`message.sent`, or `message.delivered` where a channel reports
# delivery). An engagement proves it even when the receipt was lost (the bandit counts it so
# too). A failed item never reached the customer, whatever came before its `message.failed`.
_SENT = and_(~_FAILED, or_(Item.delivered_at.is_not(None), Item.engaged_at.is_not(None)))
_ENGAGED = and_(~_FAILED, Item.engaged_at.is_not(None))  # so engaged <= sent: every rate is a proportion
# The channel an item went on: a bundle picks it at flush time, so it may differ from the decision's.
_SENT_CHANNEL = func.coalesce(Item.payload["sent_channel"].astext, Decision.channel)


def _in_window(window: Window) -> list[ColumnElement[bool]]:
    conditions = [Decision.created_at >= window.since, Decision.created_at < window.until]
    if window.route is not None:
        conditions.append(Decision.route == window.route)
    return conditions


def _period(period: Period) -> ColumnElement[date]:
    """The UTC day or week (its Monday) a decision was made in."""
    return cast(func.date_trunc(period.value, func.timezone("UTC", Decision.created_at)), Date)


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count(Item.id).filter(condition)


async def decision_counts(
    session: AsyncSession, window: Window, group_by: DecisionGroup, period: Period | None = None
) -> list[DecisionCounts]:
    """Per group (and per day or week, with `period`): decisions made, and their items sent, failed and engaged."""
    column: SQLColumnExpression[Any] = {
        DecisionGroup.ROUTE: Decision.route,
        DecisionGroup.CHANNEL: Decision.channel,
        DecisionGroup.TONE: Decision.tone,
        DecisionGroup.PATTERN: Decision.pattern,
        DecisionGroup.OUTCOME: Decision.outcome,
    }[group_by]
    bucket = _period(period) if period else None
    keys = [bucket, column] if bucket is not None else [column]
    rows = await session.execute(
        select(
            bucket if bucket is not None else null(),
            column,
            func.count(Decision.id.distinct()),
            _count(_SENT),
            _count(_FAILED),
            _count(_ENGAGED),
        )
        .select_from(Decision)
        .outerjoin(Item, Item.decision_id == Decision.id)
        .where(*_in_window(window))
        .group_by(*keys)
        .order_by(*keys[:-1], func.count(Decision.id.distinct()).desc(), column)
    )
    return [
        DecisionCounts(group=group, sent=sent, failed=failed, engaged=engaged, decisions=decisions, period=day)
        for day, group, decisions, sent, failed, engaged in rows
    ]


async def engagement_counts(
    session: AsyncSession, window: Window, group_by: EngagementGroup, period: Period | None = None
) -> list[ItemCounts]:
    """Per group (and per day or week, with `period`): items that went out in a delivery, counted as sent,
    failed and engaged with."""
    column: SQLColumnExpression[Any] = {
        EngagementGroup.ROUTE: Decision.route,
        EngagementGroup.CHANNEL: _SENT_CHANNEL,
        EngagementGroup.TONE: Decision.tone,
        EngagementGroup.PATTERN: Decision.pattern,
    }[group_by]
    bucket = _period(period) if period else None
    keys = [bucket, column] if bucket is not None else [column]
    rows = await session.execute(
        select(bucket if bucket is not None else null(), column, _count(_SENT), _count(_FAILED), _count(_ENGAGED))
        .select_from(Item)
        .join(Decision, Decision.id == Item.decision_id)
        .where(Item.delivery_id.is_not(None), *_in_window(window))
        .group_by(*keys)
        .order_by(*keys[:-1], _count(_SENT).desc(), column)
    )
    return [ItemCounts(group, sent, failed, engaged, period=day) for day, group, sent, failed, engaged in rows]


async def cohort_counts(session: AsyncSession, window: Window) -> list[CohortCounts]:
    """Per route and cohort (holdout or treated): customers with an item sent, and those who engaged.

    A customer is counted once per route and cohort, however many items they got; one held out
    of a decision by another route's holdout and treated in another counts in both cohorts.
    """
    per_customer = (
        select(
            Item.route.label("route"),
            Decision.holdout.label("holdout"),
            func.bool_or(_ENGAGED).label("engaged"),
        )
        .select_from(Item)
        .join(Decision, Decision.id == Item.decision_id)
        .where(_SENT, *_in_window(window))
        .group_by(Item.route, Decision.holdout, Item.customer_id)
        .subquery()
    )
    rows = await session.execute(
        select(
            per_customer.c.route,
            per_customer.c.holdout,
            func.count(),
            func.count().filter(per_customer.c.engaged),
        )
        .group_by(per_customer.c.route, per_customer.c.holdout)
        .order_by(per_customer.c.route, per_customer.c.holdout)
    )
    return [CohortCounts(route, holdout, customers, engaged) for route, holdout, customers, engaged in rows]


# Upper bounds (seconds) of the time-in-bundle buckets; the last bucket has none.
TIME_IN_BUNDLE_BOUNDS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 24 * 3600)


@dataclass(frozen=True)
class BundleCounts:
    """Bundles flushed in a window: how many by items sent in each, and by time they stayed open."""

    bundles: int
    items: int
    by_size: list[tuple[int, int]]  # (items in its delivery, bundles)
    by_time: list[int]  # bundles per TIME_IN_BUNDLE_BOUNDS bucket, and one more past the last bound
    median_seconds: float | None
    p90_seconds: float | None


async def bundle_counts(session: AsyncSession, window: Window) -> BundleCounts:
    """Bundles flushed in [since, until) (of those holding an item of `route`, with one): their sizes
    (items that went out in their delivery) and their time in bundle (opened to flushed)."""
    conditions = [
        Bundle.status == BundleStatus.FLUSHED.value,
        Bundle.flushed_at >= window.since,
        Bundle.flushed_at < window.until,
    ]
    if window.route is not None:
        conditions.append(Bundle.id.in_(select(Item.bundle_id).where(Item.route == window.route)))
    sent_items = (
        select(func.count(Item.id)).where(Item.bundle_id == Bundle.id, Item.delivery_id.is_not(None)).scalar_subquery()
    )
    flushed = (
        select(
            sent_items.label("size"),
            cast(func.extract("epoch", Bundle.flushed_at - Bundle.opened_at), Float).label("seconds"),
        )
        .where(*conditions)
        .subquery()
    )
    bounds = cast(array([float(b) for b in TIME_IN_BUNDLE_BOUNDS]), ARRAY(Float))
    bucket = func.width_bucket(flushed.c.seconds, bounds).label("bucket")
    by_size = (
        await session.execute(select(flushed.c.size, func.count()).group_by(flushed.c.size).order_by(flushed.c.size))
    ).all()
    by_bucket: dict[int, int] = {
        int(row[0]): int(row[1]) for row in await session.execute(select(bucket, func.count()).group_by(bucket))
    }
    median, p90 = (
        await session.execute(
            select(
                func.percentile_cont(0.5).within_group(flushed.c.seconds),
                func.percentile_cont(0.9).within_group(flushed.c.seconds),
            )
        )
    ).one()
    return BundleCounts(
        bundles=sum(count for _, count in by_size),
        items=sum(size * count for size, count in by_size),
        by_size=[(size, count) for size, count in by_size],
        by_time=[by_bucket.get(i, 0) for i in range(len(TIME_IN_BUNDLE_BOUNDS) + 1)],
        median_seconds=float(median) if median is not None else None,
        p90_seconds=float(p90) if p90 is not None else None,
    )
