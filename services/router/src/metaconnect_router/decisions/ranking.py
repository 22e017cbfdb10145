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
# The share of the exploration cap spread evenly over all options (see `rank`). On the idealised
# simulation a quarter learned faster than half (more spent on arms already known) and than none
# (an unlucky best tone can starve): tests/router/decisions/test_learning.py. It is kept for
# off-policy evaluation (every propensity >= 0.05 / n); it costs ~0.0006 engagements per treated
# decision for ever, not measurable on realistic customers (docs/router.md, "What the router learns").
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
    """Every option's score as the rule that chose weighed it (posterior means, or a Thompson
    draw), best first."""
    propensity: float
    """P(the chosen option is chosen) under the policy, given the draws; in (0, 1]."""
    explored: bool
    """The chosen option's posterior-mean score is below the best one's (it is not greedy)."""
    propensities: tuple[tuple[str, float], ...]
    """Every option's selection probability, in the order given; they sum to 1."""
    rule: str = "greedy"
    """What chose it: "prior" (the best prior, no receipts yet), "greedy" (the best posterior
    mean), "thompson" (the winning draw) or "uniform" (the exploration floor)."""


@dataclass(frozen=True)
class TonePrior:
    """What a customer's personality says before any receipt: a Beta prior on each tone's
    engagement, `strength` pseudo-observations with mean `base_rate`, and for the tone written
    for the customer's colour `base_rate` x (1 + (`matched_lift` - 1) x the colour's probability).
    Matched-tone lifts of 1.2-1.4x are what message matching shows (Matz et al. 2017;
    Joyal-Desmarais et al. 2022); a few dozen pseudo-observations are corrected by real receipts
    after a few hundred sends. An unknown colour favours no tone: every tone ties, and ties are
    broken at random."""

    base_rate: float = 0.05
    matched_lift: float = 1.3
    strength: float = 20.0

    def __post_init__(self) -> None:
        if not (0.0 < self.base_rate < 1.0 and 1.0 <= self.matched_lift and self.base_rate * self.matched_lift < 1.0):
            raise ValueError("a tone prior needs 0 < base_rate, base_rate x matched_lift < 1 and matched_lift >= 1")
        if not (math.isfinite(self.strength) and self.strength > 0.0):
            raise ValueError(f"strength must be > 0, not {self.strength}")

    def of(self, personality: PersonalitySnapshot, tone: Tone) -> tuple[float, float]:
        """The prior (a, b) of `tone` for a customer of `personality`."""
        mean = self.base_rate
        if personality.colour.value == tone.value:  # `unknown` matches no tone
            mean *= 1.0 + (self.matched_lift - 1.0) * personality.probability
        return self.strength * mean, self.strength * (1.0 - mean)


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
    priors: Sequence[tuple[float, float]] | None = None,
) -> Ranked:
    """Choose one option by priority x engagement, exploring at most `exploration_cap`.

    Option i's engagement has the posterior Beta(a_i + s_i, b_i + f_i): its arm's receipts on
    the option's own prior `priors[i]` (the customer's personality, see `TonePrior`; `prior` for
    all when not given). Its score is priority_i / 100 x engagement. With n options, cap c and
    u = `floor_share` x c, the policy is pi_i = u / n + (1 - u) t_i, exact given the draws:

    1. Floor (`rule` "uniform"): with probability u the choice is uniform, so every option keeps at
       least u / n for off-policy evaluation.
    2. Otherwise t: G are the options with the best posterior-mean score (ties are all of them,
       never the first listed). One `rng.beta` call draws every option's score in
       `propensity_draws` columns; q_i is the share of columns option i wins (its Thompson
       selection probability) and q_G = sum over G. With c' = min(1, (c - u (n - 1) / n) / (1 - u)):
       * q_G >= 1 - c': plain Thompson sampling: the winner of a column picked uniformly
         (`rule` "thompson"), given the draws option i with probability exactly q_i;
       * else greedy with probability 1 - c', uniform among G (`rule` "greedy", or "prior" when no
         option has a receipt yet: the customer's personality decided), else the winner of a
         column picked uniformly among those G did not win (`rule` "thompson", the challenger of
         top-two Thompson sampling): t_i = (1 - c') / |G| in G, c' q_i / (1 - q_G) outside.

    `explored` is true exactly when the choice is not in G. The reported scores are those that
    decided: the posterior means for "greedy", "prior" and "uniform", the picked column's draws
    for "thompson". P(choice not in G) <= c, every pi_i >= u / n; a propensity of 0 (floor 0, a
    column no option won) would be replaced by 1 / (2 draws), as off-policy estimators divide by it.
    Holdout customers never get here (the caller gives them `neutral`).
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
    if priors is not None and len(priors) != n:
        raise ValueError("one prior per option")
    keys = [o.key for o in options]
    if len(set(keys)) != n:
        raise ValueError("option keys must be unique")

    evidence = [
        (o.priority, *_counts(posteriors.get(o.arm)), *_checked(priors[i] if priors else prior))
        for i, o in enumerate(options)
    ]
    table = np.array(evidence, dtype=np.float64)
    weight = table[:, 0] / 100.0
    alpha = table[:, 1] + table[:, 3]
    beta = table[:, 2] + table[:, 4]
    learned = bool(table[:, 1:3].any())

    mean_scores = weight * alpha / (alpha + beta)
    best = float(mean_scores.max())
    greedy = np.flatnonzero(np.isclose(mean_scores, best, rtol=1e-12, atol=0.0))

    # One call for all draws: a Python loop over draws would cost ~100x more.
    scores = rng.beta(alpha[:, None], beta[:, None], size=(n, propensity_draws)) * weight[:, None]
    winners = np.argmax(scores, axis=0)
    selection = np.bincount(winners, minlength=n) / propensity_draws
    won_by_greedy = float(selection[greedy].sum())

    uniform = floor_share * exploration_cap  # u
    if uniform < 1.0:
        thompson_cap = min(1.0, (exploration_cap - uniform * (n - 1) / n) / (1.0 - uniform))  # c'
    else:
        thompson_cap = 1.0  # every choice is uniform; t does not count
    reported = mean_scores
    if won_by_greedy >= 1.0 - thompson_cap:  # plain Thompson sampling
        column = int(rng.integers(propensity_draws))
        thompson = selection
        chosen, rule = int(winners[column]), "thompson"
        reported = scores[:, column]
    else:
        thompson = selection * (thompson_cap / (1.0 - won_by_greedy))
        thompson[greedy] = (1.0 - thompson_cap) / len(greedy)
        if rng.random() < 1.0 - thompson_cap:
            chosen, rule = int(greedy[rng.integers(len(greedy))]), "greedy" if learned else "prior"
        else:
            challengers = np.flatnonzero(~np.isin(winners, greedy))
            column = int(challengers[rng.integers(len(challengers))])
            chosen, rule = int(winners[column]), "thompson"
            reported = scores[:, column]
    propensities = uniform / n + (1.0 - uniform) * thompson
    if rng.random() < uniform:
        chosen, rule = int(rng.integers(n)), "uniform"
        reported = mean_scores

    order = np.argsort(-reported, kind="stable").tolist()
    reported_list = reported.tolist()
    # Not a max(): flooring a small but exact propensity would bias off-policy estimates.
    propensity = min(1.0, float(propensities[chosen]) or 1.0 / (2 * propensity_draws))
    return Ranked(
        chosen=options[chosen],
        scores=tuple((keys[i], reported_list[i]) for i in order),
        propensity=propensity,
        explored=chosen not in set(greedy.tolist()),
        propensities=tuple(zip(keys, propensities.tolist(), strict=True)),
        rule=rule,
    )


def _counts(posterior: Posterior | None) -> tuple[float, float]:
    return (0.0, 0.0) if posterior is None else (posterior.successes, posterior.failures)


def _checked(prior: tuple[float, float]) -> tuple[float, float]:
    a, b = prior
    if not (math.isfinite(a) and math.isfinite(b) and a > 0.0 and b > 0.0):
        raise ValueError(f"a Beta prior needs a > 0 and b > 0, not {prior}")
    return a, b
