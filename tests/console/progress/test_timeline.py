"""A customer's progress assembled from the services' answers: stays, milestones, what comes next."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from metaconnect_console.progress.report import progress_report
from metaconnect_console.progress.timeline import describe_step, milestones, stays, what_comes_next

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def change(before: str | None, to: str, hours: float, event: str, previous: float | None = None) -> dict[str, Any]:
    return {
        "from_stage": before,
        "to_stage": to,
        "changed_at": (T0 + timedelta(hours=hours)).isoformat(),
        "event_type": event,
        "lifecycle_version": 1,
        "time_in_previous_s": previous,
    }


CHANGES = [
    change(None, "lead", 0, "app.opened"),
    change("lead", "qualified", 26, "lead.qualified", 26 * 3600),
    change("qualified", "sales", 98, "sales.assigned", 72 * 3600),
]
SPEC: dict[str, Any] = {
    "name": "onboarding",
    "steps": [
        {"id": "welcome", "type": "send", "message": {"id": "welcome-note"}},
        {
            "id": "wait-visit",
            "type": "wait",
            "event": {"event_types": ["visit.booked"], "timeout": "P7D", "on_timeout": "nudge"},
        },
        {"id": "thank", "type": "send", "message": {"id": "thanks"}, "next": "end"},
        {"id": "nudge", "type": "send", "message": {"id": "still-there"}},
        {"id": "pause", "type": "wait", "duration": "P3D"},
        {"id": "hand-over", "type": "update", "stage": "contract"},
    ],
}
WALK: dict[str, Any] = {
    "journey": "onboarding",
    "version": 2,
    "status": "active",
    "step_id": "wait-visit",
    "waiting": {
        "kind": "event",
        "until": "2026-12-12T09:00:00+00:00",
        "event_types": ["visit.booked"],
        "on_timeout": "nudge",
    },
    "entered_at": (T0 + timedelta(hours=98)).isoformat(),
    "ended_at": None,
    "end_reason": None,
    "history": [
        {
            "step_id": "entry",
            "kind": "entry",
            "outcome": "entered",
            "detail": {},
            "at": (T0 + timedelta(hours=98)).isoformat(),
        },
        {
            "step_id": "welcome",
            "kind": "send",
            "outcome": "sent",
            "detail": {"channel": "push"},
            "at": (T0 + timedelta(hours=98)).isoformat(),
        },
        {
            "step_id": "x",
            "kind": "send",
            "outcome": "dropped",
            "detail": {},
            "at": (T0 + timedelta(hours=99)).isoformat(),
        },
    ],
}


def test_each_stay_lasts_until_the_next_change_and_the_last_until_now() -> None:
    now = T0 + timedelta(hours=110)
    found = stays(CHANGES, now)
    assert [s.stage for s in found] == ["lead", "qualified", "sales"]
    assert [s.lasted for s in found] == ["1.1 days", "3 days", "12 hours so far"]
    assert [s.current for s in found] == [False, False, True]
    assert found[1].event_type == "lead.qualified"
    assert found[0].left_at == found[1].entered_at
    assert stays([], now) == []


@given(st.lists(st.floats(min_value=0, max_value=10**7), min_size=1, max_size=20))
def test_stays_follow_each_other_without_gaps(gaps: list[float]) -> None:
    at = T0
    history = []
    for i, gap in enumerate(gaps):
        at += timedelta(seconds=gap)
        history.append(
            {"to_stage": f"s{i}", "changed_at": at.isoformat(), "event_type": "e", "time_in_previous_s": gap}
        )
    history[0]["time_in_previous_s"] = None
    found = stays(history, at + timedelta(seconds=5))
    assert len(found) == len(history)
    for earlier, later in itertools.pairwise(found):
        assert earlier.left_at == later.entered_at
    assert sum(s.lasted_s for s in found) == sum(gaps[1:]) + 5
    assert found[-1].current
    assert not any(s.current for s in found[:-1])


def test_milestones_are_the_stage_changes_and_the_messages_that_went_out() -> None:
    found = milestones(CHANGES, [WALK])
    assert [m.text for m in found] == [
        "Started in lead (app.opened)",
        "Moved from lead to qualified (lead.qualified)",
        "Moved from qualified to sales (sales.assigned)",
        "Journey onboarding: message welcome sent on push",  # after the stage change at the same instant
    ]
    assert [m.kind for m in found] == ["stage", "stage", "stage", "message"]


def test_what_comes_next_names_the_wait_its_deadline_and_both_ways_on() -> None:
    step = what_comes_next(WALK, SPEC)
    assert step.step_id == "wait-visit"
    assert step.waits_for == "for visit.booked until 2026-12-12 09:00 UTC"
    assert step.then == (
        "when it comes, step thank sends message thanks; if not by then, step nudge sends message still-there"
    )
    timed = {**WALK, "step_id": "pause", "waiting": {"kind": "duration", "until": "2026-12-20T10:30:00Z"}}
    assert what_comes_next(timed, SPEC).waits_for == "until 2026-12-20 10:30 UTC"
    assert what_comes_next(timed, SPEC).then == "step hand-over moves them to stage contract"
    last = {**WALK, "step_id": "hand-over", "waiting": None}
    assert what_comes_next(last, SPEC).then == "the journey ends (completed)"
    assert what_comes_next(WALK, None).then == "not known: the journey is no longer there"


def test_every_kind_of_step_is_put_in_words() -> None:
    spec = {
        "steps": [
            {"id": "a", "type": "branch"},
            {"id": "b", "type": "split"},
            {"id": "c", "type": "update", "traits": {"x": 1}},
            {"id": "d", "type": "notify", "body": "call them"},
            {"id": "e", "type": "exit", "reason": "lost"},
            {"id": "f", "type": "wait", "until": {"at": "09:00"}},
        ]
    }
    assert [describe_step(spec, s) for s in "abcdef"] == [
        "step a chooses a way by the customer's data",
        "step b draws an arm at random",
        "step c sets traits",
        "step d tells a member of staff",
        "step e ends the journey (lost)",
        "step f waits until a local time",
    ]
    assert describe_step(spec, "gone") == "step gone"


def test_the_report_holds_masked_identities_and_only_active_walks_have_a_next_step() -> None:
    profile = {
        "id": "5a4b0f4e-0000-4000-8000-000000000001",
        "lifecycle_stage": "sales",
        "reachability": {"identifiers": [{"kind": "email", "value": "ada@example.com"}]},
        "traits": {"secret": "not in the report"},
    }
    ended = {
        **WALK,
        "journey": "welcome",
        "status": "converted",
        "ended_at": "2026-12-03T10:00:00Z",
        "end_reason": "booked",
    }
    report = progress_report(profile, CHANGES, [WALK, ended], {("onboarding", 2): SPEC}, T0 + timedelta(days=5))
    assert report.identifiers == (("email", "a•••@example.com"),)
    assert [n.journey for n in report.next_steps] == ["onboarding"]
    assert [w.ended for w in report.walks] == ["", "ended 2026-12-03 10:00 UTC (booked)"]
    assert "not in the report" not in repr(report)
