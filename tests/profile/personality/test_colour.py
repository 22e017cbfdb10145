"""The colour derivation: quadrants, probabilities, patterns, and `unknown` when evidence is thin."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metaconnect_profile.personality.colour import (
    ALL_PATTERNS,
    PATTERN_NAMES,
    THRESHOLD,
    derive_colour,
    normal_cdf,
    pattern_name,
    quadrant_probabilities,
)
from metaconnect_profile.personality.dimensions import COLOUR_SIGNS, NEIGHBOURS, Colour, Dimension
from metaconnect_profile.personality.estimate import Posterior, estimate
from metaconnect_profile.personality.evidence import BehaviourEvidence, Outcome
from metaconnect_profile.personality.scoring import score_ipip50
from tests.profile.personality.answers import IPIP_ANSWERS, NOW, colours, ipip


def post(mean: float, variance: float) -> Posterior:
    return Posterior(mean=mean, variance=variance, precision_by_source={})


def test_pattern_list_is_documented_and_sized() -> None:
    assert 20 <= len(PATTERN_NAMES) <= 30
    assert len(PATTERN_NAMES) == 24
    assert len(set(PATTERN_NAMES)) == 24
    assert set(ALL_PATTERNS) == {*PATTERN_NAMES, "unknown"}
    shape = re.compile(r"^(moderate|strong)-(red|yellow|green|blue)(-(red|yellow|green|blue))?$")
    assert all(shape.match(p) for p in PATTERN_NAMES)
    # Blends are ordered and only between neighbours.
    assert "strong-red-yellow" in PATTERN_NAMES
    assert "strong-yellow-red" in PATTERN_NAMES
    with pytest.raises(ValueError, match="not a documented pattern"):
        pattern_name("strong", Colour.RED, Colour.GREEN)


@pytest.mark.parametrize("colour", list(Colour))
def test_symmetric_cases_land_in_their_quadrant(colour: Colour) -> None:
    d, w = COLOUR_SIGNS[colour]
    # Colour form z (±2, ±2) -> means ±sqrt(.75) 2 = ±1.732, variance .25: P = Phi(2 sqrt 3)^2 = .9995
    derived = derive_colour(estimate([colours(2.0 * d, 2.0 * w)], NOW))
    assert derived.colour is colour
    assert derived.probability == pytest.approx(normal_cdf(2.0 * math.sqrt(3.0)) ** 2)
    assert derived.angle_deg == pytest.approx({"yellow": 45, "red": 135, "blue": 225, "green": 315}[colour.value])
    assert derived.pattern == f"strong-{colour.value}"  # on the diagonal: pure; radius 2.12: strong
    assert derived.secondary in NEIGHBOURS[colour]
    assert derived.reason == "derived"


def test_hand_scored_ipip_answers_give_a_strong_yellow_green() -> None:
    # dominance N(.4685, .4109): z .731, P(active) .768; warmth N(1.1847, .4274): z 1.812, P(people) .965
    # P(yellow) = .768 * .965 = .741 >= .6; secondary green (.232 * .965 = .224) over red (.768 * .035 = .027)
    # standardised angle atan2(.731, 1.812) = 22.0 deg, 23.0 from the diagonal > 15: blend; radius 1.274: strong
    derived = derive_colour(estimate([score_ipip50(IPIP_ANSWERS).evidence(NOW)], NOW))
    assert derived.colour is Colour.YELLOW
    assert derived.secondary is Colour.GREEN
    assert derived.probability == pytest.approx(0.741, abs=1e-3)
    assert derived.angle_deg == pytest.approx(22.0, abs=0.1)
    assert derived.radius == pytest.approx(1.274, abs=1e-3)
    assert derived.pattern == "strong-yellow-green"


@pytest.mark.parametrize(
    ("big_five", "expected"),
    [
        ({"E": 2.0, "A": -2.0}, Colour.RED),  # D ~ high E + low A
        ({"E": 2.0, "A": 2.0}, Colour.YELLOW),  # I ~ high E + high A
        ({"E": -2.0, "A": 2.0}, Colour.GREEN),  # S ~ high A + low E
        ({"E": -2.0, "A": -0.5, "C": 2.0}, Colour.BLUE),  # C ~ high C + low E, slightly low A
    ],
)
def test_big_five_to_colour_mapping(big_five: dict[str, float], expected: Colour) -> None:
    dims = {"E": Dimension.EXTRAVERSION, "A": Dimension.AGREEABLENESS, "C": Dimension.CONSCIENTIOUSNESS}
    derived = derive_colour(estimate([ipip({dims[k]: v for k, v in big_five.items()})], NOW))
    assert derived.colour is expected
    assert derived.probability is not None
    assert derived.probability >= THRESHOLD


def test_unknown_without_evidence() -> None:
    derived = derive_colour(estimate([], NOW))
    assert (derived.colour, derived.pattern, derived.probability, derived.reason) == (
        None,
        "unknown",
        None,
        "no_questionnaire",
    )
    assert sum(derived.quadrant_probabilities.values()) == pytest.approx(1.0)


def test_unknown_from_behaviour_alone_however_much() -> None:
    flood = [BehaviourEvidence(tone=Colour.RED, outcome=Outcome.ENGAGED, observed_at=NOW)] * 10_000
    derived = derive_colour(estimate(flood, NOW))
    assert derived.colour is None
    assert derived.reason == "no_questionnaire"
    # Even without the rule the threshold would hold: the shift cap .5 at precision 1 + P_b (P_b = .064)
    # gives N(±.5, .94) -> P(red) = Phi(.516)^2 = .49
    b = estimate(flood, NOW).evidence.behaviour.precision
    expected = normal_cdf(0.5 / math.sqrt(1 / (1 + b))) ** 2
    assert derived.quadrant_probabilities[Colour.RED] == pytest.approx(expected)
    assert derived.quadrant_probabilities[Colour.RED] < THRESHOLD


def test_unknown_when_the_quadrant_is_uncertain() -> None:
    # A middling colour form: z (0.5, -0.3) -> means .433, -.260, sd .5: P(red) = Phi(.866) Phi(.520) = .56
    derived = derive_colour(estimate([colours(0.5, -0.3)], NOW))
    assert derived.colour is None
    assert derived.reason == "below_threshold"
    r3 = math.sqrt(3.0)
    assert derived.quadrant_probabilities[Colour.RED] == pytest.approx(normal_cdf(0.5 * r3) * normal_cdf(0.3 * r3))
    # A stricter threshold turns a known colour into unknown, never into another colour.
    clear = estimate([colours(1.0, -1.0)], NOW)
    assert derive_colour(clear).colour is Colour.RED
    assert derive_colour(clear, threshold=0.99).colour is None


def test_intensity_and_blend() -> None:
    strong = derive_colour(estimate([colours(1.0, 1.0)], NOW))  # means .866, .866: radius 1.22
    assert strong.pattern == "strong-yellow"
    moderate = derive_colour(estimate([colours(0.8, 0.8)], NOW))  # means .693: radius .98
    assert moderate.pattern == "moderate-yellow"
    assert moderate.intensity == "moderate"
    # means 1.732, .520, sd .5: standardised angle atan2(2, .6) = 73 deg, 28 from yellow's diagonal: towards red
    leaning = derive_colour(estimate([colours(2.0, 0.6)], NOW))
    assert leaning.pattern == "strong-yellow-red"


variances = st.floats(0.05, 1.0)
means = st.floats(-3.0, 3.0)


@given(means, variances, means, variances)
def test_quadrant_probabilities_are_a_distribution(md: float, vd: float, mw: float, vw: float) -> None:
    probs = quadrant_probabilities(post(md, vd), post(mw, vw))
    assert all(0.0 <= p <= 1.0 for p in probs.values())
    assert sum(probs.values()) == pytest.approx(1.0)
    # The most probable quadrant holds the mean (ties at 0 aside).
    if min(abs(md), abs(mw)) > 1e-9:
        best = max(probs, key=lambda c: probs[c])
        assert COLOUR_SIGNS[best] == (1 if md > 0 else -1, 1 if mw > 0 else -1)


@given(means, variances, means, variances, st.floats(0.0, 2.0))
def test_quadrant_probability_is_monotone_in_the_mean(md: float, vd: float, mw: float, vw: float, step: float) -> None:
    base = quadrant_probabilities(post(md, vd), post(mw, vw))
    redder = quadrant_probabilities(post(md + step, vd), post(mw - step, vw))
    assert redder[Colour.RED] >= base[Colour.RED] - 1e-12
    assert redder[Colour.GREEN] <= base[Colour.GREEN] + 1e-12


@given(st.floats(-3, 3), st.floats(-3, 3), st.floats(-3, 3), st.floats(-3, 3))
def test_every_derivation_names_a_documented_pattern(e: float, a: float, dz: float, wz: float) -> None:
    est = estimate([ipip({Dimension.EXTRAVERSION: e, Dimension.AGREEABLENESS: a}), colours(dz, wz)], NOW)
    derived = derive_colour(est)
    assert derived.pattern in ALL_PATTERNS
    if derived.colour is None:
        assert derived.pattern == "unknown"
        assert derived.probability is None
    else:
        assert derived.probability is not None
        assert THRESHOLD <= derived.probability <= 1.0
        assert derived.pattern.split("-")[1] == derived.colour.value
        assert derived.secondary in NEIGHBOURS[derived.colour]
