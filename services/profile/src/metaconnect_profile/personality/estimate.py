"""The posterior: `estimate(evidence, now)`, a pure function of the stored evidence and the clock.

Every dimension has a Gaussian posterior N(mean, variance) on a z scale, prior N(0, 1).
All updates are in precision (inverse variance) form, so they are order-independent and
the estimate can always be recomputed from the evidence rows; evidence observed after
`now` is ignored (an estimate "as of" a time).

Questionnaires (the true-score posterior in precision form). The stated model: a scale
with reliability alpha observes z = sqrt(alpha) T + e, with T ~ N(0, 1) the standardised
true score and e ~ N(0, 1 - alpha). So z / sqrt(alpha) observes T with noise variance
(1 - alpha) / alpha, i.e. precision p = alpha / (1 - alpha), and from the prior alone the
posterior is N(sqrt(alpha) z, 1 - alpha) (alpha = .87: mean .93 z, SD .36) - exactly what
conditioning the joint normal of (T, z) gives. Repeated questionnaires add their
precisions (independent errors). Kelley's alpha z is the estimate on the *observed*-score
scale; the prior, the posterior and the colour probabilities all live on the true-score
scale, so alpha z here would be under-confident.

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

Behaviour (a likelihood ratio against the baseline; weak, discounted, capped). A row says
the customer engaged with (y = 1) or ignored (y = 0) a message in tone c, and carries b,
their engagement rate on that channel at the time (`base_rate`; rows without one are read
at `population_base_rate`, 5 %). The model: the odds of engaging rise with how well the
tone fits the customer,

    logit P(engage | x, c) = logit b + beta * (s_d x_d + s_w x_w)

with (s_d, s_w) c's signs on (dominance, warmth) (`COLOUR_SIGNS`) and x the customer's
position relative to what the other evidence says. beta makes a typical member of
quadrant c (|x_a| = E|Z| = sqrt(2 / pi) on each axis) engage `matched_lift` times the
baseline odds: beta = ln(lift) / (2 sqrt(2 / pi)); lift 1.3 (RESEARCH.md: matched tones
1.2-1.4x, Matz et al. 2017; Joyal-Desmarais et al. 2022) gives beta = .164. A row's
evidence is its log likelihood ratio log P(y | matched) / P(y | baseline), taken to first
order at the baseline (the score) with the Fisher information as its precision:

    score on axis a   u_a = s_a * beta * (y - b)     engaged: +beta (1 - b); ignored: -beta b
    precision         i   = beta^2 * b * (1 - b)     the same for both outcomes

At b = 5 % an engagement scores +.156 and an ignored message -.008: ignoring is nearly as
likely whatever the tone, so it says almost nothing against it. When the tone makes no
difference (engagement at rate b matched or not) the expected score is
b (1 - b) - (1 - b) b = 0: no drift, however many messages of one tone are sent; a customer
who engages more with tone c than with their usual moves towards c. Each axis is read on
its own (the cross-axis part of the information is left out, so the axes stay
independent, as the colour derivation assumes).

Combining the rows, each weighted by its decay w (half-life 90 days):

    n = sum w,   U_a = sum w u_a,   I = sum w i
    d   = 1 / (1 + rho * max(n - 1, 0))                   rho = .02
    P_b = min(d * I, cap)                                 cap = .5
    S_a = U_a * P_b / I
    posterior on axis a: precision P_nb + P_b,
                         mean m_nb + clip(S_a / (P_nb + P_b), -shift_cap, shift_cap)    shift_cap = .5

where (m_nb, P_nb) is the non-behavioural posterior. n equicorrelated rows carry
n / (1 + (n - 1) rho) rows' worth of information, so d discounts correlated signals; the
discount and the cap scale the score and the precision alike (a tempered likelihood): they
change how much the rows count, never which way they lean. Without discount or cap this is
the exact posterior of the linearised likelihood: mean m_nb + U / (P_nb + I). The shift is
relative to m_nb: engagement is confounded by content, timing and channel, and b is the
customer's own rate, so the rows say how tone c fares against this customer's usual, not
where the trait lies. The cap is a sixth of the weakest questionnaire's precision (3.0
for the colour form): behaviour alone never gets beyond variance 1 / 1.5 = .67 (SD .82)
however many rows arrive, and never moves an axis by more than shift_cap = .5 z. The
shift cap only bounds pathological streams (a dozen rows all engaged at a 5 % base rate);
at realistic rates the shift stays far below it (SD about .12 z after 200 rows at 7 %
without a questionnaire, .03 z with one).
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
    matched_lift: float = 1.3
    population_base_rate: float = 0.05
    signal_correlation: float = 0.02
    behaviour_precision_cap: float = 0.5
    behaviour_shift_cap: float = 0.5

    def __post_init__(self) -> None:
        if not 1.0 < self.matched_lift <= 3.0:
            raise ValueError("matched_lift must be in (1, 3]")
        if not 0.0 < self.population_base_rate < 1.0:
            raise ValueError("population_base_rate must be in (0, 1)")
        if not 0.0 <= self.signal_correlation < 1.0 or self.behaviour_precision_cap <= 0.0:
            raise ValueError("signal_correlation must be in [0, 1) and the cap positive")
        if self.behaviour_shift_cap <= 0.0:
            raise ValueError("behaviour_shift_cap must be positive")
        if self.questionnaire_half_life <= timedelta(0) or self.behaviour_half_life <= timedelta(0):
            raise ValueError("half-lives must be positive")

    @property
    def tone_slope(self) -> float:
        """beta: the log odds ratio of engaging per z of fit along each axis of the tone."""
        return math.log(self.matched_lift) / (2.0 * MEAN_ABS_Z)


MEAN_ABS_Z = math.sqrt(2.0 / math.pi)  # E|Z| for Z ~ N(0, 1): a typical quadrant member's distance per axis
DEFAULT_PARAMETERS = ModelParameters()


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
    """How the behavioural rows were combined (see the module docstring).

    `precision_decayed` is I, `precision_discounted` d I, `precision` P_b; `lean` is S_a per
    axis, the tempered score: the axis moves by S_a / (its total precision), at most .5 z.
    """

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


def behaviour_precision(
    information: float, rows: float, params: ModelParameters = DEFAULT_PARAMETERS
) -> tuple[float, float]:
    """(discounted, capped) behavioural precision from the summed decayed information of `rows` decayed rows."""
    discounted = information / (1.0 + params.signal_correlation * max(rows - 1.0, 0.0))
    return discounted, min(discounted, params.behaviour_precision_cap)


def behaviour_score(rec: BehaviourEvidence, params: ModelParameters = DEFAULT_PARAMETERS) -> tuple[float, float]:
    """(score, information) of one row along its tone: beta (y - b) and beta^2 b (1 - b)."""
    b = rec.base_rate if rec.base_rate is not None else params.population_base_rate
    y = 1.0 if rec.outcome is Outcome.ENGAGED else 0.0
    beta = params.tone_slope
    return beta * (y - b), beta * beta * b * (1.0 - b)


def _summarise_behaviour(
    records: Sequence[BehaviourEvidence], now: datetime, params: ModelParameters
) -> BehaviourSummary:
    rows = information = 0.0
    score = dict.fromkeys(AXES, 0.0)
    for rec in records:
        w = _decay(now - rec.observed_at, params.behaviour_half_life)
        u, i = behaviour_score(rec, params)
        rows += w
        information += w * i
        for axis, sign in zip(AXES, COLOUR_SIGNS[rec.tone], strict=True):
            score[axis] += w * sign * u
    discounted, capped = behaviour_precision(information, rows, params)
    temper = capped / information if information > 0.0 else 0.0
    return BehaviourSummary(
        engaged=sum(r.outcome is Outcome.ENGAGED for r in records),
        ignored=sum(r.outcome is Outcome.IGNORED for r in records),
        precision_decayed=information,
        precision_discounted=discounted,
        precision=capped,
        capped=capped < discounted,
        lean={axis: score[axis] * temper for axis in AXES},
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
    limit = params.behaviour_shift_cap
    shift = min(max(behaviour.lean[axis] / total, -limit), limit)
    return _posterior(acc.mean + shift, total, {**acc.sources, BEHAVIOUR: p_b})


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
                acc[dim].add(q.instrument, obs.precision * w, obs.true_score)
            else:
                axis_obs.append((q.instrument, dim, obs.precision * w, obs.true_score))
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
