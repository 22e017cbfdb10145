"""Choosing among candidates: priority x engagement, learned by Thompson sampling on Beta posteriors.

An arm is (personality pattern, tone, channel). Its engagement probability has the posterior
Beta(prior_a + successes, prior_b + failures); the caller counts receipts (delivered and then
opened/clicked/replied = success, delivered and not engaged within the attribution window =
failure) and keeps the posteriors. Everything here is pure; randomness comes from the caller's
`numpy.random.Generator`, so a seeded generator replays a decision exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from metaconnect_common.schemas import Channel
from metaconnect_common.schemas.profiled import PersonalitySnapshot
from metaconnect_router.routes.spec import Tone

UNKNOWN_PATTERN: Final = "unknown"
DEFAULT_PRIOR: Final = (1.0, 1.0)
# The share of the exploration cap spread evenly over all options (see `rank`). On the simulated
# population a quarter learned faster than half (more spent on arms already known) and than none
# (an unlucky best tone can starve): tests/router/decisions/test_learning.py.
FLOOR_SHARE: Final = 0.25


@dataclass(frozen=True)
class Arm:
    pattern: str
    tone: Tone
    channel: Channel


@dataclass(frozen=True)
class Posterior:
    """Evidence for one arm; the posterior is Beta(prior_a + successes, prior_b + failures)."""

    successes: float = 0.0
    failures: float = 0.0

    def __post_init__(self) -> None:
        for name, value in (("successes", self.successes), ("failures", self.failures)):
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be a finite count >= 0, not {value}")


@dataclass(frozen=True)
class Option:
    key: str
    arm: Arm
    priority: int

    def __post_init__(self) -> None:
        if not 1 <= self.priority <= 100:
            raise ValueError(f"priority lies between 1 and 100, not {self.priority}")


@dataclass(frozen=True)
class Ranked:
    chosen: Option
    scores: tuple[tuple[str, float], ...]
    """Every option's sampled score (priority / 100 x theta), best first."""
    propensity: float
    """P(the chosen option is chosen) under the policy, given the draws; in (0, 1]."""
    explored: bool
    """The chosen option's posterior-mean score is below the best one's."""
    propensities: tuple[tuple[str, float], ...]
    """Every option's selection probability, in the order given; they sum to 1."""


def arm_for(personality: PersonalitySnapshot, tone: Tone, channel: Channel) -> Arm:
    """The arm a customer's decision learns on; customers without a pattern share `unknown`."""
    return Arm(pattern=personality.pattern or UNKNOWN_PATTERN, tone=tone, channel=channel)


def posterior_mean(p: Posterior, prior: tuple[float, float] = DEFAULT_PRIOR) -> float:
    a, b = _checked(prior)
    return (a + p.successes) / (a + p.successes + b + p.failures)


def update(posterior: Posterior, engaged: bool, weight: float = 1.0) -> Posterior:
    """One receipt's outcome; `weight` < 1 lets the caller discount (e.g. late or decayed evidence)."""
    if not (math.isfinite(weight) and weight >= 0.0):
        raise ValueError(f"weight must be finite and >= 0, not {weight}")
    if engaged:
        return Posterior(successes=posterior.successes + weight, failures=posterior.failures)
    return Posterior(successes=posterior.successes, failures=posterior.failures + weight)


