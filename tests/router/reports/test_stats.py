"""Rates, the Wald interval of a difference of proportions, and treated against holdout."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metaconnect_router.reports.stats import (
    MIN_DELIVERED,
    compare,
    difference_interval,
    enough_data,
    rate,
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


def test_z_is_the_two_sided_normal_quantile() -> None:
    assert z_score(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert z_score(0.90) == pytest.approx(1.644854, abs=1e-6)
    with pytest.raises(ValueError, match="confidence"):
        z_score(1.0)


@pytest.mark.parametrize(
    ("counts", "confidence", "expected"),
    [
        # 0.2 ± 1.96 * sqrt(0.6*0.4/100 + 0.4*0.6/100)
        ((60, 100, 40, 100), 0.95, (0.064210, 0.335790)),
        ((60, 100, 40, 100), 0.90, (0.086041, 0.313959)),
        # 0.35 ± 1.96 * sqrt(0.6*0.4/50 + 0.25*0.75/40)
        ((30, 50, 10, 40), 0.95, (0.159092, 0.540908)),
    ],
)
def test_interval_against_hand_computed_values(
    counts: tuple[int, int, int, int], confidence: float, expected: tuple[float, float]
) -> None:
    assert difference_interval(*counts, confidence=confidence) == pytest.approx(expected, abs=1e-6)


def test_interval_of_zero_and_certain_rates_has_no_width() -> None:
    assert difference_interval(0, 50, 0, 50) == (0.0, 0.0)
    assert difference_interval(50, 50, 0, 50) == (1.0, 1.0)


def test_interval_needs_a_trial_in_each_group() -> None:
    with pytest.raises(ValueError, match="trial"):
        difference_interval(0, 0, 3, 10)


def test_enough_data_needs_the_minimum_in_both_groups() -> None:
    assert MIN_DELIVERED == 30
    assert enough_data(30, 30)
    assert not enough_data(29, 1000)
    assert not enough_data(1000, 29)
    assert enough_data(5, 5, minimum=5)


def test_comparison_with_enough_data() -> None:
    c = compare(60, 100, 40, 100)
    assert (c.treated_rate, c.holdout_rate) == (0.6, 0.4)
    assert c.uplift == pytest.approx(0.2)
    assert c.relative_lift == pytest.approx(1.5)
    assert c.enough_data
    assert c.interval == pytest.approx((0.064210, 0.335790), abs=1e-6)


def test_comparison_without_enough_data_keeps_the_point_estimates() -> None:
    c = compare(10, 20, 2, 10)
    assert (c.treated_rate, c.holdout_rate) == (0.5, 0.2)
    assert c.uplift == pytest.approx(0.3)
    assert c.relative_lift == pytest.approx(2.5)
    assert not c.enough_data
    assert c.interval is None


def test_comparison_with_an_empty_or_zero_holdout() -> None:
    empty = compare(5, 40, 0, 0)
    assert (empty.holdout_rate, empty.uplift, empty.relative_lift, empty.interval) == (None, None, None, None)
    zero = compare(8, 40, 0, 40)
    assert (zero.holdout_rate, zero.uplift, zero.relative_lift) == (0.0, 0.2, None)
    assert zero.interval is not None


proportions = st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


@given(proportions, proportions, st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_interval_contains_the_point_estimate(
    treated: tuple[int, int], holdout: tuple[int, int], confidence: float
) -> None:
    low, high = difference_interval(*treated, *holdout, confidence=confidence)
    difference = treated[0] / treated[1] - holdout[0] / holdout[1]
    assert low <= difference <= high
    assert high - difference == pytest.approx(difference - low)


@given(proportions, proportions, st.integers(2, 20))
def test_interval_widens_as_the_samples_shrink(treated: tuple[int, int], holdout: tuple[int, int], k: int) -> None:
    """The same rates over k times fewer items: an interval sqrt(k) times as wide."""
    small_low, small_high = difference_interval(*treated, *holdout)
    large_low, large_high = difference_interval(treated[0] * k, treated[1] * k, holdout[0] * k, holdout[1] * k)
    assert small_high - small_low >= large_high - large_low
    assert small_high - small_low == pytest.approx((large_high - large_low) * k**0.5, abs=1e-9)


@given(proportions, proportions)
def test_swapping_the_groups_mirrors_the_interval(treated: tuple[int, int], holdout: tuple[int, int]) -> None:
    low, high = difference_interval(*treated, *holdout)
    assert difference_interval(*holdout, *treated) == pytest.approx((-high, -low))
