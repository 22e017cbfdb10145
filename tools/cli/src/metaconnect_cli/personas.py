"""Simulated customers with hidden personalities, and the questionnaires they answer (pure, seeded).

A customer's hidden position uses the profile's own definitions: the Big Five as independent
standard normal z scores, the two circumplex axes as `AXIS_WEIGHTS` . Big Five plus a residual of
variance 1 - |w|^2 (so each axis is standard normal too), and the hidden colour as the quadrant of
(dominance, warmth) (`colour_of`).

Answers are generated from the hidden traits with item-level noise, so that the scored scale
reaches the reliability the instrument states:

* IPIP-50: each item is a thresholded latent response y = l T + sqrt(1 - l^2) e on the factor's
  true score T, cut into the ratings 1-5 (reverse-keyed items answer 6 - x). The loading l, the
  cut spacing and their offset are calibrated per factor so that Cronbach's alpha of the ten items
  is the factor's stated reliability and the raw score's mean and SD are the shipped norm's.
* Colour form: in each of the 24 groups the respondent takes the descriptor of the colour with
  the highest utility as "most" and the lowest as "least", utility k (s_d D + s_w W) / sqrt(2) + e
  with (s_d, s_w) the colour's quadrant signs. k is calibrated so that the squared correlation of
  each scored axis with the hidden axis is the form's stated reliability (.75, an assumption);
  the raw axis scores then have an SD of about 7.7 against the provisional norm's 8.

The answers go through the profile's real code: `score_questionnaire` -> `evidence` ->
`estimate` -> `routing_view`, and the view becomes the router's `PersonalitySnapshot` as the
profile service stores it (`personality_to_column` / `personality_from_column`). Customers who
answer nothing have an empty estimate, so their pattern is `unknown`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from statistics import NormalDist
from typing import Any, Final
from uuid import UUID

import numpy as np
import numpy.typing as npt

from metaconnect_common.schemas import Channel
from metaconnect_common.schemas.profiled import PersonalitySnapshot, ProfileSnapshot
from metaconnect_profile.personality import QuestionnaireEvidence, estimate, routing_view, score_questionnaire
from metaconnect_profile.personality.dimensions import (
    AXIS_WEIGHTS,
    BIG_FIVE,
    COLOUR_SIGNS,
    Colour,
    Dimension,
    colour_of,
)
from metaconnect_profile.personality.instruments import Factor, colours24, ipip50
from metaconnect_profile.profiles.documents import personality_from_column, personality_to_column

Floats = npt.NDArray[np.float64]

ANSWERED_AT: Final = datetime(2026, 1, 1, tzinfo=UTC)
# The estimate a day later: questionnaires have barely decayed.
ESTIMATED_AT: Final = ANSWERED_AT + timedelta(days=1)
CONSENTED_AT: Final = datetime(2026, 1, 1, tzinfo=UTC)
RATINGS: Final = 5
_CALIBRATION_SEED: Final = 20261207
_CALIBRATION_PEOPLE: Final = 4000


@dataclass(frozen=True)
class Person:
    """A simulated customer: hidden traits the router never sees, and what the profile reports."""

    id: UUID
    big_five: tuple[float, ...]  # z scores in BIG_FIVE order (hidden)
    dominance: float  # hidden
    warmth: float  # hidden
    colour: Colour  # hidden: the quadrant of (dominance, warmth)
    instruments: tuple[str, ...]  # the questionnaires answered, none for many
    holdout: bool
    personality: PersonalitySnapshot  # what the router sees


# --- IPIP-50 -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemModel:
    """How one IPIP factor's items answer: latent l T + sqrt(1 - l^2) e, cut at `cuts` into 1-5."""

    loading: float
    cuts: tuple[float, ...]

    def ratings(self, true_score: Floats, noise: Floats) -> npt.NDArray[np.int64]:
        """Scored ratings (after reverse keying), one row per respondent, one column per item."""
        latent = self.loading * true_score[:, None] + math.sqrt(1.0 - self.loading**2) * noise
        above: npt.NDArray[np.int64] = (latent[:, :, None] > np.asarray(self.cuts)).sum(axis=2)
        return 1 + above


def cronbach_alpha(items: npt.ArrayLike) -> float:
    """Cronbach's alpha of a respondents x items score matrix."""
    x = np.asarray(items, dtype=np.float64)
    k = x.shape[1]
    return float(k / (k - 1) * (1.0 - x.var(axis=0, ddof=1).sum() / x.sum(axis=1).var(ddof=1)))


