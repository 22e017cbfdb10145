"""Journeys as YAML, and the router's problems placed at their lines."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metaconnect_console.journeys.editing import NEW_JOURNEY
from metaconnect_console.journeys.text import Line, annotated, journey_yaml, line_of, near_problems, parse_journey_yaml
from metaconnect_console.routes.diff import YamlProblem
from metaconnect_console.routes.form import Problem

TEXT = """name: visit-invite
entry:
  event_types: [lead.created]
steps:
- id: invite
  type: send
  message:
    id: invite
- id: wait-a-week
  type: wait
  duration: P0D
"""


def test_a_field_is_found_at_its_line() -> None:
    assert line_of(TEXT, "name") == 1
    assert line_of(TEXT, "entry.event_types.0") == 3
    assert line_of(TEXT, "steps.1") == 9
    assert line_of(TEXT, "steps.1.duration") == 11
    assert line_of(TEXT, "steps.0.message.id") == 8


def test_a_missing_field_is_shown_at_the_nearest_written_one() -> None:
    assert line_of(TEXT, "steps.0.message.variants") == 7  # where the message is
    assert line_of(TEXT, "steps.7.id") == 4  # no eighth step: at `steps`
    assert line_of(TEXT, "policy") is None
    assert line_of("name: [unclosed", "name") is None


def test_problems_are_annotated_at_their_lines_and_the_rest_kept() -> None:
    wait = Problem("steps.1.duration", "wait_duration", "a wait lies between 1 second and 366 days")
    lost = Problem("policy.bundle_window", "x", "y")
    lines, nowhere = annotated(TEXT, [wait, lost])
    assert [line.number for line in lines if line.problems] == [11]
    assert lines[10].problems == (wait,)
    assert lines[10].text == "  duration: P0D"
    assert nowhere == [lost]


def test_the_starting_journey_reads_back_as_itself() -> None:
    text = journey_yaml(NEW_JOURNEY)
    assert parse_journey_yaml(text) == NEW_JOURNEY
    assert text.startswith("name: new-journey\n")


def test_text_that_is_no_mapping_is_refused_with_its_line() -> None:
    with pytest.raises(YamlProblem, match="a journey is a mapping"):
        parse_journey_yaml("- one\n- two\n")
    with pytest.raises(YamlProblem, match="line 1"):
        parse_journey_yaml("name: [unclosed")


def test_unset_fields_are_left_out_and_variants_read_neutral_first() -> None:
    spec = {
        "name": "j",
        "description": "",
        "goals": [],
        "steps": [
            {
                "id": "a",
                "type": "send",
                "next": None,
                "message": {
                    "id": "a",
                    "variants": {"red": {"push": {"en": {"body": "r"}}}, "neutral": {"push": {"en": {"body": "n"}}}},
                },
            }
        ],
    }
    text = journey_yaml(spec)
    assert "description" not in text
    assert "goals" not in text
    assert "next" not in text
    assert text.index("neutral") < text.index("red")


@given(st.lists(st.from_regex(r"[a-z]{1,6}", fullmatch=True), min_size=1, max_size=6, unique=True))
def test_every_written_key_is_found_at_its_own_line(keys: list[str]) -> None:
    text = journey_yaml({k: {"inner": k} for k in keys})
    for number, key in enumerate(keys):
        assert line_of(text, key) == 2 * number + 1
        assert line_of(text, f"{key}.inner") == 2 * number + 2


def test_only_the_lines_near_a_problem_are_shown_with_gaps_between() -> None:
    wait = Problem("steps.1.duration", "wait_duration", "a wait lies between 1 second and 366 days")
    name = Problem("name", "string_pattern_mismatch", "a slug")
    lines, _ = annotated(TEXT, [wait, name])
    shown = near_problems(lines, context=1)
    assert [line.number if line else None for line in shown] == [1, 2, None, 10, 11]
    assert near_problems(lines[2:5], context=1) == [None]  # no problem at all: nothing but a gap


@given(st.integers(min_value=1, max_value=30), st.sets(st.integers(min_value=1, max_value=30)), st.integers(0, 3))
def test_every_problem_line_is_shown_once_in_order(count: int, at: set[int], context: int) -> None:
    problem = Problem("x", "rule", "message")
    lines = [Line(n, f"line {n}", (problem,) if n in at else ()) for n in range(1, count + 1)]
    shown = near_problems(lines, context)
    numbers = [line.number for line in shown if line is not None]
    assert numbers == sorted(set(numbers))
    assert {n for n in at if n <= count} <= set(numbers)
    assert all(a is not None or b is not None for a, b in itertools.pairwise(shown))  # one gap per run
