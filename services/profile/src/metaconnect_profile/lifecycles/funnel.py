"""The lifecycle funnel (pure): from stage history rows to the report.

Per stage, in lifecycle order (entries counted in the window `[since, until)`):

* `customers_now`: live customers in the stage now;
* `entered`: customers who entered it in the window (each customer once, at its first entry there);
* `converted` / `conversion`: of those, who later reached any later stage (an entry into a later
  stage at or after that first entry; a new customer moved on by its first event counts), with a
  95% Wilson score interval; `drop_off = 1 - conversion`;
* time in stage: the Kaplan-Meier estimate over every stay that began in the window (a stay ends
  at the customer's next stage change; one still open is censored at now, so customers who have
  not left yet count without pretending they left). `median_s` and `p90_s` are the times by which
  half and 90% have left; `null` when the estimate never reaches that share.

By cohort (the ISO week, Monday, of the customer's first stage entry, which must lie in the
window): customers, and how many reached each stage or a later one. Over time: entries per stage
per day or per ISO week.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final, Literal

Z95: Final = 1.959963984540054
EPSILON: Final = 1e-9  # products of survival factors land a hair off exact shares


@dataclass(frozen=True)
class Change:
    """One `stage_changes` row, as the funnel reads it."""

    customer_id: uuid.UUID
    to_stage: str
    changed_at: datetime
    order: int  # the row id: the order of changes at the same time


@dataclass(frozen=True)
class StageFunnel:
    stage: str
    customers_now: int
    entered: int
    converted: int
    conversion: float | None
    conversion_low: float | None
    conversion_high: float | None
    drop_off: float | None
    stays: int
    open_stays: int
    median_s: float | None
    p90_s: float | None


@dataclass(frozen=True)
class Cohort:
    week: date
    customers: int
    reached: dict[str, int]


@dataclass(frozen=True)
class Period:
    start: date
    entered: dict[str, int]


@dataclass(frozen=True)
class Funnel:
    stages: list[StageFunnel]
    cohorts: list[Cohort]
    over_time: list[Period]


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion; None without trials."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    # At 0 and at every trial the bound is exactly 0 (1); floating point lands a hair off it.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def km_quantile(durations: Sequence[float], observed: Sequence[bool], q: float) -> float | None:
    """The Kaplan-Meier `q` quantile of the time to the event: the smallest time at which the
    estimated share with the event reaches `q` (0 < q < 1); None when it never does (too much
    censoring) or without data. A censored time counts as at risk at its own time."""
    if not 0 < q < 1:
        raise ValueError("q lies strictly between 0 and 1")
    events: dict[float, int] = defaultdict(int)
    for duration, seen in zip(durations, observed, strict=True):
        if seen:
            events[duration] += 1
    ordered = sorted(durations)
    survival = 1.0
    at_risk_index = 0
    for time in sorted(events):
        while at_risk_index < len(ordered) and ordered[at_risk_index] < time:
            at_risk_index += 1
        at_risk = len(ordered) - at_risk_index
        survival *= 1 - events[time] / at_risk
        if 1 - survival >= q - EPSILON:
            return time
    return None


def week_start(moment: datetime | date) -> date:
    day = moment.date() if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday())


def funnel(
    stages: Sequence[str],
    changes: Iterable[Change],
    customers_now: Mapping[str, int],
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    interval: Literal["day", "week"] = "day",
    cohorts: bool = False,
) -> Funnel:
    """The report over `changes`: every stage change, at any time, of the live customers (those who
    changed stage in the window suffice: nobody else counts in it). `customers_now` per stage."""
    rank = {s: i for i, s in enumerate(stages)}
    history: dict[uuid.UUID, list[Change]] = defaultdict(list)
    for change in changes:
        history[change.customer_id].append(change)
    for rows in history.values():
        rows.sort(key=lambda c: (c.changed_at, c.order))

    entered: dict[str, set[uuid.UUID]] = {s: set() for s in stages}
    converted: dict[str, set[uuid.UUID]] = {s: set() for s in stages}
    stays: dict[str, tuple[list[float], list[bool]]] = {s: ([], []) for s in stages}
    periods: dict[date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(stages, 0))
    by_cohort: dict[date, list[uuid.UUID]] = defaultdict(list)
    for customer, rows in history.items():
        for index, change in enumerate(rows):
            stage = change.to_stage
            if stage not in rank or not since <= change.changed_at < until:
                continue
            following = rows[index + 1] if index + 1 < len(rows) else None
            ended = following.changed_at if following is not None else now
            stays[stage][0].append(max(0.0, (ended - change.changed_at).total_seconds()))
            stays[stage][1].append(following is not None)
            start = change.changed_at.date() if interval == "day" else week_start(change.changed_at)
            periods[start][stage] += 1
            if customer in entered[stage]:
                continue
            entered[stage].add(customer)
            if any(rank.get(r.to_stage, -1) > rank[stage] for r in rows[index + 1 :]):
                converted[stage].add(customer)
        if cohorts and since <= rows[0].changed_at < until:
            by_cohort[week_start(rows[0].changed_at)].append(customer)

    out = []
    for stage in stages:
        n, k = len(entered[stage]), len(converted[stage])
        interval95 = wilson(k, n)
        durations, observed = stays[stage]
        conversion = k / n if n else None
        out.append(
            StageFunnel(
                stage=stage,
                customers_now=customers_now.get(stage, 0),
                entered=n,
                converted=k,
                conversion=conversion,
                conversion_low=interval95[0] if interval95 else None,
                conversion_high=interval95[1] if interval95 else None,
                drop_off=1 - conversion if conversion is not None else None,
                stays=len(durations),
                open_stays=observed.count(False),
                median_s=km_quantile(durations, observed, 0.5) if durations else None,
                p90_s=km_quantile(durations, observed, 0.9) if durations else None,
            )
        )
    return Funnel(
        stages=out,
        cohorts=[
            Cohort(week=week, customers=len(members), reached=_reached(stages, rank, members, history))
            for week, members in sorted(by_cohort.items())
        ],
        over_time=[Period(start=start, entered=counts) for start, counts in sorted(periods.items())],
    )


def _reached(
    stages: Sequence[str],
    rank: Mapping[str, int],
    members: Sequence[uuid.UUID],
    history: Mapping[uuid.UUID, list[Change]],
) -> dict[str, int]:
    """Per stage, how many of the members ever entered it or a later stage."""
    furthest = [max((rank.get(c.to_stage, -1) for c in history[m]), default=-1) for m in members]
    return {stage: sum(1 for f in furthest if f >= i) for i, stage in enumerate(stages)}
