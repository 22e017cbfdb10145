"""A journey's graph, checked on its raw document (pure): every target a step or the end, every
step reachable, no loop that never waits, message ids unique, templates that compile."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from pydantic_core import PydanticCustomError

from metaconnect_router.routes.spec import Problem, message_template_problems, template_traits_of

END: Final = "end"
"""A `next` that ends the journey (completed)."""


def targets(step: Mapping[str, Any], following: str) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """The raw step's outgoing edges: (field path within the step, target); `following` is the
    step after it in the list (or `end`)."""
    kind = step.get("type")
    nxt = step.get("next")
    if kind == "branch":
        for index, case in enumerate(step.get("cases") or ()):
            if isinstance(case, Mapping) and isinstance(case.get("next"), str):
                yield ("cases", index, "next"), case["next"]
        otherwise = step.get("otherwise")
        yield (("otherwise",), otherwise) if isinstance(otherwise, str) else (("next",), _or(nxt, following))
        return
    if kind == "split":
        for index, arm in enumerate(step.get("arms") or ()):
            if isinstance(arm, Mapping) and isinstance(arm.get("next"), str):
                yield ("arms", index, "next"), arm["next"]
        return
    if kind == "exit":
        return
    if kind == "wait" and isinstance(step.get("event"), Mapping):
        on_timeout = step["event"].get("on_timeout")
        if isinstance(on_timeout, str):
            yield ("event", "on_timeout"), on_timeout
    yield ("next",), _or(nxt, following)


def _or(value: Any, default: str) -> str:
    return value if isinstance(value, str) else default


def written_problems(spec: Mapping[str, Any]) -> list[Problem]:
    problems = graph_problems(spec)
    steps = spec.get("steps")
    allowed = template_traits_of(spec)
    for index, step in enumerate(steps if isinstance(steps, list) else ()):
        if isinstance(step, Mapping) and step.get("type") == "send":
            owner = f"journey {spec.get('name')}, step {step.get('id')}"
            problems += message_template_problems(step.get("message"), owner, ("steps", index, "message"), allowed)
    return problems


def graph_problems(spec: Mapping[str, Any]) -> list[Problem]:
    """Step ids unique, every target a step or `end`, every step reachable from the first, no loop
    that never waits (it would run forever at once), message ids unique."""
    steps = spec.get("steps")
    if not isinstance(steps, list):
        return []
    raw = [s if isinstance(s, Mapping) else {} for s in steps]
    problems: list[Problem] = []
    ids: dict[str, int] = {}
    for index, step in enumerate(raw):
        step_id = step.get("id")
        if isinstance(step_id, str):
            if step_id == END:
                problems.append((("steps", index, "id"), _error("reserved_step_id", "`end` names the journey's end")))
            elif step_id in ids:
                problems.append(
                    (("steps", index, "id"), _error("duplicate_step_id", "step id {id} appears twice", id=step_id))
                )
            else:
                ids[step_id] = index
    edges: dict[str, list[str]] = {}
    for index, step in enumerate(raw):
        following = raw[index + 1].get("id") if index + 1 < len(raw) else END
        edges_of = list(targets(step, following if isinstance(following, str) else END))
        for loc, target in edges_of:
            if target != END and target not in ids:
                problems.append(
                    (("steps", index, *loc), _error("unknown_step", "no step {target} in this journey", target=target))
                )
        if isinstance(step.get("id"), str):
            edges[step["id"]] = [t for _, t in edges_of if t in ids]
    if problems or not raw or not isinstance(raw[0].get("id"), str):
        return problems + _message_ids(raw)
    reached = _reachable(raw[0]["id"], edges)
    for step_id, index in ids.items():
        if step_id not in reached:
            problems.append(
                (("steps", index, "id"), _error("unreachable_step", "no path leads to step {id}", id=step_id))
            )
    waits = {s["id"] for s in raw if s.get("type") == "wait" and isinstance(s.get("id"), str)}
    loop = _loop_without_wait(edges, waits)
    if loop:
        problems.append(
            (
                ("steps", ids[loop[0]], "next"),
                _error("loop_without_wait", "steps {loop} loop without a wait", loop=" -> ".join(loop)),
            )
        )
    return problems + _message_ids(raw)


def _message_ids(raw: list[Mapping[str, Any]]) -> list[Problem]:
    seen: set[str] = set()
    problems: list[Problem] = []
    for index, step in enumerate(raw):
        message = step.get("message")
        message_id = message.get("id") if isinstance(message, Mapping) else None
        if not isinstance(message_id, str):
            continue
        if message_id in seen:
            error = _error("duplicate_message_id", "message id {id} appears twice", id=message_id)
            problems.append((("steps", index, "message", "id"), error))
        seen.add(message_id)
    return problems


def _reachable(start: str, edges: Mapping[str, list[str]]) -> set[str]:
    reached, frontier = {start}, [start]
    while frontier:
        for target in edges.get(frontier.pop(), ()):
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    return reached


def _loop_without_wait(edges: Mapping[str, list[str]], waits: set[str]) -> list[str] | None:
    """A cycle through steps none of which waits, as the ids along it; None when every cycle waits."""
    graph = {s: [t for t in targets if t not in waits] for s, targets in edges.items() if s not in waits}
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    for root in graph:
        if state.get(root):
            continue
        path: list[str] = [root]
        iterators = [iter(graph[root])]
        state[root] = 1
        while iterators:
            target = next(iterators[-1], None)
            if target is None:
                state[path.pop()] = 2
                iterators.pop()
            elif state.get(target) == 1:
                return [*path[path.index(target) :], target]
            elif not state.get(target):
                state[target] = 1
                path.append(target)
                iterators.append(iter(graph.get(target, ())))
    return None


def _error(rule: str, message: str, **context: str) -> PydanticCustomError:
    return PydanticCustomError(rule, message, context or None)
