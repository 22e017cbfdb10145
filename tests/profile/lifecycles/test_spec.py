"""A lifecycle spec is checked on write, every problem at once, each naming its field and rule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from metaconnect_profile.lifecycles.spec import DEFAULT_LIFECYCLE, Lifecycle, LifecycleSpec, event_type_matches

NOW = datetime(2026, 12, 7, tzinfo=UTC)
PERSONALITY = 'profile.personality.colour == "red"'


def _problems(document: dict[str, Any]) -> set[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        LifecycleSpec.model_validate(document)
    return {(".".join(str(p) for p in e["loc"]), e["type"]) for e in caught.value.errors()}


def test_every_problem_is_reported_at_once() -> None:
    problems = _problems(
        {
            "name": "Shop!",
            "stages": [
                {"name": "lead"},
                {"name": "qualified", "enter_on": [{"event_types": ["Lead Qualified"]}]},
                {"name": "lead", "enter_on": [{"event_types": ["x.y"], "condition": PERSONALITY}]},
                {"name": "won", "enter_on": [{"event_types": ["x.z"], "condition": "event.type =="}]},
            ],
        }
    )
    assert ("name", "string_pattern_mismatch") in problems
    assert ("stages.1.enter_on.0.event_types.0", "string_pattern_mismatch") in problems
    assert ("stages.2.name", "duplicate_stage") in problems
    assert ("stages.2.enter_on.0.condition", "personality_not_allowed") in problems
    assert any(loc == "stages.3.enter_on.0.condition" for loc, _ in problems)


def test_a_lifecycle_needs_stages() -> None:
    assert _problems({"name": "empty", "stages": []}) == {("stages", "too_short")}
    assert ("stages.31", "too_long") not in _problems({"name": "x", "stages": [{"name": "a"}] * 31})
    assert ("stages", "too_long") in _problems({"name": "x", "stages": [{"name": f"s{i}"} for i in range(31)]})


def test_unknown_fields_are_refused() -> None:
    assert ("stages.0.rank", "extra_forbidden") in _problems({"name": "x", "stages": [{"name": "a", "rank": 1}]})


def test_patterns_match_within_one_segment() -> None:
    assert event_type_matches("lead.*", "lead.qualified")
    assert not event_type_matches("lead.*", "lead.qualified.again")
    assert not event_type_matches("lead.*", "sales.assigned")


def test_the_default_lifecycle_is_the_stages_and_rules_the_service_had() -> None:
    lifecycle = Lifecycle.compile(DEFAULT_LIFECYCLE, 1)
    assert lifecycle.stages == ("lead", "qualified", "opportunity", "customer", "loyal")
    assert lifecycle.target("lead", "purchase.completed", {}, {}, now=NOW) == "customer"
    assert lifecycle.target("loyal", "purchase.completed", {}, {}, now=NOW) is None  # never back
    assert lifecycle.target("prospect", "lead.qualified", {}, {}, now=NOW) == "qualified"  # unconfigured: lowest