def _cuts(spacing: float, target_mean: float) -> tuple[float, ...]:
    # E[rating] = 1 + sum P(y > cut) with y ~ N(0, 1): bisection on the offset.
    base = spacing * (np.arange(RATINGS - 1) - (RATINGS - 2) / 2)
    lo, hi = -6.0, 6.0
    for _ in range(60):
        mid = (lo + hi) / 2
        mean = 1 + sum(1 - NormalDist().cdf(c + mid) for c in base)
        lo, hi = (mid, hi) if mean > target_mean else (lo, mid)
    return tuple(float(c + (lo + hi) / 2) for c in base)


@cache
def item_model(factor_id: str) -> ItemModel:
    """The calibrated item model of an IPIP-50 factor (fixed calibration sample, so deterministic)."""
    factor: Factor = ipip50().factor(factor_id)
    k = sum(1 for i in ipip50().items if i.factor == factor_id)
    rng = np.random.default_rng(_CALIBRATION_SEED)
    true_score = rng.standard_normal(_CALIBRATION_PEOPLE)
    noise = rng.standard_normal((_CALIBRATION_PEOPLE, k))

    def with_loading(spacing: float) -> ItemModel:
        cuts = _cuts(spacing, factor.norm.mean / k)
        lo, hi = 0.05, 0.99
        for _ in range(30):
            mid = (lo + hi) / 2
            alpha = cronbach_alpha(ItemModel(mid, cuts).ratings(true_score, noise))
            lo, hi = (mid, hi) if alpha < factor.reliability else (lo, mid)
        return ItemModel((lo + hi) / 2, cuts)

    lo, hi = 0.2, 3.0  # wider cuts, fewer extreme ratings, a smaller raw SD
    for _ in range(25):
        mid = (lo + hi) / 2
        raw_sd = float(with_loading(mid).ratings(true_score, noise).sum(axis=1).std(ddof=1))
        lo, hi = (mid, hi) if raw_sd > factor.norm.sd else (lo, mid)
    return with_loading((lo + hi) / 2)


def ipip50_answers(big_five: Floats, rng: np.random.Generator) -> dict[str, int]:
    """One respondent's IPIP-50 answer set `{item_id: rating}` from their Big Five z scores."""
    inst = ipip50()
    true_of = {f.id: float(big_five[BIG_FIVE.index(f.dimension)]) for f in inst.factors}
    noise = rng.standard_normal(len(inst.items))
    answers = {}
    for n, item in enumerate(inst.items):
        scored = int(item_model(item.factor).ratings(np.array([true_of[item.factor]]), noise[None, n : n + 1])[0, 0])
        answers[item.id] = scored if item.keyed == "+" else 1 + RATINGS - scored
    return answers


# --- The colour form -----------------------------------------------------------------------------

_COLOURS: Final = tuple(Colour)
_SIGNS: Final = np.array([COLOUR_SIGNS[c] for c in _COLOURS], dtype=np.float64) / math.sqrt(2.0)


def colour_choices(dominance: Floats, warmth: Floats, noise: Floats, strength: float) -> tuple[Floats, Floats]:
    """(most, least) colour indices per respondent and group; noise is respondents x groups x 4."""
    utility = strength * (dominance[:, None] * _SIGNS[:, 0] + warmth[:, None] * _SIGNS[:, 1])
    u = utility[:, None, :] + noise
    return u.argmax(axis=2).astype(np.float64), u.argmin(axis=2).astype(np.float64)


def axis_scores(most: Floats, least: Floats) -> tuple[Floats, Floats]:
    """Raw (dominance, warmth) as `score_colours24` computes them, from colour indices."""
    composite = np.stack([(most == i).sum(axis=1) - (least == i).sum(axis=1) for i in range(4)], axis=1)
    at = {c: composite[:, i] for i, c in enumerate(_COLOURS)}
    return (at[Colour.RED] + at[Colour.YELLOW]).astype(np.float64), (at[Colour.YELLOW] + at[Colour.GREEN]).astype(
        np.float64
    )


@cache
def colour_strength() -> float:
    """k such that corr(axis score, hidden axis)^2 is the colour form's stated reliability."""
    target = colours24().reliability.value
    rng = np.random.default_rng(_CALIBRATION_SEED)
    d, w = rng.standard_normal(_CALIBRATION_PEOPLE), rng.standard_normal(_CALIBRATION_PEOPLE)
    noise = rng.standard_normal((_CALIBRATION_PEOPLE, len(colours24().groups), 4))
    lo, hi = 0.01, 5.0
    for _ in range(30):
        mid = (lo + hi) / 2
        dom, warm = axis_scores(*colour_choices(d, w, noise, mid))
        r2 = (np.corrcoef(dom, d)[0, 1] ** 2 + np.corrcoef(warm, w)[0, 1] ** 2) / 2
        lo, hi = (mid, hi) if r2 < target else (lo, mid)
    return (lo + hi) / 2


