"""The funnel's statistics (pure): Kaplan-Meier quantiles against scipy's estimate, the Wilson
interval, and a small history whose report is computed by hand."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from metaconnect_profile.lifecycles.funnel import EPSILON, Change, funnel, km_quantile, wilson

STAYS = st.lists(st.tuples(st.integers(0, 20), st.booleans()), min_size=1, max_size=40)


def _scipy_quantile(durations: list[float], observed: list[bool], q: float) -> float | None:
    """The smallest time at which scipy's Kaplan-Meier CDF reaches `q`."""
    data = stats.CensoredData(
        uncensored=[d for d, o in zip(durations, observed, strict=True) if o],
        right=[d for d, o in zip(durations, observed, strict=True) if not o],
    )
    if not any(observed):
        return None
    cdf = stats.ecdf(data).cdf
    reached = np.nonzero(cdf.probabilities >= q - EPSILON)[0]
    return float(cdf.quantiles[reached[0]]) if reached.size else None


@settings(max_examples=300, deadline=None)
@given(STAYS, st.sampled_from([0.1, 0.25, 0.5, 0.75, 0.9]))
def test_kaplan_meier_quantiles_are_scipys(stays: list[tuple[int, bool]], q: float) -> None:
    durations = [float(d) for d, _ in stays]
    observed = [o for _, o in stays]
    assert km_quantile(durations, observed, q) == _scipy_quantile(durations, observed, q)


def test_without_censoring_the_median_is_the_empirical_one() -> None:
    assert km_quantile([1.0, 2.0, 3.0, 4.0], [True] * 4, 0.5) == 2.0
    assert km_quantile([5.0, 1.0], [False, True], 0.5) == 1.0  # 1 of 2 left at 1: half
    assert km_quantile([5.0, 1.0, 9.0], [False, True, False], 0.5) is None  # only a third is known to leave


def test_the_wilson_interval() -> None:
    assert wilson(0, 0) is None
    low, high = wilson(3, 4)  # type: ignore[misc]
    assert (low, high) == (pytest.approx(0.3006, abs=1e-4), pytest.approx(0.9544, abs=1e-4))
    low, high = wilson(0, 10)  # type: ignore[misc]
    assert low == 0.0
    assert high == pytest.approx(0.2775, abs=1e-4)


@given(st.integers(0, 200), st.integers(1, 200))
def test_the_wilson_interval_holds_the_share(k: int, n: int) -> None:
    k = min(k, n)
    interval = wilson(k, n)
    assert interval is not None
    assert 0.0 <= interval[0] <= k / n <= interval[1] <= 1.0


T0 = datetime(2021, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)
STAGES = ("lead", "qualified", "sales", "won")


def test_a_small_history_by_hand() -> None:
    a, b, c, d = (uuid.uuid4() for _ in range(4))
    rows = [
        (a, "lead", 0), (a, "qualified", 1), (a, "sales", 3), (a, "won", 4),
        (b, "lead", 0),
        (c, "lead", 1), (c, "qualified", 2), (c, "lead", 5),
        (d, "lead", 7), (d, "qualified", 7),
    ]  # fmt: skip
    changes = [Change(who, stage, T0 + days * DAY, order) for order, (who, stage, days) in enumerate(rows)]
    report = funnel(
        STAGES,
        changes,
        {"lead": 2, "qualified": 1, "won": 1},
        since=T0,
        until=T0 + 14 * DAY,
        now=T0 + 100 * DAY,
        cohorts=True,
    )
    by = {s.stage: s for s in report.stages}
    assert [(s.entered, s.converted) for s in report.stages] == [(4, 3), (3, 1), (1, 1), (1, 0)]
    assert by["lead"].conversion == 0.75
    assert by["lead"].drop_off == 0.25
    assert (by["lead"].stays, by["lead"].open_stays) == (5, 2)
    assert by["lead"].median_s == DAY.total_seconds()  # KM: 0.8 after the stay of 0 s, 0.4 after two of 1 day
    assert by["lead"].p90_s is None
    assert by["qualified"].median_s == 3 * DAY.total_seconds()
    assert by["sales"].median_s == by["sales"].p90_s == DAY.total_seconds()
    assert by["won"].median_s is None
    assert by["sales"].customers_now == 0
    assert [(c.week, c.customers, c.reached) for c in report.cohorts] == [
        (date(2021, 3, 1), 3, {"lead": 3, "qualified": 2, "sales": 1, "won": 1}),
        (date(2021, 3, 8), 1, {"lead": 1, "qualified": 1, "sales": 0, "won": 0}),
    ]
    per_day = {p.start: {s: n for s, n in p.entered.items() if n} for p in report.over_time}
    assert per_day == {
        date(2021, 3, 1): {"lead": 2},
        date(2021, 3, 2): {"lead": 1, "qualified": 1},
        date(2021, 3, 3): {"qualified": 1},
        date(2021, 3, 4): {"sales": 1},
        date(2021, 3, 5): {"won": 1},
        date(2021, 3, 6): {"lead": 1},
        date(2021, 3, 8): {"lead": 1, "qualified": 1},
    }
    weekly = funnel(STAGES, changes, {}, since=T0, until=T0 + 14 * DAY, now=T0 + 100 * DAY, interval="week")
    assert [(p.start, p.entered["lead"]) for p in weekly.over_time] == [(date(2021, 3, 1), 4), (date(2021, 3, 8), 1)]
    assert weekly.cohorts == []


def test_entries_outside_the_window_are_not_counted() -> None:
    who = uuid.uuid4()
    changes = [Change(who, "lead", T0 - DAY, 1), Change(who, "qualified", T0 + DAY, 2)]
    report = funnel(STAGES, changes, {}, since=T0, until=T0 + 7 * DAY, now=T0 + 10 * DAY)
    assert [s.entered for s in report.stages] == [0, 1, 0, 0]
    assert report.stages[1].open_stays == 1


HISTORIES = st.lists(
    st.lists(st.tuples(st.integers(0, 20), st.sampled_from([*STAGES, "gone"])), min_size=1, max_size=6),
    max_size=15,
)


@settings(max_examples=200, deadline=None)
@given(HISTORIES)
def test_counts_hold_together(histories: list[list[tuple[int, str]]]) -> None:
    changes = [
        Change(customer, stage, T0 + days * DAY, order)
        for customer, history in ((uuid.uuid4(), h) for h in histories)
        for order, (days, stage) in enumerate(sorted(history))
    ]
    report = funnel(STAGES, changes, {}, since=T0, until=T0 + 10 * DAY, now=T0 + 30 * DAY, cohorts=True)
    for stage in report.stages:
        assert 0 <= stage.converted <= stage.entered <= stage.stays
        assert stage.open_stays <= stage.stays
        if stage.conversion is not None:
            assert stage.conversion_low is not None
            assert stage.conversion_high is not None
            assert stage.conversion_low <= stage.conversion <= stage.conversion_high
        if stage.median_s is not None and stage.p90_s is not None:
            assert stage.median_s <= stage.p90_s
    assert report.stages[-1].converted == 0  # nothing lies beyond the last stage
    for cohort in report.cohorts:
        reached = [cohort.reached[s] for s in STAGES]
        assert reached == sorted(reached, reverse=True)
        assert reached[0] <= cohort.customers
    assert sum(sum(p.entered.values()) for p in report.over_time) == sum(s.stays for s in report.stages)
