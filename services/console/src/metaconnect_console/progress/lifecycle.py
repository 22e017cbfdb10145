"""The lifecycle as the Lifecycle page shows it (pure): the stages in order with what moves
customers into them, and each version against the one before (the routes' line diff)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from metaconnect_console.routes.diff import DiffLine, diff_lines, spec_yaml


@dataclass(frozen=True)
class StageRow:
    position: int
    name: str
    description: str
    enter_on: tuple[str, ...]  # "lead.qualified when event.properties.budget >= 250000"
    allow_back: bool


def enter_rule(rule: Mapping[str, Any]) -> str:
    """One rule in words: its event types, and its condition when it has one."""
    types = " or ".join(str(t) for t in rule.get("event_types") or ())
    return f"{types} when {rule['condition']}" if rule.get("condition") else types


def stage_rows(spec: Mapping[str, Any]) -> list[StageRow]:
    return [
        StageRow(
            position=i + 1,
            name=str(stage["name"]),
            description=str(stage.get("description") or ""),
            enter_on=tuple(enter_rule(r) for r in stage.get("enter_on") or ()),
            allow_back=bool(stage.get("allow_back")),
        )
        for i, stage in enumerate(spec.get("stages") or ())
    ]


def version_changes(versions: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], list[DiffLine]]]:
    """Each version (newest first, as the service lists them) with its diff against the one before;
    the oldest against nothing (all it holds)."""
    changes = []
    for index, version in enumerate(versions):
        older = versions[index + 1]["spec"] if index + 1 < len(versions) else None
        changes.append((version, diff_lines(spec_yaml(older), spec_yaml(version["spec"]))))
    return changes
