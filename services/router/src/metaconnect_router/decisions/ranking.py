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


_NO_EVIDENCE: Final = Posterior()


def rank(
    options: Sequence[Option],
    posteriors: Mapping[Arm, Posterior],
    rng: np.random.Generator,
    *,
    exploration_cap: float = 0.2,
    propensity_draws: int = 200,
    prior: tuple[float, float] = DEFAULT_PRIOR,
) -> Ranked:
    """Choose one option by priority x sampled engagement, exploring at most `exploration_cap`.

    Score of option i in a draw: priority_i / 100 x theta_i, theta_i ~ Beta(a + s_i, b + f_i)
    (arms without a posterior have the prior). The scheme, exact given the draws:

    1. One `rng.beta` call draws theta for all options x `propensity_draws` columns; q_i is the
       share of columns option i wins - its Thompson-sampling selection probability, estimated.
    2. The Thompson choice is the winner of one column picked uniformly, so given the draws it is
       option i with probability exactly q_i (that column's scores are the ones reported).
    3. Greedy g = the best posterior-mean score (ties: the earlier option). If q_g >= 1 - cap the
       Thompson choice stands (pi = q). Otherwise g is chosen with probability 1 - cap and the
       Thompson choice with probability cap: pi_i = (1 - cap)[i = g] + cap q_i.

    Either way P(choice != g) <= cap. The chosen option won a column (pi >= cap / draws) or is g
    (pi >= 1 - cap), so pi > 0; a 0 would be replaced by 1 / (2 draws), as off-policy estimators
    divide by it. Holdout customers never get here (the caller gives them `neutral`).
    """
    n = len(options)
    if n == 0:
        raise ValueError("no options to rank")
    if not 0.0 <= exploration_cap <= 1.0:
        raise ValueError(f"exploration_cap lies between 0 and 1, not {exploration_cap}")
    if propensity_draws < 1:
        raise ValueError(f"propensity_draws must be >= 1, not {propensity_draws}")
    prior_a, prior_b = _checked(prior)
    keys = [o.key for o in options]
    if len(set(keys)) != n:
        raise ValueError("option keys must be unique")

    evidence = [posteriors.get(o.arm, _NO_EVIDENCE) for o in options]
    weight = np.array([o.priority for o in options], dtype=np.float64) / 100.0
    alpha = np.array([p.successes for p in evidence], dtype=np.float64) + prior_a
    beta = np.array([p.failures for p in evidence], dtype=np.float64) + prior_b

    mean_scores = weight * alpha / (alpha + beta)
    greedy = int(np.argmax(mean_scores))

    # One call for all draws: a Python loop over draws would cost ~100x more.
    scores = rng.beta(alpha[:, None], beta[:, None], size=(n, propensity_draws)) * weight[:, None]
    winners = np.argmax(scores, axis=0)
    selection = np.bincount(winners, minlength=n) / propensity_draws
    column = int(rng.integers(propensity_draws))
    thompson = int(winners[column])

    if selection[greedy] >= 1.0 - exploration_cap:
        propensities = selection
        chosen = thompson
    else:
        propensities = exploration_cap * selection
        propensities[greedy] += 1.0 - exploration_cap
        chosen = greedy if rng.random() < 1.0 - exploration_cap else thompson

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


def _checked(prior: tuple[float, float]) -> tuple[float, float]:
    a, b = prior
    if not (math.isfinite(a) and math.isfinite(b) and a > 0.0 and b > 0.0):
        raise ValueError(f"a Beta prior needs a > 0 and b > 0, not {prior}")
    return a, b
