"""A journey's report as the page and the CSV show it; a walk as a path with times."""

from __future__ import annotations

from typing import Any

from metaconnect_console.journeys.path import path_steps, since_entry
from metaconnect_console.journeys.report import by_step, csv_name, interval, outcomes_text, steps_table
from metaconnect_console.reports.tables import csv_text

REPORT: dict[str, Any] = {
    "steps": [
        {"step_id": "invite", "kind": "send", "reached": 12, "resting": 0, "outcomes": {"sent": 9, "dropped": 3}},
        {"step_id": "=HYPERLINK(1)", "kind": "wait", "reached": 3, "resting": 3, "outcomes": {}},
    ]
}


def test_the_steps_table_and_its_csv_are_injection_safe() -> None:
    table = steps_table(REPORT)
    assert table.rows[0] == ["invite", "send", 12, 0, "sent 9, dropped 3"]
    text = csv_text(table)
    assert text.splitlines()[0] == "step_id,kind,reached,resting,outcomes"
    assert "'=HYPERLINK(1),wait,3,3," in text  # a spreadsheet reads it as text, never a formula
    assert by_step(REPORT)["invite"]["reached"] == 12


def test_outcomes_most_frequent_first_and_intervals_as_read() -> None:
    assert outcomes_text({"a": 1, "b": 5, "c": 1}) == "b 5, a 1, c 1"
    assert interval({"low": 0.12, "high": 0.301}) == "12.0 % to 30.1 %"
    assert interval({"low": None, "high": None}) == "—"
    assert interval({"low": -0.05, "high": 0.1}, signed=True) == "-5.0 pp to +10.0 pp"


def test_the_csv_file_name_keeps_only_safe_characters() -> None:
    assert csv_name('visit"\r\n<x>', "30") == "metaconnect-journey-visit____x_-steps-30d.csv"


def test_times_since_the_entry() -> None:
    assert since_entry(0) == "at entry"
    assert since_entry(45) == "+45 s"
    assert since_entry(7 * 86400 + 3 * 3600 + 60) == "+7 d 3 h"
    assert since_entry(90 * 60) == "+1 h 30 min"


def test_a_simulated_path_with_a_send_explained() -> None:
    steps = [
        {"at": "2026-12-07T10:00:00+00:00", "step_id": "entry", "kind": "entry", "outcome": "entered", "detail": {}},
        {
            "at": "2026-12-09T10:00:00+00:00",
            "step_id": "remind",
            "kind": "send",
            "outcome": "sent",
            "detail": {
                "tone": "red",
                "channels": ["push"],
                "explanation": {
                    "event_type": "lead.created",
                    "chosen": {"rule": "prior"},
                    "channel": {"chosen": "push", "reason": "only_channel"},
                },
            },
        },
    ]
    first, second = path_steps(steps)
    assert (first.after, first.tone, first.why) == ("at entry", None, ())
    assert (second.after, second.tone, second.channels) == ("+2 d", "red", ("push",))
    assert "The channel is push: it is the only channel the customer can get it on." in second.why
