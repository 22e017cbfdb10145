"""Rates, relative lift, and treated against holdout per customer, stratified by route, checked
against statsmodels (an independent implementation) and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from metaconnect_router.reports.stats import (
    Cohorts,
    compare,
    rate,
    relative_lift,
    stratified_difference,
    wilson_interval,
    z_score,
)


def test_rate_is_a_share_and_none_without_trials() -> None:
    assert rate(3, 4) == 0.75
    assert rate(0, 10) == 0.0
    assert rate(0, 0) is None


@pytest.mark.parametrize(("s", "n"), [(-1, 3), (4, 3), (0, -1)])
def test_counts_that_are_no_proportion_are_refused(s: int, n: int) -> None:
    with pytest.raises(ValueError, match="successes"):
        rate(s, n)
    with pytest.raises(ValueError, match="successes"):
        Cohorts(treated_engaged=s, treated=n, holdout_engaged=0, holdout=1)


def test_z_is_the_two_sided_normal_quantile() -> None:
    assert z_score(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert z_score(0.90) == pytest.approx(1.644854, abs=1e-6)
    with pytest.raises(ValueError, match="confidence"):
        z_score(1.0)


def test_relative_lift_is_the_change_over_the_holdout_rate() -> None:
    """Finding 5: a treated rate of 0.0712 against 0.75 was shown as a lift of 0.095 (the ratio)."""
    assert relative_lift(0.0712, 0.75) == pytest.approx(-0.9051, abs=1e-4)
    assert relative_lift(0.06, 0.05) == pytest.approx(0.2)
    assert relative_lift(0.05, 0.05) == 0.0
    assert relative_lift(0.05, 0.0) is None


counts = st.integers(1, 2000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


@given(counts, st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_wilson_interval_is_statsmodels(group: tuple[int, int], confidence: float) -> None:
    low, high = wilson_interval(*group, z_score(confidence))
    expected = proportion_confint(*group, alpha=1 - confidence, method="wilson")
    assert (float(low), float(high)) == pytest.approx(expected, abs=1e-12)


@given(counts, counts, st.sampled_from([0.9, 0.95, 0.99]))
def test_one_route_is_newcombes_hybrid_score_interval_as_statsmodels_computes_it(
    treated: tuple[int, int], holdout: tuple[int, int], confidence: float
) -> None:
    d = stratified_difference([treated[0]], [treated[1]], [holdout[0]], [holdout[1]], confidence)
    expected = confint_proportions_2indep(*treated, *holdout, method="newcomb", compare="diff", alpha=1 - confidence)
    assert (float(d.low), float(d.high)) == pytest.approx(expected, abs=1e-12)
    assert float(d.difference) == pytest.approx(treated[0] / treated[1] - holdout[0] / holdout[1], abs=1e-15)


@pytest.mark.parametrize(
    ("treated", "holdout"),
    [((14, 1000), (1, 100)), ((21, 300), (2, 50)), ((0, 30), (0, 30)), ((30, 30), (0, 30)), ((600, 10000), (0, 1000))],
)
def test_newcombe_is_never_zero_width(treated: tuple[int, int], holdout: tuple[int, int]) -> None:
    """Finding 4: the Wald interval had zero width at 0/30 vs 0/30."""
    d = stratified_difference([treated[0]], [treated[1]], [holdout[0]], [holdout[1]])
    expected = confint_proportions_2indep(*treated, *holdout, method="newcomb", compare="diff")
    assert (float(d.low), float(d.high)) == pytest.approx(expected, abs=1e-12)
    assert d.high > d.low


def test_zero_against_zero_in_30_customers_each() -> None:
    """Wilson's interval for 0 of 30 is [0, 0.1135]; the difference spans it both ways."""
    d = stratified_difference([0], [30], [0], [30])
    assert (float(d.low), float(d.high)) == pytest.approx((-0.11351, 0.11351), abs=1e-5)


def test_two_routes_weighted_by_their_customers_by_hand() -> None:
    """Route a: 60/100 treated, 40/100 held out; route b: 10/50 treated, 1/50 held out. Weights 2/3, 1/3."""
    d = stratified_difference([60, 10], [100, 50], [40, 1], [100, 50])
    w = np.array([2 / 3, 1 / 3])
    assert float(d.treated_rate) == pytest.approx(2 / 3 * 0.6 + 1 / 3 * 0.2)
    assert float(d.holdout_rate) == pytest.approx(2 / 3 * 0.4 + 1 / 3 * 0.02)
    assert float(d.difference) == pytest.approx(2 / 3 * 0.2 + 1 / 3 * 0.18)
    # MOVER over the routes' Wilson intervals (statsmodels'), each distance scaled by its weight.
    tl, tu = np.array([proportion_confint(s, n, method="wilson") for s, n in ((60, 100), (10, 50))]).T
    hl, hu = np.array([proportion_confint(s, n, method="wilson") for s, n in ((40, 100), (1, 50))]).T
    pt, ph = np.array([0.6, 0.2]), np.array([0.4, 0.02])
    low = float(d.difference) - math.sqrt(float(np.sum(w**2 * ((pt - tl) ** 2 + (hu - ph) ** 2))))
    high = float(d.difference) + math.sqrt(float(np.sum(w**2 * ((tu - pt) ** 2 + (ph - hl) ** 2))))
    assert (float(d.low), float(d.high)) == pytest.approx((low, high), abs=1e-12)


