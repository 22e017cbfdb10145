"""A customer's progress report, assembled from the services' answers (pure): what the customer
page's Progress section, the one-page HTML and the one-page PDF all show.

It carries what the customer page shows and nothing more: the customer's Metaconnect id, their
stage, their identifiers masked as the page masks them, the stage timeline, the milestones and
the journeys with what comes next. No traits, no personality, no message text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from metaconnect_console.customers.masking import mask
from metaconnect_console.progress.timeline import (
    Milestone,
    NextStep,
    Stay,
    milestones,
    shown_time,
    stays,
    what_comes_next,
)


@dataclass(frozen=True)
class WalkLine:
    journey: str
    status: str
    entered_at: datetime
    ended: str  # "" while active, else "ended 2026-12-07 14:03 UTC (converted)"


@dataclass(frozen=True)
class ProgressReport:
    customer_id: str
    stage: str
    identifiers: tuple[tuple[str, str], ...]  # (kind, masked value)
    stays: tuple[Stay, ...]
    milestones: tuple[Milestone, ...]
    walks: tuple[WalkLine, ...]
    next_steps: tuple[NextStep, ...]
    made_at: datetime


def _walk_line(walk: Mapping[str, Any]) -> WalkLine:
    ended = ""
    if walk.get("ended_at"):
        reason = f" ({walk['end_reason']})" if walk.get("end_reason") else ""
        ended = f"ended {shown_time(walk['ended_at'])}{reason}"
    return WalkLine(str(walk["journey"]), str(walk["status"]), datetime.fromisoformat(str(walk["entered_at"])), ended)


def progress_report(
    profile: Mapping[str, Any],
    changes: Sequence[Mapping[str, Any]],
    walks: Sequence[Mapping[str, Any]],
    specs: Mapping[tuple[str, int], Mapping[str, Any] | None],
    now: datetime,
) -> ProgressReport:
    """The report of one customer: `changes` their stage history (oldest first), `walks` the
    router's walks, `specs` each active walk's journey spec by name and version (None: gone)."""
    reach = profile.get("reachability") or {}
    identifiers = tuple((str(i["kind"]), mask(str(i["kind"]), str(i["value"]))) for i in reach.get("identifiers") or ())
    active = [w for w in walks if w.get("status") == "active"]
    return ProgressReport(
        customer_id=str(profile["id"]),
        stage=str(profile.get("lifecycle_stage") or ""),
        identifiers=identifiers,
        stays=tuple(stays(changes, now)),
        milestones=tuple(milestones(changes, walks)),
        walks=tuple(_walk_line(w) for w in walks),
        next_steps=tuple(what_comes_next(w, specs.get((str(w["journey"]), int(w["version"])))) for w in active),
        made_at=now,
    )
