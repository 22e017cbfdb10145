"""The posterior: `estimate(evidence, now)`, a pure function of the stored evidence and the clock.

Every dimension has a Gaussian posterior N(mean, variance) on a z scale, prior N(0, 1).
All updates are in precision (inverse variance) form, so they are order-independent and
the estimate can always be recomputed from the evidence rows; evidence observed after
`now` is ignored (an estimate "as of" a time).

Questionnaires (Kelley's true-score estimate in precision form). A scale with reliability
alpha observes z with noise variance (1 - alpha) / alpha, i.e. precision
p = alpha / (1 - alpha). From the prior alone the posterior is then mean alpha * z and
variance 1 - alpha (alpha = .87: SD .36). Repeated questionnaires add their precisions.
(On the observed-score scale Kelley's standard error is sqrt(alpha (1 - alpha)); on
this true-score z scale the variance is 1 - alpha. The mean alpha * z shrinks a little
more than the strict standardised sqrt(alpha) * z would: a deliberate, conservative choice.)

Decay (process noise in discount form). A trait is stable but not fixed, and old
behaviour says little about today. Each record's precision is discounted by
0.5 ** (age / half-life) - questionnaires 3 years, behaviour 90 days - which adds
process noise the way a discount-factor Kalman filter does (West & Harrison), but
towards the prior: with no fresh evidence the variance grows back to 1 and the mean
returns to 0. Discounting keeps every record's current weight explainable.

Big Five -> axes. The axes' prior is not N(0, 1) but what the Big Five posteriors imply
through `AXIS_WEIGHTS` (axis = w . B + e, residual variance 1 - |w|^2): mean w . m,
variance sum(w_k^2 v_k) + 1 - |w|^2. Without Big Five evidence that is exactly N(0, 1).
Colour-form answers then update the axes directly, by precision addition.

Behaviour (weak, discounted, capped, relative). Engaging with a message in tone c is a
signal of validity r = .15 (precision r^2 / (1 - r^2) = .023); ignoring it, r = .075
(.0057) in the opposite direction. Engagement is confounded by content, timing and
channel, so it is not read as a measurement of the trait's level but as a *lean*
relative to what the other evidence says:

    R   = sum of decayed signal precisions
    n_a = sum(decayed precision * sign on axis a) / R        (net lean, -1..1)
    P_b = min(R / (1 + rho * max(R / p_engaged - 1, 0)), cap)   rho = .02, cap = .5
    posterior on axis a: precision P_nb + P_b, mean m_nb + lean * n_a * P_b / (P_nb + P_b)

where (m_nb, P_nb) is the non-behavioural posterior and lean = 1 z. The middle line
discounts correlated signals (n equicorrelated signals carry n / (1 + (n - 1) rho)
signals' worth of information) and caps the total at .5, a sixth of the weakest
questionnaire's precision (3.0 for the colour form): behaviour alone never gets beyond
variance 1 / 1.5 = .67 (SD .82) however many signals arrive, while one questionnaire
reaches variance .13-.25. An extra engaged (ignored) signal in tone c never moves an
axis away from (towards) c.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from metaconnect_profile.personality.dimensions import AXES, AXIS_WEIGHTS, BIG_FIVE, COLOUR_SIGNS, Dimension
from metaconnect_profile.personality.evidence import BehaviourEvidence, Outcome, QuestionnaireEvidence

PRIOR = "prior"
BIG_FIVE_SOURCE = "big_five"
BEHAVIOUR = "behaviour"
Z_90 = 1.6448536269514722  # two-sided 90 % interval of the standard normal


@dataclass(frozen=True)
class ModelParameters:
    """The tunable constants of the estimate (defaults documented in the module docstring)."""

    questionnaire_half_life: timedelta = timedelta(days=3 * 365)
    behaviour_half_life: timedelta = timedelta(days=90)
    engaged_validity: float = 0.15
    ignored_validity: float = 0.075
    signal_correlation: float = 0.02
    behaviour_precision_cap: float = 0.5
    behaviour_lean: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.ignored_validity <= self.engaged_validity < 1.0:
            raise ValueError("validities must satisfy 0 < ignored <= engaged < 1")
        if not 0.0 <= self.signal_correlation < 1.0 or self.behaviour_precision_cap <= 0.0:
            raise ValueError("signal_correlation must be in [0, 1) and the cap positive")
        if self.questionnaire_half_life <= timedelta(0) or self.behaviour_half_life <= timedelta(0):
            raise ValueError("half-lives must be positive")

    @property
    def engaged_precision(self) -> float:
        return _validity_precision(self.engaged_validity)

    @property
    def ignored_precision(self) -> float:
        return _validity_precision(self.ignored_validity)


DEFAULT_PARAMETERS = ModelParameters()


def _validity_precision(r: float) -> float:
    return r * r / (1.0 - r * r)


class Posterior(BaseModel):
    """N(mean, variance) on a z scale, and where its precision came from (source -> precision)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mean: float
    variance: Annotated[float, Field(gt=0.0, le=1.0)]
    precision_by_source: dict[str, float]

    @property
    def sd(self) -> float:
        return math.sqrt(self.variance)

    @property
    def interval_90(self) -> tuple[float, float]:
        """The central 90 % credible interval."""
        half = Z_90 * self.sd
        return (self.mean - half, self.mean + half)


