"""A customer's progress as support reads it (pure): the stages they passed with how long each
lasted, the milestones (stage changes and the journeys' messages sent to them), and for each
active walk what comes next, in words.

Everything here is arranged from the services' answers as they gave them: the profile's stage
history (`GET /v1/profiles/{ref}/stages`), the router's walks and each walk's journey spec.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from metaconnect_console.reports.tables import human_duration

END: Final = "end"
SENT_OUTCOMES: Final = {"sent": "sent", "bundled": "sent in a bundle"}
"""A send step's outcomes that handed a message to delivery (dropped and held-out ones did not)."""


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def shown_time(value: Any) -> str:
    """`2026-12-07 14:03 UTC`, as the customer page shows times."""
    return _time(value).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Stay:
    """One time in a stage: entered by `event_type` at `entered_at`, left at `left_at` (None: still there)."""

    stage: str
    entered_at: datetime
    left_at: datetime | None
    lasted_s: float
    event_type: str

    @property
    def current(self) -> bool:
        return self.left_at is None

    @property
    def lasted(self) -> str:
        return human_duration(self.lasted_s) + (" so far" if self.current else "")


def stays(changes: Sequence[Mapping[str, Any]], now: datetime) -> list[Stay]:
    """The stays in order, from the stage history (oldest first). A stay lasts until the next
    change; the service's `time_in_previous_s` is how long it lasted when it gives one, the last
    stay lasts until `now` (never less than nothing, should clocks disagree)."""
    out: list[Stay] = []
    for i, change in enumerate(changes):
        entered = _time(change["changed_at"])
        following = changes[i + 1] if i + 1 < len(changes) else None
        if following is None:
            left, lasted = None, max(0.0, (now - entered).total_seconds())
        else:
            left = _time(following["changed_at"])
            given = following.get("time_in_previous_s")
            lasted = float(given) if given is not None else max(0.0, (left - entered).total_seconds())
        out.append(Stay(str(change["to_stage"]), entered, left, lasted, str(change["event_type"])))
    return out


@dataclass(frozen=True)
class Milestone:
    at: datetime
    kind: Literal["stage", "message"]
    text: str


def milestones(changes: Sequence[Mapping[str, Any]], walks: Sequence[Mapping[str, Any]]) -> list[Milestone]:
    """The stage changes and the journeys' messages sent to the customer, oldest first (a stage
    change before a message at the same instant: the message follows from it)."""
    found: list[Milestone] = []
    for change in changes:
        before = change.get("from_stage")
        text = (
            f"Moved from {before} to {change['to_stage']} ({change['event_type']})"
            if before
            else f"Started in {change['to_stage']} ({change['event_type']})"
        )
        found.append(Milestone(_time(change["changed_at"]), "stage", text))
    for walk in walks:
        for run in walk.get("history") or ():
            if run.get("kind") == "send" and run.get("outcome") in SENT_OUTCOMES:
                detail = run.get("detail") or {}
                channel = f" on {detail['channel']}" if detail.get("channel") else ""
                how = SENT_OUTCOMES[str(run["outcome"])]
                text = f"Journey {walk['journey']}: message {run['step_id']} {how}{channel}"
                found.append(Milestone(_time(run["at"]), "message", text))
    return sorted(found, key=lambda m: (m.at, m.kind != "stage"))


# --- what comes next -------------------------------------------------------------------------------------------


def _following(spec: Mapping[str, Any], step_id: str) -> str:
    """Where a step goes when nothing branches: its `next`, else the next in the list, else the end."""
    steps = list(spec.get("steps") or ())
    index = next((i for i, s in enumerate(steps) if s.get("id") == step_id), None)
    if index is None:
        return END
    if steps[index].get("next"):
        return str(steps[index]["next"])
    return str(steps[index + 1]["id"]) if index + 1 < len(steps) else END


def describe_step(spec: Mapping[str, Any], step_id: str) -> str:
    """What a step does, in a short sentence, as the spec says it."""
    if step_id == END:
        return "the journey ends (completed)"
    step = next((s for s in spec.get("steps") or () if s.get("id") == step_id), None)
    if step is None:
        return f"step {step_id}"
    kind = step.get("type")
    if kind == "send":
        message = step.get("message") or {}
        return f"step {step_id} sends message {message.get('id', step_id)}"
    if kind == "wait":
        if step.get("duration"):
            return f"step {step_id} waits {step['duration']}"
        if isinstance(step.get("event"), Mapping):
            return f"step {step_id} waits for {', '.join(step['event'].get('event_types') or ())}"
        return f"step {step_id} waits until a local time"
    if kind == "branch":
        return f"step {step_id} chooses a way by the customer's data"
    if kind == "split":
        return f"step {step_id} draws an arm at random"
    if kind == "update":
        if step.get("stage"):
            return f"step {step_id} moves them to stage {step['stage']}"
        return f"step {step_id} sets traits"
    if kind == "notify":
        return f"step {step_id} tells a member of staff"
    if kind == "exit":
        return f"step {step_id} ends the journey ({step.get('reason') or 'exited'})"
    return f"step {step_id}"


@dataclass(frozen=True)
class NextStep:
    journey: str
    step_id: str
    waits_for: str  # "until 2026-12-14 09:00 UTC", "for visit.booked until …"
    then: str  # what follows, in words


def what_comes_next(walk: Mapping[str, Any], spec: Mapping[str, Any] | None) -> NextStep:
    """For an active walk: the step it rests at, what it waits for and until when, and the step
    that follows (an event's arrival and its timeout both, when it waits for one)."""
    step_id = str(walk.get("step_id") or "")
    waiting: Mapping[str, Any] = walk.get("waiting") or {}
    until = f" until {shown_time(waiting['until'])}" if waiting.get("until") else ""
    if waiting.get("kind") == "event":
        waits_for = f"for {' or '.join(waiting.get('event_types') or ()) or 'an event'}{until}"
    elif waiting:
        waits_for = f"until {shown_time(waiting['until'])}" if waiting.get("until") else "for its time to come"
    else:
        waits_for = "for its turn"
    if spec is None:
        return NextStep(str(walk["journey"]), step_id, waits_for, "not known: the journey is no longer there")
    then = describe_step(spec, _following(spec, step_id))
    if waiting.get("kind") == "event" and waiting.get("on_timeout"):
        timeout = describe_step(spec, str(waiting["on_timeout"]))
        then = f"when it comes, {then}; if not by then, {timeout}"
    return NextStep(str(walk["journey"]), step_id, waits_for, then)