def rank(
    options: Sequence[Option],
    posteriors: Mapping[Arm, Posterior],
    rng: np.random.Generator,
    *,
    exploration_cap: float = 0.2,
    floor_share: float = FLOOR_SHARE,
    propensity_draws: int = 200,
    prior: tuple[float, float] = DEFAULT_PRIOR,
) -> Ranked:
    """Choose one option by priority x sampled engagement, exploring at most `exploration_cap`.

    Score of option i in a draw: priority_i / 100 x theta_i, theta_i ~ Beta(a + s_i, b + f_i)
    (arms without a posterior have the prior). With n options, cap c and u = `floor_share` x c,
    the policy is pi_i = u / n + (1 - u) t_i, exact given the draws:

    1. Floor: with probability u the choice is uniform, so every option keeps at least u / n.
       Thompson sampling alone is slow to correct an arm that was unlucky early: its posterior
       mean falls, it rarely wins a draw, so the receipts that would correct it rarely come.
    2. Otherwise t, Thompson sampling with its exploration clipped at
       c' = min(1, (c - u (n - 1) / n) / (1 - u)), so that the floor's and t's together stay
       within c. One `rng.beta` call draws theta for all options x `propensity_draws` columns;
       q_i is the share of columns option i wins (its Thompson selection probability, estimated)
       and g the best posterior-mean score (ties: the earlier option). t explores (is not g) with
       probability e = min(c', 1 - q_g), spread over the others as Thompson sampling would:
       t_g = 1 - e, t_i = e q_i / (1 - q_g).
       * Unclipped (q_g >= 1 - c'), that is plain Thompson sampling: the winner of a column
         picked uniformly, so given the draws option i with probability exactly q_i.
       * Clipped: g with probability 1 - c', else the winner of a column picked uniformly among
         those g did not win - the challenger of top-two Thompson sampling. Mixing c' x Thompson
         instead would spend part of the budget on g again.
       The picked column's scores are the ones reported.

    P(choice != g) = u (n - 1) / n + (1 - u) e <= c, and every pi_i >= u / n. With `floor_share`
    0 the chosen option still won a column or is g, so pi > 0; a 0 would be replaced by
    1 / (2 draws), as off-policy estimators divide by it. Holdout customers never get here (the
    caller gives them `neutral`).
    """
    n = len(options)
    if n == 0:
        raise ValueError("no options to rank")
    if not 0.0 <= exploration_cap <= 1.0:
        raise ValueError(f"exploration_cap lies between 0 and 1, not {exploration_cap}")
    if not 0.0 <= floor_share <= 1.0:
        raise ValueError(f"floor_share lies between 0 and 1, not {floor_share}")
    if propensity_draws < 1:
        raise ValueError(f"propensity_draws must be >= 1, not {propensity_draws}")
    prior_a, prior_b = _checked(prior)
    keys = [o.key for o in options]
    if len(set(keys)) != n:
        raise ValueError("option keys must be unique")

    evidence = [(o.priority, *_counts(posteriors.get(o.arm))) for o in options]
    table = np.array(evidence, dtype=np.float64)
    weight = table[:, 0] / 100.0
    alpha = table[:, 1] + prior_a
    beta = table[:, 2] + prior_b

    mean_scores = weight * alpha / (alpha + beta)
    greedy = int(np.argmax(mean_scores))

    # One call for all draws: a Python loop over draws would cost ~100x more.
    scores = rng.beta(alpha[:, None], beta[:, None], size=(n, propensity_draws)) * weight[:, None]
    winners = np.argmax(scores, axis=0)
    selection = np.bincount(winners, minlength=n) / propensity_draws

    uniform = floor_share * exploration_cap  # u
    if uniform < 1.0:
        thompson_cap = min(1.0, (exploration_cap - uniform * (n - 1) / n) / (1.0 - uniform))  # c'
    else:
        thompson_cap = 1.0  # every choice is uniform; t does not count
    if selection[greedy] >= 1.0 - thompson_cap:  # e = 1 - q_g: plain Thompson sampling
        column = int(rng.integers(propensity_draws))
        thompson = selection
        chosen = int(winners[column])
    else:  # e = c': g, or a challenger
        challengers = np.flatnonzero(winners != greedy)
        column = int(challengers[rng.integers(len(challengers))])
        thompson = selection * (thompson_cap / (1.0 - selection[greedy]))
        thompson[greedy] = 1.0 - thompson_cap
        chosen = greedy if rng.random() < 1.0 - thompson_cap else int(winners[column])
    propensities = uniform / n + (1.0 - uniform) * thompson
    if rng.random() < uniform:
        chosen = int(rng.integers(n))

    sampled = scores[:, column]
    order = np.argsort(-sampled, kind="stable").tolist()
    sampled_list = sampled.tolist()
    # Not a max(): flooring a small but exact propensity would bias off-policy estimates.
    propensity = min(1.0, float(propensities[chosen]) or 1.0 / (2 * propensity_draws))
    return Ranked(
        chosen=options[chosen],
        scores=tuple((keys[i], sampled_list[i]) for i in order),
        propensity=propensity,
        explored=bool(mean_scores[chosen] < mean_scores[greedy]),
        propensities=tuple(zip(keys, propensities.tolist(), strict=True)),
    )


def _counts(posterior: Posterior | None) -> tuple[float, float]:
    return (0.0, 0.0) if posterior is None else (posterior.successes, posterior.failures)


def _checked(prior: tuple[float, float]) -> tuple[float, float]:
    a, b = prior
    if not (math.isfinite(a) and math.isfinite(b) and a > 0.0 and b > 0.0):
        raise ValueError(f"a Beta prior needs a > 0 and b > 0, not {prior}")
    return a, b
