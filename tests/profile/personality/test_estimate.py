"""Posterior maths: reliability-weighted questionnaires, weak capped behaviour, decay, recomputation."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaconnect_profile.personality.dimensions import AXES, BIG_FIVE, COLOUR_SIGNS, Colour, Dimension
from metaconnect_profile.personality.estimate import (
    BEHAVIOUR,
    DEFAULT_PARAMETERS,
    ModelParameters,
    behaviour_precision,
    estimate,
)
from metaconnect_profile.personality.evidence import BehaviourEvidence, Observation, Outcome, QuestionnaireEvidence
from metaconnect_profile.personality.scoring import score_colours24, score_ipip50
from tests.profile.personality.answers import (
    ALPHA,
    COLOUR_ANSWERS,
    IPIP_ANSWERS,
    NOW,
    Evidence,
    colours,
    ipip,
    signal,
)

DOM, WARM = Dimension.DOMINANCE, Dimension.WARMTH


def test_no_evidence_is_the_prior() -> None:
    est = estimate([], NOW)
    for d in Dimension:
        assert est[d].mean == pytest.approx(0.0, abs=1e-12)
        assert est[d].variance == pytest.approx(1.0)
    assert est.evidence.last_changed_at is None
    assert not est.has_questionnaire


def test_one_questionnaire_gives_the_true_score_posterior() -> None:
    # z = sqrt(alpha) T + e, e ~ N(0, 1 - alpha): from the prior, mean sqrt(alpha) * z, variance 1 - alpha.
    z = {Dimension.EXTRAVERSION: 1.0, Dimension.AGREEABLENESS: -2.0, Dimension.INTELLECT: 0.5}
    est = estimate([ipip(z)], NOW)
    for d in BIG_FIVE:
        assert est[d].mean == pytest.approx(math.sqrt(ALPHA[d]) * z.get(d, 0.0))
        assert est[d].variance == pytest.approx(1.0 - ALPHA[d])
    assert est[Dimension.EXTRAVERSION].sd == pytest.approx(math.sqrt(0.13))


def test_scored_ipip_answers_end_to_end() -> None:
    # Hand: z = E 1, A 1, C -1, ES 0, I 1 -> means sqrt(.87) = .9327, sqrt(.82) = .9055, -sqrt(.79) = -.8888, 0
    est = estimate([score_ipip50(IPIP_ANSWERS).evidence(NOW)], NOW)
    assert est[Dimension.EXTRAVERSION].mean == pytest.approx(0.93274, abs=1e-5)
    assert est[Dimension.CONSCIENTIOUSNESS].mean == pytest.approx(-0.88882, abs=1e-5)
    assert est[Dimension.EMOTIONAL_STABILITY].mean == pytest.approx(0.0)
    # Axes from the Big Five: dominance = .7(.93274) - .4(.90554) - .2(-.88882) = .46846,
    # variance .31 + .49(.13) + .16(.18) + .04(.21) = .4109
    assert est[DOM].mean == pytest.approx(0.46846, abs=1e-5)
    assert est[DOM].variance == pytest.approx(0.4109)
    # warmth = .4(.93274) + .7(.90554) - .2(-.88882) = 1.18474, variance .31 + .16(.13) + .49(.18) + .04(.21) = .4274
    assert est[WARM].mean == pytest.approx(1.18474, abs=1e-5)
    assert est[WARM].variance == pytest.approx(0.4274)


def test_colour_form_alone_gives_the_true_score_posterior_on_the_axes() -> None:
    # Hand-scored answers: dominance z 1.875, warmth z -0.75; alpha .75
    est = estimate([score_colours24(COLOUR_ANSWERS).evidence(NOW)], NOW)
    assert est[DOM].mean == pytest.approx(math.sqrt(0.75) * 1.875)
    assert est[WARM].mean == pytest.approx(math.sqrt(0.75) * -0.75)
    assert est[DOM].variance == pytest.approx(0.25)
    assert est[Dimension.EXTRAVERSION].variance == 1.0  # the colour form says nothing about the Big Five


@given(st.floats(-4, 4), st.floats(0.5, 0.95))
def test_true_score_posterior_for_any_reliability(z: float, alpha: float) -> None:
    obs = {Dimension.INTELLECT: Observation(z=z, reliability=alpha)}
    q = QuestionnaireEvidence(instrument="x", instrument_version="1", observed_at=NOW, observations=obs)
    post = estimate([q], NOW)[Dimension.INTELLECT]
    assert post.mean == pytest.approx(math.sqrt(alpha) * z, abs=1e-9)
    assert post.variance == pytest.approx(1.0 - alpha)


def test_two_questionnaires_combine_by_precision() -> None:
    # p = .87 / .13 = 6.6923 each at z / sqrt(.87); precision 1 + 2p = 14.3846; mean p (1 + 2) / sqrt(.87) / 14.3846
    p = 0.87 / 0.13
    est = estimate([ipip({Dimension.EXTRAVERSION: 1.0}), ipip({Dimension.EXTRAVERSION: 2.0})], NOW)
    post = est[Dimension.EXTRAVERSION]
    assert post.variance == pytest.approx(1.0 / (1.0 + 2 * p))
    assert post.mean == pytest.approx(p * 3.0 / math.sqrt(0.87) / (1.0 + 2 * p))
    assert post.precision_by_source == pytest.approx({"prior": 1.0, "ipip50": 2 * p})
    assert est.evidence.questionnaires == {"ipip50": 2}


def test_colour_form_and_ipip_both_inform_the_axes() -> None:
    only_ipip = estimate([ipip({Dimension.EXTRAVERSION: 2.0})], NOW)[DOM]
    both = estimate([ipip({Dimension.EXTRAVERSION: 2.0}), colours(2.0, 0.0)], NOW)[DOM]
    assert 1.0 / both.variance == pytest.approx(1.0 / only_ipip.variance + 3.0)  # colour form adds .75/.25
    assert both.precision_by_source["colours24"] == pytest.approx(3.0)


@pytest.mark.parametrize("tone", list(Colour))
def test_behaviour_moves_the_axes_the_right_way(tone: Colour) -> None:
    d_sign, w_sign = COLOUR_SIGNS[tone]
    engaged = estimate([signal(tone)], NOW)
    ignored = estimate([signal(tone, Outcome.IGNORED)], NOW)
    # Hand: beta = ln 1.3 / (2 sqrt(2 / pi)) = .16440; at the population rate b = .05 one engaged row
    # scores beta (1 - b) = .15618 with precision i = beta^2 b (1 - b) = .0012838: mean = .15618 / (1 + i).
    beta = math.log(1.3) / (2 * math.sqrt(2 / math.pi))
    assert beta == pytest.approx(0.16441, abs=1e-5)
    i = beta**2 * 0.05 * 0.95
    assert engaged[DOM].mean == pytest.approx(d_sign * beta * 0.95 / (1 + i))
    assert engaged[WARM].mean == pytest.approx(w_sign * beta * 0.95 / (1 + i))
    assert ignored[DOM].mean == pytest.approx(-d_sign * beta * 0.05 / (1 + i))
    assert engaged[DOM].variance == ignored[DOM].variance == pytest.approx(1 / (1 + i))
    # Ignoring nudges away, 19 times weaker at a 5 % base rate.
    assert ignored[DOM].mean * d_sign < 0
    assert ignored[WARM].mean * w_sign < 0
    assert abs(ignored[DOM].mean) < abs(engaged[DOM].mean)
    # Behaviour never touches the Big Five.
    assert engaged[Dimension.EXTRAVERSION].variance == 1.0


def test_behaviour_is_capped_far_below_a_questionnaire() -> None:
    flood = [signal(Colour.RED)] * 10_000  # every row engaged at a 5 % base rate: pathological
    est = estimate(flood, NOW)
    b = est.evidence.behaviour
    assert b.engaged == 10_000
    # The correlation discount alone keeps the precision near beta^2 b (1 - b) / rho = .064.
    assert b.precision == pytest.approx(b.precision_decayed / (1 + 0.02 * 9_999))
    assert b.lean[DOM] / (1 + b.precision) > 0.5
    assert est[DOM].mean == DEFAULT_PARAMETERS.behaviour_shift_cap == 0.5  # the shift cap binds
    # Without the discount the precision cap binds.
    uncorrelated = ModelParameters(signal_correlation=0.0)
    capped = estimate(flood, NOW, params=uncorrelated)
    assert capped.evidence.behaviour.capped
    assert capped.evidence.behaviour.precision == DEFAULT_PARAMETERS.behaviour_precision_cap == 0.5
    assert capped[DOM].variance == pytest.approx(1.0 / 1.5)
    weakest_questionnaire = estimate([colours(0.0, 0.0)], NOW)[DOM].variance
    assert capped[DOM].variance > 2 * weakest_questionnaire


behaviour_records = st.lists(
    st.tuples(st.sampled_from(list(Colour)), st.sampled_from(list(Outcome)), st.integers(0, 720), st.integers(1, 2500)),
    min_size=1,
    max_size=8,
)


def expand(spec: list[tuple[Colour, Outcome, int, int]]) -> list[Evidence]:
    return [signal(t, o, NOW - timedelta(days=age)) for t, o, age, n in spec for _ in range(n)]


@settings(max_examples=25, deadline=None)
@given(behaviour_records)
def test_behaviour_alone_never_reaches_questionnaire_confidence(spec: list[tuple[Colour, Outcome, int, int]]) -> None:
    # Up to 8 x 2,500 = 20,000 signals in any mix of tones, outcomes and ages.
    est = estimate(expand(spec), NOW)
    one_questionnaire = 0.75 / 0.25  # the weakest questionnaire precision (colour form)
    for axis in AXES:
        assert est[axis].precision_by_source[BEHAVIOUR] <= DEFAULT_PARAMETERS.behaviour_precision_cap
        assert 1.0 / est[axis].variance <= 1.0 + DEFAULT_PARAMETERS.behaviour_precision_cap < 1.0 + one_questionnaire
        assert abs(est[axis].mean) <= DEFAULT_PARAMETERS.behaviour_shift_cap + 1e-12


z_scores = st.floats(-3, 3)
questionnaire_sets = st.lists(
    st.one_of(
        st.builds(lambda e, a, c: ipip({Dimension.EXTRAVERSION: e, Dimension.AGREEABLENESS: a,
                                        Dimension.CONSCIENTIOUSNESS: c}), z_scores, z_scores, z_scores),
        st.builds(colours, z_scores, z_scores),
    ),
    max_size=2,
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(questionnaire_sets, behaviour_records, st.sampled_from(list(Colour)), st.sampled_from(list(Outcome)))
def test_one_more_signal_never_moves_the_wrong_way(
    qs: list[QuestionnaireEvidence], spec: list[tuple[Colour, Outcome, int, int]], tone: Colour, outcome: Outcome
) -> None:
    # The row's own score always points its way; with the correlation discount on, one more row also
    # re-discounts the others (by rho / (1 + rho (n - 1))), which can outweigh an ignored row's -beta b.
    # So the exact statement is about the likelihood itself: no discount, no binding caps. Then the
    # row is one more Gaussian observation: what it says alone (`told`) lies its way, and the estimate
    # moves toward it, so away from its way only when the others already put it further out than
    # the row says (44 engaged yellow signals put an axis at +6.5; an ignored red one says +0.1).
    plain = ModelParameters(signal_correlation=0.0, behaviour_precision_cap=1e6, behaviour_shift_cap=1e6)
    row = signal(tone, outcome)
    before = [*qs, *expand([(t, o, age, min(n, 30)) for t, o, age, n in spec])]
    b, a, alone = (estimate(e, NOW, params=plain) for e in (before, [*before, row], [row]))
    toward = 1 if outcome is Outcome.ENGAGED else -1
    for axis, sign in zip(AXES, COLOUR_SIGNS[tone], strict=True):
        precision = alone[axis].precision_by_source["behaviour"]
        told = alone[axis].mean * (1 + precision) / precision  # the row's value, undoing the prior's pull
        assert told * sign * toward >= -1e-12
        assert (a[axis].mean - b[axis].mean) * (told - b[axis].mean) >= -1e-12
        assert a[axis].variance <= b[axis].variance + 1e-12


@given(st.floats(0.0, 100.0), st.floats(0.0, 10_000.0))
def test_behaviour_precision_is_monotone_and_capped(information: float, rows: float) -> None:
    discounted, used = behaviour_precision(information, rows)
    assert used <= discounted <= information + 1e-12
    assert used <= DEFAULT_PARAMETERS.behaviour_precision_cap
    assert behaviour_precision(information + 0.01, rows)[1] >= used


def test_questionnaire_decays_toward_the_prior() -> None:
    q = ipip({Dimension.EXTRAVERSION: 2.0}, at=NOW)
    p = 0.87 / 0.13
    half_life = DEFAULT_PARAMETERS.questionnaire_half_life
    at_half_life = estimate([q], NOW + half_life)[Dimension.EXTRAVERSION]
    assert at_half_life.variance == pytest.approx(1.0 / (1.0 + p / 2))  # precision halved
    assert at_half_life.mean == pytest.approx(p / 2 * 2.0 / math.sqrt(0.87) / (1.0 + p / 2))
    variances = [estimate([q], NOW + timedelta(days=d))[Dimension.EXTRAVERSION].variance for d in range(0, 20_000, 500)]
    assert variances == sorted(variances)
    assert variances[0] == pytest.approx(0.13)
    assert variances[-1] == pytest.approx(1.0, abs=1e-3)
    assert estimate([q], NOW + 40 * half_life)[Dimension.EXTRAVERSION].mean == pytest.approx(0.0, abs=1e-9)


def test_behaviour_decays_with_its_own_half_life() -> None:
    fresh = estimate([signal(Colour.BLUE)], NOW).evidence.behaviour.precision
    old = estimate([signal(Colour.BLUE, at=NOW - DEFAULT_PARAMETERS.behaviour_half_life)], NOW)
    assert old.evidence.behaviour.precision == pytest.approx(fresh / 2)


def test_deleting_behaviour_recovers_the_questionnaire_only_estimate() -> None:
    questionnaires: list[Evidence] = [
        score_ipip50(IPIP_ANSWERS).evidence(NOW - timedelta(days=400)),
        score_colours24(COLOUR_ANSWERS).evidence(NOW - timedelta(days=30)),
    ]
    behaviour: list[Evidence] = [
        signal(random.Random(i).choice(list(Colour)), Outcome.ENGAGED, NOW - timedelta(days=i)) for i in range(200)
    ]
    mixed = [*behaviour[:100], *questionnaires, *behaviour[100:]]
    with_behaviour = estimate(mixed, NOW)
    objection = [e for e in mixed if not isinstance(e, BehaviourEvidence)]
    assert estimate(objection, NOW) == estimate(questionnaires, NOW)
    assert estimate(objection, NOW).dimensions != with_behaviour.dimensions
    assert estimate(objection, NOW).evidence.behaviour.precision == 0.0


def test_order_of_rows_does_not_matter() -> None:
    rows: list[Evidence] = [
        ipip({Dimension.EXTRAVERSION: 1.2}, NOW - timedelta(days=10)),
        ipip({Dimension.EXTRAVERSION: -0.3}, NOW - timedelta(days=10)),
        colours(1.0, -1.0, NOW - timedelta(days=3)),
        *(signal(c, o, NOW - timedelta(hours=h)) for h, (c, o) in enumerate([(Colour.RED, Outcome.IGNORED)] * 7)),
        *(signal(c, Outcome.ENGAGED, NOW - timedelta(hours=h)) for h, c in enumerate(Colour)),
    ]
    shuffled = list(rows)
    random.Random(7).shuffle(shuffled)
    assert estimate(shuffled, NOW) == estimate(rows, NOW)


def test_bookkeeping_and_as_of() -> None:
    later = NOW + timedelta(days=1)
    rows: list[Evidence] = [
        ipip({}, NOW - timedelta(days=2)),
        signal(Colour.GREEN, Outcome.ENGAGED, NOW - timedelta(days=1)),
        signal(Colour.GREEN, Outcome.IGNORED, NOW),
        colours(0.0, 0.0, later),  # observed after `now`: left out
    ]
    est = estimate(rows, NOW)
    assert est.evidence.questionnaires == {"ipip50": 1}
    assert (est.evidence.behaviour.engaged, est.evidence.behaviour.ignored) == (1, 1)
    assert est.evidence.last_changed_at == NOW
    assert est.evidence.future_records == 1
    assert est.evidence.questionnaire_weights[0].age_days == pytest.approx(2.0)
    assert estimate(rows, later).evidence.questionnaires == {"ipip50": 1, "colours24": 1}


def test_now_must_be_aware_and_parameters_sane() -> None:
    with pytest.raises(ValueError, match="timezone"):
        estimate([], datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="matched_lift"):
        ModelParameters(matched_lift=1.0)
    with pytest.raises(ValueError, match="population_base_rate"):
        ModelParameters(population_base_rate=0.0)
    with pytest.raises(ValueError, match="half-lives"):
        ModelParameters(behaviour_half_life=timedelta(0))
