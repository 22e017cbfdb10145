"""A simulated walk, or a real one's history, as a person reads it (pure): each step with its
time since the entry, and for a send the tone, the channels and why (the route pages' sentences)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from metaconnect_console.routes.explain import explain


@dataclass(frozen=True)
class PathStep:
    after: str  # "at entry", "+2 d 3 h"
    at: str
    step_id: str
    kind: str
    outcome: str
    tone: str | None
    channels: tuple[str, ...]
    why: tuple[str, ...]


def since_entry(seconds: float) -> str:
    """How long after the entry: `at entry`, `+45 s`, `+12 min`, `+2 d 3 h`."""
    if seconds < 1:
        return "at entry"
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "min")) if n]
    if not parts:
        parts = [f"{secs} s"]
    return "+" + " ".join(parts[:2])


def path_steps(steps: Sequence[Mapping[str, Any]]) -> list[PathStep]:
    """The router's simulated steps (`at`, `step_id`, `kind`, `outcome`, `detail`) in order."""
    if not steps:
        return []
    start = datetime.fromisoformat(str(steps[0]["at"]))
    out = []
    for step in steps:
        at = datetime.fromisoformat(str(step["at"]))
        detail: Mapping[str, Any] = step.get("detail") or {}
        why: tuple[str, ...] = ()
        if "explanation" in detail:
            why = tuple(explain({"explanation": detail["explanation"]}).steps)
        out.append(
            PathStep(
                after=since_entry((at - start).total_seconds()),
                at=at.isoformat(timespec="seconds"),
                step_id=str(step.get("step_id")),
                kind=str(step.get("kind")),
                outcome=str(step.get("outcome")),
                tone=detail.get("tone"),
                channels=tuple(detail.get("channels") or ()),
                why=why,
            )
        )
    return out
