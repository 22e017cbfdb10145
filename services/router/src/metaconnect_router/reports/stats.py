"""Engagement statistics over plain counts (no I/O): rates, and treated against holdout.

The holdout is assigned per customer, so the unit is the customer, not the item: a customer's
items are not independent trials. Per route, the outcome is whether a customer reached by the
route engaged at least once, a proportion of independent customers. Routes hold out different
shares, so the overall figure is stratified by route, never pooled: each route's rates are
weighted by its customers (treated + holdout), standardising both cohorts to the same mix of
routes.

The interval is Newcombe's hybrid score interval (Newcombe 1998, method 10): Wilson score
intervals of each proportion, combined by squaring and adding their distances from the
estimates (MOVER, Zou & Donner 2008). For the weighted sum over routes the same combination runs
over every route's Wilson intervals with the weights squared; with one route it is exactly
method 10. It keeps its coverage for small and unbalanced groups at low rates, where a Wald
interval does not, and never has zero width.

The array functions take counts with the routes on the last axis and any batch axes before it,
so the coverage test runs the same code on many simulated reports at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

Floats: TypeAlias = npt.NDArray[np.float64]


def _check(s: int, n: int) -> None:
    if n < 0 or not 0 <= s <= n:
        raise ValueError(f"need 0 <= successes <= trials, got {s} of {n}")


def rate(s: int, n: int) -> float | None:
    """The share `s / n` of successes, or None when there were no trials."""
    _check(s, n)
    return s / n if n else None


def relative_lift(treated: float, holdout: float) -> float | None:
    """(treated - holdout) / holdout: +0.2 is a fifth more engagement; None when the holdout rate is 0."""
    return (treated - holdout) / holdout if holdout else None


def z_score(confidence: float) -> float:
    """The two-sided standard normal quantile for `confidence` (1.96 for 0.95)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def wilson_interval(successes: npt.ArrayLike, trials: npt.ArrayLike, z: float) -> tuple[Floats, Floats]:
    """The Wilson score interval of a proportion, elementwise; every trial count must be at least 1."""
    s, n = np.asarray(successes, dtype=np.float64), np.asarray(trials, dtype=np.float64)
    p, z2 = s / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # Clipped: rounding must not put a bound on the wrong side of an estimate of 0 or 1.
    return np.minimum(centre - half, p), np.maximum(centre + half, p)


@dataclass(frozen=True)
class Difference:
    """Standardised rates of both cohorts, their difference and its interval (arrays over the batch axes)."""

    treated_rate: Floats
    holdout_rate: Floats
    difference: Floats
    low: Floats
    high: Floats


def stratified_difference(
    treated_engaged: npt.ArrayLike,
    treated: npt.ArrayLike,
    holdout_engaged: npt.ArrayLike,
    holdout: npt.ArrayLike,
    confidence: float = 0.95,
) -> Difference:
    """Treated minus holdout engagement over routes (last axis), each route weighted by its customers.

    Every route needs at least one customer in each cohort. With one route this is Newcombe's
    hybrid score interval (method 10) of the difference of two proportions.
    """
    te, tn = np.asarray(treated_engaged, dtype=np.float64), np.asarray(treated, dtype=np.float64)
    he, hn = np.asarray(holdout_engaged, dtype=np.float64), np.asarray(holdout, dtype=np.float64)
    if np.any(tn < 1) or np.any(hn < 1):
        raise ValueError("every route needs at least one customer in each cohort")
    if np.any(te < 0) or np.any(te > tn) or np.any(he < 0) or np.any(he > hn):
        raise ValueError("need 0 <= engaged <= customers in each cohort")
    z = z_score(confidence)
    weights = (tn + hn) / np.sum(tn + hn, axis=-1, keepdims=True)
    pt, ph = te / tn, he / hn
    tl, tu = wilson_interval(te, tn, z)
    hl, hu = wilson_interval(he, hn, z)
    treated_rate, holdout_rate = np.sum(weights * pt, axis=-1), np.sum(weights * ph, axis=-1)
    difference = treated_rate - holdout_rate
    w2 = weights * weights
    below = np.sqrt(np.sum(w2 * ((pt - tl) ** 2 + (hu - ph) ** 2), axis=-1))
    above = np.sqrt(np.sum(w2 * ((tu - pt) ** 2 + (ph - hl) ** 2), axis=-1))
    # Within [-1, 1] in exact arithmetic; the clip only removes rounding.
    low = np.clip(difference - below, -1.0, difference)
    high = np.clip(difference + above, difference, 1.0)
    return Difference(treated_rate, holdout_rate, difference, low, high)


@dataclass(frozen=True)
class Cohorts:
    """One route's customers reached in each cohort, and how many of them engaged at least once."""

    treated_engaged: int
    treated: int
    holdout_engaged: int
    holdout: int

    def __post_init__(self) -> None:
        _check(self.treated_engaged, self.treated)
        _check(self.holdout_engaged, self.holdout)

    @property
    def comparable(self) -> bool:
        return self.treated > 0 and self.holdout > 0


@dataclass(frozen=True)
class Comparison:
    """Treated against holdout: (standardised) rates, absolute uplift, relative lift, the uplift's interval."""

    treated_rate: float | None
    holdout_rate: float | None
    uplift: float | None  # treated rate - holdout rate
    relative_lift: float | None  # (treated rate - holdout rate) / holdout rate
    interval: tuple[float, float] | None


def compare(routes: Sequence[Cohorts], *, confidence: float = 0.95) -> Comparison:
    """One route's comparison (`routes` of one), or the overall one stratified over several.

    Only routes with customers in both cohorts can be compared; with none, only a lone route's
    own rates are known.
    """
    compared = [r for r in routes if r.comparable]
    if not compared:
        if len(routes) != 1:
            return Comparison(None, None, None, None, None)
        [only] = routes
        treated_rate, holdout_rate = rate(only.treated_engaged, only.treated), rate(only.holdout_engaged, only.holdout)
        return Comparison(treated_rate, holdout_rate, uplift=None, relative_lift=None, interval=None)
    d = stratified_difference(
        [r.treated_engaged for r in compared],
        [r.treated for r in compared],
        [r.holdout_engaged for r in compared],
        [r.holdout for r in compared],
        confidence,
    )
    treated, holdout = float(d.treated_rate), float(d.holdout_rate)
    return Comparison(
        treated_rate=treated,
        holdout_rate=holdout,
        uplift=float(d.difference),
        relative_lift=relative_lift(treated, holdout),
        interval=(float(d.low), float(d.high)),
    )
