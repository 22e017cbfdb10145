"""Engagement statistics over plain counts: rates, and holdout vs treated with a Wald interval."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

MIN_DELIVERED = 30
"""Below this many delivered items in either cohort the normal approximation is not trusted."""


def _check(s: int, n: int) -> None:
    if n < 0 or not 0 <= s <= n:
        raise ValueError(f"need 0 <= successes <= trials, got {s} of {n}")


def rate(s: int, n: int) -> float | None:
    """The share `s / n` of successes, or None when there were no trials."""
    _check(s, n)
    return s / n if n else None


def z_score(confidence: float) -> float:
    """The two-sided standard normal quantile for `confidence` (1.96 for 0.95)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def difference_interval(s1: int, n1: int, s2: int, n2: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wald interval for p1 - p2, with the unpooled standard error and no continuity correction."""
    _check(s1, n1)
    _check(s2, n2)
    if n1 == 0 or n2 == 0:
        raise ValueError("both groups need at least one trial")
    p1, p2 = s1 / n1, s2 / n2
    standard_error = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    margin = z_score(confidence) * standard_error
    return p1 - p2 - margin, p1 - p2 + margin


def enough_data(n1: int, n2: int, minimum: int = MIN_DELIVERED) -> bool:
    return n1 >= minimum and n2 >= minimum


@dataclass(frozen=True)
class Comparison:
    """Treated against holdout: rates, absolute uplift, relative lift and the uplift's interval."""

    treated_rate: float | None
    holdout_rate: float | None
    uplift: float | None  # treated rate - holdout rate
    relative_lift: float | None  # treated rate / holdout rate
    interval: tuple[float, float] | None  # only with enough data in both cohorts
    enough_data: bool


def compare(
    treated_engaged: int,
    treated_delivered: int,
    holdout_engaged: int,
    holdout_delivered: int,
    *,
    confidence: float = 0.95,
    minimum: int = MIN_DELIVERED,
) -> Comparison:
    treated = rate(treated_engaged, treated_delivered)
    holdout = rate(holdout_engaged, holdout_delivered)
    enough = enough_data(treated_delivered, holdout_delivered, minimum)
    return Comparison(
        treated_rate=treated,
        holdout_rate=holdout,
        uplift=treated - holdout if treated is not None and holdout is not None else None,
        relative_lift=treated / holdout if treated is not None and holdout else None,
        interval=(
            difference_interval(treated_engaged, treated_delivered, holdout_engaged, holdout_delivered, confidence)
            if enough
            else None
        ),
        enough_data=enough,
    )
