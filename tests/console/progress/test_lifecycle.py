"""The Lifecycle page's stage rows and version diffs, from the profile service's specs."""

from __future__ import annotations

from typing import Any

from metaconnect_console.progress.lifecycle import enter_rule, stage_rows, version_changes

SPEC: dict[str, Any] = {
    "name": "home-builder",
    "description": "",
    "stages": [
        {"name": "lead", "description": "Asked about a house.", "enter_on": [], "allow_back": True},
        {
            "name": "qualified",
            "description": "",
            "enter_on": [{"event_types": ["lead.qualified"], "condition": "event.properties.budget >= 250000"}],
            "allow_back": False,
        },
        {
            "name": "sales",
            "description": "",
            "enter_on": [{"event_types": ["sales.assigned", "appointment.booked"], "condition": None}],
            "allow_back": False,
        },
    ],
}


def test_stages_in_order_with_their_rules_in_words() -> None:
    rows = stage_rows(SPEC)
    assert [(r.position, r.name, r.allow_back) for r in rows] == [
        (1, "lead", True),
        (2, "qualified", False),
        (3, "sales", False),
    ]
    assert rows[1].enter_on == ("lead.qualified when event.properties.budget >= 250000",)
    assert rows[2].enter_on == ("sales.assigned or appointment.booked",)
    assert enter_rule({"event_types": ["a.*"]}) == "a.*"


def test_each_version_against_the_one_before() -> None:
    newer = {**SPEC, "stages": [*SPEC["stages"], {"name": "contract", "enter_on": [], "allow_back": False}]}
    versions = [
        {"version": 2, "spec": newer, "change": "updated"},
        {"version": 1, "spec": SPEC, "change": "created"},
    ]
    (v2, diff2), (v1, diff1) = version_changes(versions)
    assert v2["version"] == 2
    assert [line.text for line in diff2 if line.kind == "add"] == ["- name: contract", "  allow_back: false"]
    assert not [line for line in diff2 if line.kind == "del"]
    assert v1["version"] == 1
    assert all(line.kind in ("add", "gap") for line in diff1)  # the first holds all it says
    assert version_changes([]) == []