def test_stratifying_undoes_the_pooling_paradox() -> None:
    """Treated does better on both routes, but most treated customers are on the route that engages less.

    Pooled, treated looks worse (0.11 against 0.39); per route and stratified, it is better.
    """
    low_route = Cohorts(treated_engaged=90, treated=900, holdout_engaged=8, holdout=100)  # 10% vs 8%
    high_route = Cohorts(treated_engaged=55, treated=100, holdout_engaged=450, holdout=900)  # 55% vs 50%
    pooled_treated, pooled_holdout = 145 / 1000, 458 / 1000
    assert pooled_treated < pooled_holdout
    c = compare([low_route, high_route])
    assert c.uplift == pytest.approx(0.5 * 0.02 + 0.5 * 0.05)
    assert c.treated_rate == pytest.approx(0.5 * 0.10 + 0.5 * 0.55)
    assert c.relative_lift == pytest.approx(0.035 / (0.5 * 0.08 + 0.5 * 0.50))
    for route in (low_route, high_route):
        assert (compare([route]).uplift or 0) > 0


def test_comparison_of_one_route() -> None:
    c = compare([Cohorts(treated_engaged=60, treated=100, holdout_engaged=40, holdout=100)])
    assert (c.treated_rate, c.holdout_rate) == (0.6, 0.4)
    assert c.uplift == pytest.approx(0.2)
    assert c.relative_lift == pytest.approx(0.5)
    expected = confint_proportions_2indep(60, 100, 40, 100, method="newcomb", compare="diff")
    assert c.interval == pytest.approx(expected, abs=1e-12)


def test_small_groups_get_a_wide_interval_not_none() -> None:
    c = compare([Cohorts(treated_engaged=1, treated=3, holdout_engaged=0, holdout=1)])
    assert c.interval is not None
    low, high = c.interval
    assert low < 0 < 1 / 3 < high


def test_a_route_without_a_holdout_has_rates_but_no_comparison() -> None:
    lone = compare([Cohorts(treated_engaged=5, treated=40, holdout_engaged=0, holdout=0)])
    assert (lone.treated_rate, lone.holdout_rate) == (0.125, None)
    assert (lone.uplift, lone.relative_lift, lone.interval) == (None, None, None)
    assert compare([]) == lone.__class__(None, None, None, None, None)


def test_a_zero_holdout_rate_has_an_uplift_but_no_relative_lift() -> None:
    c = compare([Cohorts(treated_engaged=8, treated=40, holdout_engaged=0, holdout=40)])
    assert (c.holdout_rate, c.uplift, c.relative_lift) == (0.0, 0.2, None)
    assert c.interval is not None


def test_routes_that_cannot_be_compared_are_left_out_of_the_overall_figure() -> None:
    compared = Cohorts(treated_engaged=60, treated=100, holdout_engaged=40, holdout=100)
    no_holdout = Cohorts(treated_engaged=1, treated=500, holdout_engaged=0, holdout=0)
    assert compare([compared, no_holdout]) == compare([compared])


def test_every_route_needs_both_cohorts_in_the_array_code() -> None:
    with pytest.raises(ValueError, match="at least one customer"):
        stratified_difference([0], [0], [0], [5])
    with pytest.raises(ValueError, match="engaged"):
        stratified_difference([6], [5], [0], [5])


route_counts = st.tuples(counts, counts)


@given(st.lists(route_counts, min_size=1, max_size=6), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_the_interval_contains_the_estimate_has_width_and_stays_in_range(
    routes: list[tuple[tuple[int, int], tuple[int, int]]], confidence: float
) -> None:
    d = stratified_difference(*_columns(routes), confidence)
    assert -1.0 <= d.low <= d.difference <= d.high <= 1.0
    assert d.high - d.low > 0


@given(st.lists(route_counts, min_size=1, max_size=6))
def test_swapping_the_cohorts_mirrors_the_interval(routes: list[tuple[tuple[int, int], tuple[int, int]]]) -> None:
    te, tn, he, hn = _columns(routes)
    d, swapped = stratified_difference(te, tn, he, hn), stratified_difference(he, hn, te, tn)
    assert (float(swapped.low), float(swapped.high)) == pytest.approx((-float(d.high), -float(d.low)), abs=1e-12)


@given(route_counts, st.integers(2, 20))
def test_the_interval_narrows_as_customers_grow(route: tuple[tuple[int, int], tuple[int, int]], k: int) -> None:
    (te, tn), (he, hn) = route
    small = stratified_difference([te], [tn], [he], [hn])
    large = stratified_difference([te * k], [tn * k], [he * k], [hn * k])
    assert large.high - large.low < small.high - small.low


@given(st.lists(route_counts, min_size=1, max_size=4))
def test_a_route_listed_twice_weighs_the_same(
    routes: list[tuple[tuple[int, int], tuple[int, int]]],
) -> None:
    te, tn, he, hn = _columns(routes)
    d = stratified_difference(te, tn, he, hn)
    twice = stratified_difference(te + te, tn + tn, he + he, hn + hn)
    assert float(twice.difference) == pytest.approx(float(d.difference), abs=1e-12)
    assert float(twice.treated_rate) == pytest.approx(float(d.treated_rate), abs=1e-12)


def _columns(
    routes: list[tuple[tuple[int, int], tuple[int, int]]],
) -> tuple[list[int], list[int], list[int], list[int]]:
    return (
        [t[0] for t, _ in routes],
        [t[1] for t, _ in routes],
        [h[0] for _, h in routes],
        [h[1] for _, h in routes],
    )