class QuestionnaireWeight(BaseModel):
    """One questionnaire's share today: its decay factor after `age_days`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instrument: str
    observed_at: AwareDatetime
    age_days: float
    weight: float


class BehaviourSummary(BaseModel):
    """How the behavioural signals were combined (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engaged: int
    ignored: int
    precision_decayed: float
    precision_discounted: float
    precision: float
    capped: bool
    lean: dict[Dimension, float]


class EvidenceSummary(BaseModel):
    """Evidence counts by source, each questionnaire's current weight, and the last change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    questionnaires: dict[str, int]
    questionnaire_weights: tuple[QuestionnaireWeight, ...]
    behaviour: BehaviourSummary
    last_changed_at: AwareDatetime | None
    future_records: int = Field(description="Records observed after `as_of`, left out of this estimate.")


class PersonalityEstimate(BaseModel):
    """The posterior per dimension as of `as_of`, with the evidence bookkeeping behind it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: AwareDatetime
    dimensions: dict[Dimension, Posterior]
    evidence: EvidenceSummary

    def __getitem__(self, dimension: Dimension) -> Posterior:
        return self.dimensions[dimension]

    @property
    def has_questionnaire(self) -> bool:
        return any(w.weight > 0.0 for w in self.evidence.questionnaire_weights)


def _questionnaire_key(q: QuestionnaireEvidence) -> tuple[datetime, str, str, list[tuple[str, float, float]]]:
    obs = sorted((d.value, o.z, o.reliability) for d, o in q.observations.items())
    return (q.observed_at, q.instrument, q.instrument_version, obs)


def _decay(age: timedelta, half_life: timedelta) -> float:
    return math.pow(0.5, age / half_life)


class _Accumulator:
    """Precision-form accumulation for one dimension: prior (p0, m0) plus observations."""

    def __init__(self, prior_precision: float, prior_mean: float) -> None:
        self.sources: dict[str, float] = {}
        self.precision = prior_precision
        self.weighted = prior_precision * prior_mean

    def add(self, source: str, precision: float, z: float) -> None:
        self.sources[source] = self.sources.get(source, 0.0) + precision
        self.precision += precision
        self.weighted += precision * z

    @property
    def mean(self) -> float:
        return self.weighted / self.precision


def _posterior(mean: float, precision: float, sources: dict[str, float]) -> Posterior:
    return Posterior(mean=mean, variance=min(1.0, 1.0 / precision), precision_by_source=sources)


def behaviour_precision(raw: float, params: ModelParameters = DEFAULT_PARAMETERS) -> tuple[float, float]:
    """(discounted, capped) behavioural precision from the summed decayed signal precision `raw`."""
    signals = raw / params.engaged_precision
    discounted = raw / (1.0 + params.signal_correlation * max(signals - 1.0, 0.0))
    return discounted, min(discounted, params.behaviour_precision_cap)


def _summarise_behaviour(
    records: Sequence[BehaviourEvidence], now: datetime, params: ModelParameters
) -> BehaviourSummary:
    raw = 0.0
    signed = dict.fromkeys(AXES, 0.0)
    for rec in records:
        engaged = rec.outcome is Outcome.ENGAGED
        p = (params.engaged_precision if engaged else params.ignored_precision) * _decay(
            now - rec.observed_at, params.behaviour_half_life
        )
        direction = 1 if engaged else -1
        raw += p
        for axis, sign in zip(AXES, COLOUR_SIGNS[rec.tone], strict=True):
            signed[axis] += p * sign * direction
    discounted, capped = behaviour_precision(raw, params)
    return BehaviourSummary(
        engaged=sum(r.outcome is Outcome.ENGAGED for r in records),
        ignored=sum(r.outcome is Outcome.IGNORED for r in records),
        precision_decayed=raw,
        precision_discounted=discounted,
        precision=capped,
        capped=capped < discounted,
        lean={axis: (signed[axis] / raw if raw > 0.0 else 0.0) for axis in AXES},
    )


def _axis_posterior(
    axis: Dimension,
    big_five: dict[Dimension, Posterior],
    observations: list[tuple[str, Dimension, float, float]],
    behaviour: BehaviourSummary,
    params: ModelParameters,
) -> Posterior:
    """Big-Five-implied prior, plus colour-form precision, plus the behavioural lean."""
    weights = AXIS_WEIGHTS[axis]
    residual = 1.0 - sum(w * w for w in weights.values())
    prior_mean = sum(w * big_five[d].mean for d, w in weights.items())
    prior_var = min(1.0, residual + sum(w * w * big_five[d].variance for d, w in weights.items()))
    acc = _Accumulator(1.0 / prior_var, prior_mean)
    acc.sources = {PRIOR: 1.0, BIG_FIVE_SOURCE: 1.0 / prior_var - 1.0}
    for source, dim, precision, z in observations:
        if dim == axis:
            acc.add(source, precision, z)
    p_b = behaviour.precision
    total = acc.precision + p_b
    mean = acc.mean + params.behaviour_lean * behaviour.lean[axis] * p_b / total
    return _posterior(mean, total, {**acc.sources, BEHAVIOUR: p_b})


def estimate(
    evidence: Iterable[QuestionnaireEvidence | BehaviourEvidence],
    now: datetime,
    *,
    params: ModelParameters = DEFAULT_PARAMETERS,
) -> PersonalityEstimate:
    """The personality posterior as of `now` from the stored evidence records (pure, order-independent)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    records = list(evidence)
    current = [r for r in records if r.observed_at <= now]
    # A canonical order makes the float sums, and so the result, identical however rows were loaded.
    questionnaires = sorted((r for r in current if isinstance(r, QuestionnaireEvidence)), key=_questionnaire_key)
    behaviour = sorted(
        (r for r in current if isinstance(r, BehaviourEvidence)), key=lambda r: (r.observed_at, r.tone, r.outcome)
    )

    # 1. Questionnaires, each discounted by its age: Big Five directly, axis observations kept for step 2.
    acc = {d: _Accumulator(1.0, 0.0) for d in BIG_FIVE}
    axis_obs: list[tuple[str, Dimension, float, float]] = []
    weights = []
    for q in questionnaires:
        age = now - q.observed_at
        w = _decay(age, params.questionnaire_half_life)
        weights.append(
            QuestionnaireWeight(
                instrument=q.instrument, observed_at=q.observed_at, age_days=age / timedelta(days=1), weight=w
            )
        )
        for dim, obs in q.observations.items():
            if dim in acc:
                acc[dim].add(q.instrument, obs.precision * w, obs.z)
            else:
                axis_obs.append((q.instrument, dim, obs.precision * w, obs.z))
    dims = {d: _posterior(acc[d].mean, acc[d].precision, {PRIOR: 1.0, **acc[d].sources}) for d in BIG_FIVE}

    # 2. The axes: what the Big Five imply, the colour form, then behaviour.
    summary = _summarise_behaviour(behaviour, now, params)
    for axis in AXES:
        dims[axis] = _axis_posterior(axis, dims, axis_obs, summary, params)

    counts: dict[str, int] = {}
    for q in questionnaires:
        counts[q.instrument] = counts.get(q.instrument, 0) + 1
    return PersonalityEstimate(
        as_of=now,
        dimensions=dims,
        evidence=EvidenceSummary(
            questionnaires=counts,
            questionnaire_weights=tuple(weights),
            behaviour=summary,
            last_changed_at=max((r.observed_at for r in current), default=None),
            future_records=len(records) - len(current),
        ),
    )
