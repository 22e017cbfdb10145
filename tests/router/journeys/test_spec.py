"""What a journey spec accepts and what it refuses, each refusal at the field as written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from metaconnect_router.journeys.spec import JourneySpec
from metaconnect_router.routes.spec import STORED_SPEC
from tests.router.journeys.factory import journey_spec, message, send

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "home-builder" / "journeys"


def _errors(spec: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(ValidationError) as refused:
        JourneySpec.model_validate(spec)
    return [(tuple(e["loc"]), e["type"]) for e in refused.value.errors()]


def test_every_step_type_is_accepted_and_steps_follow_in_list_order() -> None:
    spec = JourneySpec.model_validate(
        journey_spec(
            "every-step",
            send("welcome"),
            {
                "id": "budget",
                "type": "branch",
                "cases": [{"condition": "profile.traits.budget >= 300000", "next": "hot"}],
            },
            {"id": "nurture", "type": "wait", "until": {"at": "09:00", "weekdays": ["mon", "thu"]}},
            {
                "id": "ab",
                "type": "split",
                "arms": [{"name": "a", "percent": 50, "next": "end"}, {"name": "b", "percent": 50, "next": "bye"}],
            },
            {"id": "hot", "type": "notify", "body": "Hot lead: call within 24 h"},
            {"id": "mark", "type": "update", "traits": {"hot": True}, "stage": "qualified"},
            {
                "id": "visit",
                "type": "wait",
                "event": {"event_types": ["visit.booked"], "timeout": "P7D", "on_timeout": "bye"},
            },
            {"id": "bye", "type": "exit", "reason": "no-visit"},
            goals=[{"name": "signed", "event_types": ["contract.signed"]}, {"name": "sales", "stage": "sales"}],
        )
    )
    assert [spec.after(s.id) for s in spec.steps] == ["budget", "nurture", "ab", "hot", "mark", "visit", "bye", "end"]


@pytest.mark.parametrize(
    ("steps", "loc", "rule"),
    [
        ([send("a"), send("a")], ("steps", 1, "id"), "duplicate_step_id"),
        ([send("a", next="nowhere")], ("steps", 0, "next"), "unknown_step"),
        ([send("a", next="end"), send("b")], ("steps", 1, "id"), "unreachable_step"),
        (
            [
                {"id": "a", "type": "update", "traits": {"x": 1}},
                {"id": "b", "type": "update", "traits": {"x": 2}, "next": "a"},
            ],
            ("steps", 0, "next"),
            "loop_without_wait",
        ),
        ([{"id": "a", "type": "wait", "duration": "PT0S"}], ("steps", 0, "duration"), "wait_duration"),
        ([{"id": "a", "type": "wait", "duration": "PT1H", "until": {"at": "09:00"}}], ("steps", 0), "wait_kind"),
        ([{"id": "a", "type": "wait", "until": {"at": "09:00+01:00"}}], ("steps", 0, "until", "at"), "local_time"),
        (
            [
                {
                    "id": "a",
                    "type": "split",
                    "arms": [{"name": "x", "percent": 60, "next": "end"}, {"name": "y", "percent": 30, "next": "end"}],
                }
            ],
            ("steps", 0, "arms"),
            "split_total",
        ),
        (
            [
                {
                    "id": "a",
                    "type": "branch",
                    "cases": [{"condition": 'profile.personality.colour == "red"', "next": "end"}],
                }
            ],
            ("steps", 0, "cases", 0, "condition"),
            "personality_not_allowed",
        ),
        ([{"id": "a", "type": "update"}], ("steps", 0), "update_empty"),
        ([{"id": "end", "type": "exit"}], ("steps", 0, "id"), "reserved_step_id"),
        (
            [
                {
                    "id": "a",
                    "type": "send",
                    "message": message(
                        "m",
                        variants={"neutral": {"push": {"en": {"body": "{{ customer.traits.secret }}"}}}},
                        channels=("push",),
                    ),
                }
            ],
            ("steps", 0, "message", "variants", "neutral", "push", "en", "body"),
            "template_trait_not_allowed",
        ),
        (
            [
                {"id": "a", "type": "send", "message": message("m")},
                {"id": "b", "type": "send", "message": message("m")},
            ],
            ("steps", 1, "message", "id"),
            "duplicate_message_id",
        ),
    ],
)
def test_mistakes_are_refused_at_their_field(
    steps: list[dict[str, Any]], loc: tuple[str | int, ...], rule: str
) -> None:
    assert (loc, rule) in _errors(journey_spec("faulty", *steps))


def test_an_entry_and_a_goal_name_one_kind_each() -> None:
    errors = _errors(journey_spec("kinds", entry={"event_types": ["a.b"], "stage": "lead"}, goals=[{"name": "g"}]))
    assert (("entry",), "entry_kind") in errors
    assert (("goals", 0), "goal_kind") in errors


def test_several_mistakes_are_reported_at_once() -> None:
    errors = _errors(journey_spec("many", send("a", next="x"), {"id": "b", "type": "wait", "duration": "PT0S"}))
    assert {rule for _, rule in errors} >= {"unknown_step", "wait_duration"}


def test_a_stored_version_reads_without_the_template_checks() -> None:
    doc = journey_spec("stored", send("a"))
    doc["steps"][0]["message"]["variants"]["neutral"]["push"]["en"]["body"] = "{{ customer.traits.secret }}"
    assert JourneySpec.model_validate(doc, context=STORED_SPEC).steps[0].id == "a"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_the_home_builder_journeys_are_valid(path: Path) -> None:
    spec = JourneySpec.model_validate(yaml.safe_load(path.read_text()))
    assert spec.name
