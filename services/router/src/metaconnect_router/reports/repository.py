"""All SQL of the reports: decisions and their items counted in one GROUP BY per report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_router.models import Decision, Item, ItemState


class DecisionGroup(StrEnum):
    ROUTE = "route"
    CHANNEL = "channel"
    TONE = "tone"
    PATTERN = "pattern"
    OUTCOME = "outcome"


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


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count(Item.id).filter(condition)


async def decision_counts(session: AsyncSession, window: Window, group_by: DecisionGroup) -> list[DecisionCounts]:
    """Per group: decisions made, and their items sent, failed and engaged with."""
    column: SQLColumnExpression[Any] = {
        DecisionGroup.ROUTE: Decision.route,
        DecisionGroup.CHANNEL: Decision.channel,
        DecisionGroup.TONE: Decision.tone,
        DecisionGroup.PATTERN: Decision.pattern,
        DecisionGroup.OUTCOME: Decision.outcome,
    }[group_by]
    rows = await session.execute(
        select(
            column,
            func.count(Decision.id.distinct()),
            _count(_SENT),
            _count(_FAILED),
            _count(_ENGAGED),
        )
        .select_from(Decision)
        .outerjoin(Item, Item.decision_id == Decision.id)
        .where(*_in_window(window))
        .group_by(column)
        .order_by(func.count(Decision.id.distinct()).desc(), column)
    )
    return [
        DecisionCounts(group=group, sent=sent, failed=failed, engaged=engaged, decisions=decisions)
        for group, decisions, sent, failed, engaged in rows
    ]


async def engagement_counts(session: AsyncSession, window: Window, group_by: EngagementGroup) -> list[ItemCounts]:
    """Per group: items that went out in a delivery, counted as sent, failed and engaged with."""
    column: SQLColumnExpression[Any] = {
        EngagementGroup.ROUTE: Decision.route,
        EngagementGroup.CHANNEL: _SENT_CHANNEL,
        EngagementGroup.TONE: Decision.tone,
        EngagementGroup.PATTERN: Decision.pattern,
    }[group_by]
    rows = await session.execute(
        select(column, _count(_SENT), _count(_FAILED), _count(_ENGAGED))
        .select_from(Item)
        .join(Decision, Decision.id == Item.decision_id)
        .where(Item.delivery_id.is_not(None), *_in_window(window))
        .group_by(column)
        .order_by(_count(_SENT).desc(), column)
    )
    return [ItemCounts(group, sent, failed, engaged) for group, sent, failed, engaged in rows]


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
