"""The personality in plain words, from the personality API's JSON (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from metaconnect_console.customers.personality import TRAITS, plain_personality
from metaconnect_profile.personality.dimensions import Colour
from metaconnect_profile.personality.estimate import estimate
from metaconnect_profile.personality.evidence import Outcome
from metaconnect_profile.personality.views import explain, routing_view
from tests.profile.personality.answers import colours, signal

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
GRANTED = {"granted": True, "at": "2026-12-01T00:00:00Z", "source": "app"}


def answer(*evidence: Any, consent: bool = True) -> dict[str, Any]:
    """What `GET /v1/profiles/{ref}/personality` answers, built by the profile service's own model."""
    current = estimate(list(evidence), NOW)
    routing = routing_view(current).model_dump(mode="json")
    if not consent:
        routing = {"colour": "unknown", "secondary": "unknown", "pattern": "unknown", "probability": 0.0}
    return {
        "customer_id": "0b9f5a8e-3f0c-4f43-9a55-4a4a3a0ab001",
        "explanation": explain(current).model_dump(mode="json"),
        "routing": routing,
        "profiling_consent": {"profiling_questionnaire": GRANTED, "profiling_behaviour": GRANTED} if consent else {},
        "evidence_counts": {},
        "last_changed_at": None,
    }


def test_a_clear_colour_form_names_the_colour_its_side_the_pattern_and_how_sure() -> None:
    words = plain_personality(answer(colours(2.0, 1.2, at=NOW - timedelta(days=12))))
    assert words.colour == "yellow"
    assert words.headline.startswith("Yellow: enthusiastic and social")
    assert "Pattern: strong yellow" in words.headline
    assert "very sure" in words.certainty or "fairly sure" in words.certainty
    assert words.evidence == ["questionnaire colours24, 12 days old, counting 99 %"]
    assert words.routing.startswith("Routing writes to this customer in the yellow tone")
    assert words.chances[0][0] == "yellow"
    assert any("quadrant probabilities" in step for step in words.steps)  # the API's derivation, as given


def test_behaviour_alone_names_no_colour_and_says_why() -> None:
    words = plain_personality(answer(*[signal(Colour.RED, Outcome.ENGAGED, at=NOW) for _ in range(4)]))
    assert words.colour == "unknown"
    assert words.headline == "Colour unknown"
    assert "no questionnaire answered yet" in words.certainty
    assert words.evidence == ["behaviour: 4 messages engaged with, 0 ignored"]


def test_without_profiling_consent_routing_sees_no_colour_and_says_so() -> None:
    words = plain_personality(answer(colours(-1.5, -1.5), consent=False))
    assert words.colour == "blue"
    assert words.routing == (
        "Routing sees no colour (no consent to profiling by questionnaire or behaviour): "
        "messages go out in the neutral tone."
    )


def test_no_evidence_at_all_reads_as_such() -> None:
    words = plain_personality(answer())
    assert (words.colour, words.evidence) == ("unknown", ["no evidence yet"])
    assert "most likely" not in words.certainty  # four colours at 25 %: no favourite


def test_an_empty_or_partial_answer_reads_as_unknown_rather_than_failing() -> None:
    assert plain_personality({}).colour == "unknown"
    assert plain_personality({"explanation": {"colour": {"colour": "purple"}}}).colour == "unknown"


@given(st.floats(-3, 3), st.floats(-3, 3))
def test_the_words_name_exactly_the_colour_the_model_derived(dominance: float, warmth: float) -> None:
    api = answer(colours(dominance, warmth))
    derived = api["explanation"]["colour"]
    words = plain_personality(api)
    assert words.colour == derived["colour"]
    if words.colour != "unknown":
        assert TRAITS[words.colour] in words.headline
        assert f"{round(derived['probability'] * 100)} %" in words.certainty
    named = {c for c in TRAITS if c in words.headline.lower()}
    assert named <= {derived["colour"], derived["secondary"]}
