"""All SQL of the reports: decisions and their items counted in one GROUP BY per report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_router.models import Decision, Item


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
    delivered: int
    engaged: int


@dataclass(frozen=True)
class DecisionCounts(ItemCounts):
    decisions: int


@dataclass(frozen=True)
class CohortCounts:
    route: str
    holdout: bool
    delivered: int
    engaged: int


_SENT = Item.delivery_id.is_not(None)
# An engagement proves delivery even when the receipt was lost (the bandit counts it so too);
# it also keeps engaged <= delivered, so every rate is a proportion.
_DELIVERED = or_(Item.delivered_at.is_not(None), Item.engaged_at.is_not(None))
_ENGAGED = Item.engaged_at.is_not(None)
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
    """Per group: decisions made, and their items sent, delivered and engaged with."""
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
            _count(_DELIVERED),
            _count(_ENGAGED),
        )
        .select_from(Decision)
        .outerjoin(Item, Item.decision_id == Decision.id)
        .where(*_in_window(window))
        .group_by(column)
        .order_by(func.count(Decision.id.distinct()).desc(), column)
    )
    return [
        DecisionCounts(group=group, sent=sent, delivered=delivered, engaged=engaged, decisions=decisions)
        for group, decisions, sent, delivered, engaged in rows
    ]


async def engagement_counts(session: AsyncSession, window: Window, group_by: EngagementGroup) -> list[ItemCounts]:
    """Per group: items sent, delivered and engaged with."""
    column: SQLColumnExpression[Any] = {
        EngagementGroup.ROUTE: Decision.route,
        EngagementGroup.CHANNEL: _SENT_CHANNEL,
        EngagementGroup.TONE: Decision.tone,
        EngagementGroup.PATTERN: Decision.pattern,
    }[group_by]
    rows = await session.execute(
        select(column, func.count(Item.id), _count(_DELIVERED), _count(_ENGAGED))
        .select_from(Item)
        .join(Decision, Decision.id == Item.decision_id)
        .where(_SENT, *_in_window(window))
        .group_by(column)
        .order_by(func.count(Item.id).desc(), column)
    )
    return [ItemCounts(group, sent, delivered, engaged) for group, sent, delivered, engaged in rows]


async def cohort_counts(session: AsyncSession, window: Window) -> list[CohortCounts]:
    """Per route and cohort (holdout or treated): items delivered and engaged with."""
    rows = await session.execute(
        select(Item.route, Decision.holdout, func.count(Item.id), _count(_ENGAGED))
        .select_from(Item)
        .join(Decision, Decision.id == Item.decision_id)
        .where(_DELIVERED, *_in_window(window))
        .group_by(Item.route, Decision.holdout)
        .order_by(Item.route, Decision.holdout)
    )
    return [CohortCounts(route, holdout, delivered, engaged) for route, holdout, delivered, engaged in rows]
