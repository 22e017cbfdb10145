"""A journey as YAML, as a person reads and edits it, and the router's problems at their lines (pure).

The router names a problem by its field (`steps.3.duration`); the editor shows it under the
line of the YAML that field is written on, or the nearest enclosing one that is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from metaconnect_console.routes.diff import YamlProblem, in_reading_order, pruned
from metaconnect_console.routes.form import Problem


def journey_yaml(spec: Mapping[str, Any] | None) -> str:
    """The spec without the empty values the router stores for unset fields, each send step's
    message variants in the route editor's reading order (so equal journeys read, and diff, alike)."""
    if spec is None:
        return ""
    document = pruned(spec)
    steps = document.get("steps")
    if isinstance(steps, list):
        document["steps"] = [_ordered_step(step) for step in steps]
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def _ordered_step(step: Any) -> Any:
    if isinstance(step, dict) and isinstance(step.get("message"), dict):
        return {**step, "message": in_reading_order({"messages": [step["message"]]})["messages"][0]}
    return step


def parse_journey_yaml(text: str) -> dict[str, Any]:
    """The mapping the text holds; `YamlProblem` naming the line when it is not YAML of one mapping."""
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise YamlProblem(f"{where}{getattr(exc, 'problem', None) or 'not YAML'}") from None
    if not isinstance(loaded, dict):
        raise YamlProblem("a journey is a mapping (name, entry, goals, steps, policy)")
    return loaded


def line_of(text: str, field: str) -> int | None:
    """The line (1-based) `field` (a dotted path, e.g. `steps.3.duration`) is written on; the
    nearest enclosing field's line when it is not written (a missing field); None when the text
    is not YAML or the path starts nowhere in it."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line: int | None = None
    for part in field.split(".") if field else ():
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
            if found is None:
                break
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            break
    return line


@dataclass(frozen=True)
class Line:
    number: int
    text: str
    problems: tuple[Problem, ...]


def annotated(text: str, problems: Sequence[Problem]) -> tuple[list[Line], list[Problem]]:
    """The text's lines, each with the problems found at it, and the problems placed at no line."""
    at: dict[int, list[Problem]] = {}
    nowhere: list[Problem] = []
    for problem in problems:
        number = line_of(text, problem.field)
        if number is None:
            nowhere.append(problem)
        else:
            at.setdefault(number, []).append(problem)
    lines = [Line(n, line, tuple(at.get(n, ()))) for n, line in enumerate(text.splitlines(), start=1)]
    return lines, nowhere


def near_problems(lines: Sequence[Line], context: int = 2) -> list[Line | None]:
    """The lines with a problem and `context` lines either side, in order; None for each run of
    lines left out between them (or before, or after)."""
    wanted = {n for line in lines if line.problems for n in range(line.number - context, line.number + context + 1)}
    shown: list[Line | None] = []
    for line in lines:
        if line.number in wanted:
            shown.append(line)
        elif not shown or shown[-1] is not None:
            shown.append(None)
    return shown