def colours24_answers(dominance: float, warmth: float, rng: np.random.Generator) -> list[dict[str, str]]:
    """One respondent's colour-form answer set `[{"group", "most", "least"}]` from their hidden axes."""
    groups = colours24().groups
    noise = rng.standard_normal((1, len(groups), 4))
    most, least = colour_choices(np.array([dominance]), np.array([warmth]), noise, colour_strength())
    answers = []
    for n, group in enumerate(groups):
        by_colour = {d.colour: d.id for d in group.descriptors}
        answers.append(
            {
                "group": group.id,
                "most": by_colour[_COLOURS[int(most[0, n])]],
                "least": by_colour[_COLOURS[int(least[0, n])]],
            }
        )
    return answers


# --- The population ------------------------------------------------------------------------------


def hidden_axes(big_five: Floats, residual: Floats) -> tuple[Floats, Floats]:
    """(dominance, warmth) from the Big Five by the profile's weights, plus the unexplained part."""
    out = []
    for n, axis in enumerate((Dimension.DOMINANCE, Dimension.WARMTH)):
        weights = AXIS_WEIGHTS[axis]
        w = np.array([weights.get(d, 0.0) for d in BIG_FIVE])
        out.append(big_five @ w + math.sqrt(1.0 - float(w @ w)) * residual[:, n])
    return out[0], out[1]


def seen_personality(evidence: list[QuestionnaireEvidence]) -> PersonalitySnapshot:
    """What the router sees for this evidence: the profile's estimate, routing view and stored column."""
    view = routing_view(estimate(evidence, ESTIMATED_AT))
    return personality_from_column(personality_to_column(view))


def population(
    n: int,
    rng: np.random.Generator,
    *,
    ipip_share: float = 0.2,
    colour_share: float = 0.4,
    holdout_share: float = 0.1,
) -> list[Person]:
    """`n` customers; each answers the IPIP-50 with probability `ipip_share` and the colour form with
    `colour_share` (independently; the rest answer nothing), and is held out with `holdout_share`."""
    if n < 0:
        raise ValueError(f"n must be >= 0, not {n}")
    for name, share in (("ipip_share", ipip_share), ("colour_share", colour_share), ("holdout_share", holdout_share)):
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"{name} lies between 0 and 1, not {share}")
    big_five = rng.standard_normal((n, len(BIG_FIVE)))
    dominance, warmth = hidden_axes(big_five, rng.standard_normal((n, 2)))
    takes_ipip = rng.random(n) < ipip_share
    takes_colours = rng.random(n) < colour_share
    held = rng.random(n) < holdout_share
    people = []
    for i in range(n):
        evidence: list[QuestionnaireEvidence] = []
        instruments: list[str] = []
        answer_sets: list[tuple[str, Any]] = []
        if takes_ipip[i]:
            answer_sets.append((ipip50().name, ipip50_answers(big_five[i], rng)))
        if takes_colours[i]:
            answer_sets.append((colours24().name, colours24_answers(float(dominance[i]), float(warmth[i]), rng)))
        for name, answers in answer_sets:
            evidence.append(score_questionnaire(name, answers).evidence(ANSWERED_AT))
            instruments.append(name)
        people.append(
            Person(
                id=UUID(bytes=rng.bytes(16), version=4),
                big_five=tuple(float(z) for z in big_five[i]),
                dominance=float(dominance[i]),
                warmth=float(warmth[i]),
                colour=colour_of(1 if dominance[i] >= 0 else -1, 1 if warmth[i] >= 0 else -1),
                instruments=tuple(instruments),
                holdout=bool(held[i]),
                personality=seen_personality(evidence),
            )
        )
    return people


def profile_of(person: Person) -> ProfileSnapshot:
    """The snapshot the router gets: push and email consented and reachable, the profile's personality."""
    consent: dict[str, Any] = {"granted": True, "at": CONSENTED_AT, "source": "simulation"}
    return ProfileSnapshot.model_validate(
        {
            "lifecycle_stage": "customer",
            "locale": "en",
            "time_zone": "Europe/Berlin",
            "channel_consent": {Channel.PUSH: consent, Channel.EMAIL: consent},
            "reachable": [Channel.IN_APP, Channel.PUSH, Channel.EMAIL],
            "personality": person.personality,
            "holdout": person.holdout,
        }
    )
