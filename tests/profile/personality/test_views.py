"""Responsible use in the types: routing sees a colour, never a trait; the customer sees everything, explained."""

from __future__ import annotations

import json
import math
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from metaconnect_profile.personality.colour import derive_colour
from metaconnect_profile.personality.dimensions import Colour, Dimension
from metaconnect_profile.personality.estimate import estimate
from metaconnect_profile.personality.evidence import Outcome
from metaconnect_profile.personality.views import Explanation, RoutingView, explain, routing_view
from tests.profile.personality.answers import NOW, Evidence, colours, ipip, signal

FORBIDDEN = ("emotional", "stability", "neurot", "extraversion", "agreeableness", "conscientiousness", "intellect")


def test_routing_view_has_no_trait_fields() -> None:
    assert set(RoutingView.model_fields) == {"colour", "secondary", "pattern", "probability", "as_of"}
    schema = RoutingView.model_json_schema()
    shape = json.dumps([schema["properties"], schema.get("$defs", {})]).lower()  # not the prose description
    assert not any(word in shape for word in FORBIDDEN)


def test_routing_view_refuses_extra_fields() -> None:
    with pytest.raises(ValidationError, match="emotional_stability"):
        RoutingView.model_validate(
            {
                "colour": "red",
                "secondary": "yellow",
                "pattern": "strong-red",
                "probability": 0.9,
                "as_of": NOW,
                "emotional_stability": -2.0,
            }
        )


def test_routing_view_carries_the_derived_colour() -> None:
    est = estimate([colours(2.0, -2.0)], NOW)
    view = routing_view(est)
    derived = derive_colour(est)
    assert view == RoutingView(
        colour=Colour.RED,
        secondary=derived.secondary,
        pattern="strong-red",
        probability=derived.probability,
        as_of=NOW,
    )
    assert not any(word in view.model_dump_json().lower() for word in FORBIDDEN)


@given(st.floats(-3, 3), st.floats(-3, 3))
def test_emotional_stability_cannot_change_routing(es_a: float, es_b: float) -> None:
    base = {Dimension.EXTRAVERSION: 2.0, Dimension.AGREEABLENESS: -1.5}
    a = estimate([ipip({**base, Dimension.EMOTIONAL_STABILITY: es_a})], NOW)
    b = estimate([ipip({**base, Dimension.EMOTIONAL_STABILITY: es_b})], NOW)
    assert routing_view(a) == routing_view(b)


def test_unknown_routing_view() -> None:
    view = routing_view(estimate([signal(Colour.RED)] * 500, NOW))
    assert (view.colour, view.secondary, view.pattern, view.probability) == (None, None, "unknown", None)


def test_explanation_shows_every_value_with_uncertainty_and_evidence() -> None:
    rows: list[Evidence] = [
        ipip({Dimension.EXTRAVERSION: 1.0, Dimension.EMOTIONAL_STABILITY: -1.0}, NOW - timedelta(days=10)),
        colours(1.0, -1.0, NOW - timedelta(days=5)),
        signal(Colour.RED, Outcome.ENGAGED, NOW - timedelta(days=1)),
        signal(Colour.GREEN, Outcome.IGNORED, NOW),
    ]
    est = estimate(rows, NOW)
    exp = explain(est)
    assert isinstance(exp, Explanation)
    values = {v.dimension: v for v in exp.dimensions}
    assert set(values) == set(Dimension)  # the data subject sees emotional stability too
    es = values[Dimension.EMOTIONAL_STABILITY]
    # p = .86 / .14 = 6.143, decayed by 0.5 ** (10 / 1095) = .9937 -> 6.104, at z / sqrt(.86) = -1.078;
    # mean -6.104 * 1.078 / 7.104 = -.927
    p = 0.86 / 0.14 * 0.5 ** (10 / 1095)
    assert es.mean == pytest.approx(-p / math.sqrt(0.86) / (1 + p))
    assert es.mean == pytest.approx(-0.927, abs=1e-3)
    for v in values.values():
        assert v.sd == pytest.approx(est[v.dimension].sd)
        lo, hi = v.interval_90
        assert lo < v.mean < hi
        assert hi - v.mean == pytest.approx(1.6448536 * v.sd)
        assert sum(v.precision_by_source.values()) == pytest.approx(1.0 / v.sd**2)
    assert exp.evidence.questionnaires == {"ipip50": 1, "colours24": 1}
    assert (exp.evidence.behaviour.engaged, exp.evidence.behaviour.ignored) == (1, 1)
    assert exp.evidence.last_changed_at == NOW
    assert exp.colour == derive_colour(est)
    text = "\n".join(exp.derivation)
    assert "ipip50 of" in text
    assert "colours24 of" in text
    assert "1 engaged and 1 ignored" in text
    assert "0.7 extraversion - 0.4 agreeableness - 0.2 conscientiousness" in text
    assert exp.derivation[-1] == f"pattern: {exp.colour.pattern}"
    json.loads(exp.model_dump_json())  # serialisable as the endpoint's body
