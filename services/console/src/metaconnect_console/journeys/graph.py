"""A journey drawn as a graph (pure): its steps as boxes in list order, one under the other, and
its edges — `next`, branch cases, split arms, a wait's timeout — to another box or the end.

An edge to the box right below is a straight line down the gap between them; every other edge
leaves its box on the right, runs down (or up) a lane of its own beside the column and comes
back in at the target's right side. Lanes are shared only by edges whose spans do not meet, so
no two edges run on top of each other and none crosses a box.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

END: Final = "end"
LEFT: Final = 16
TOP: Final = 16
BOX_WIDTH: Final = 280
BOX_HEIGHT: Final = 84
GAP: Final = 40  # between two boxes: the straight edges and their labels
LANE_START: Final = 64  # the first lane's distance from the boxes' right side
LANE_GAP: Final = 18
MARGIN: Final = 16
LINE_CHARS: Final = 38  # what fits in a box at the page's font size


@dataclass(frozen=True)
class Box:
    id: str
    kind: str
    x: float
    y: float
    width: float
    height: float
    lines: tuple[str, ...]  # kind and id, what it does, the report's counts, its main outcomes
    resting: int

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height


@dataclass(frozen=True)
class Edge:
    source: str
    target: str  # a step id, or `end`
    label: str  # "", "case 1", "otherwise", "arm b 50 %", "timeout"
    points: tuple[tuple[float, float], ...]
    lane: int | None  # None: straight down to the box below

    @property
    def label_at(self) -> tuple[float, float]:
        """Beside a straight edge's middle; above a laned edge's way out of its box."""
        (x, y), last = self.points[0], self.points[-1]
        return (x + 6, y - 4) if self.lane is not None else (x + 6, (y + last[1]) / 2 + 4)


@dataclass(frozen=True)
class Graph:
    boxes: tuple[Box, ...]  # the steps in list order, then the end
    edges: tuple[Edge, ...]
    width: float
    height: float

    def box(self, box_id: str) -> Box:
        return next(b for b in self.boxes if b.id == box_id)


@dataclass(frozen=True)
class Link:
    """An edge before layout: from a step to a step id or the end."""

    source: str
    target: str
    label: str


def links(steps: Sequence[Mapping[str, Any]]) -> list[Link]:
    """Every step's outgoing edges, as the router walks them: a step without `next` goes to the
    one after it in the list (the last to the end); an exit goes nowhere."""
    out: list[Link] = []
    for index, step in enumerate(steps):
        following = str(steps[index + 1].get("id")) if index + 1 < len(steps) else END
        source = str(step.get("id"))
        out += [Link(source, target, label) for target, label in _targets(step, following)]
    return out


def _targets(step: Mapping[str, Any], following: str) -> Iterator[tuple[str, str]]:
    kind = step.get("type")
    after = str(step["next"]) if isinstance(step.get("next"), str) else following
    if kind == "exit":
        return
    if kind == "branch":
        for number, case in enumerate(step.get("cases") or (), start=1):
            yield str(case.get("next")), f"case {number}"
        otherwise = step.get("otherwise")
        yield (otherwise if isinstance(otherwise, str) else after), "otherwise"
        return
    if kind == "split":
        for arm in step.get("arms") or ():
            yield str(arm.get("next")), f"{arm.get('name')} {_percent(arm.get('percent'))}"
        return
    event = step.get("event")
    if kind == "wait" and isinstance(event, Mapping) and isinstance(event.get("on_timeout"), str):
        yield after, "event"
        yield event["on_timeout"], "timeout"
        return
    yield after, ""


def _percent(value: Any) -> str:
    return f"{value:g} %" if isinstance(value, int | float) else "?"


def what_it_does(step: Mapping[str, Any]) -> str:
    """One line on what a step does, as the spec says it."""
    kind = step.get("type")
    if kind == "send":
        message = step.get("message") or {}
        return f"message {message.get('id')} on {', '.join(message.get('channels') or ()) or 'the default channels'}"
    if kind == "wait":
        if step.get("duration"):
            return f"for {step['duration']}"
        if isinstance(step.get("until"), Mapping):
            until = step["until"]
            return f"until {until.get('at')} ({', '.join(until.get('weekdays') or ()) or 'any day'})"
        event = step.get("event") or {}
        return f"for {', '.join(event.get('event_types') or ())}, at most {event.get('timeout')}"
    if kind == "branch":
        cases = len(step.get("cases") or ())
        return f"{cases} case{'s' if cases != 1 else ''}, first that holds"
    if kind == "split":
        return f"at random into {len(step.get('arms') or ())} arms"
    if kind == "update":
        parts = [f"stage {step['stage']}"] if step.get("stage") else []
        parts += [f"trait {name}" for name in step.get("traits") or {}]
        return "sets " + ", ".join(parts)
    if kind == "notify":
        return f"a system: {step.get('title') or step.get('body')}"
    if kind == "exit":
        return f"ends as {step.get('reason') or 'exited'}"
    return ""


def clipped(text: str, size: int = LINE_CHARS) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _lines(step: Mapping[str, Any], counts: Mapping[str, Any] | None) -> tuple[str, ...]:
    head = clipped(f"{step.get('type')} · {step.get('id')}")
    if counts is None:
        return head, clipped(what_it_does(step))
    outcomes = sorted((counts.get("outcomes") or {}).items(), key=lambda kv: (-kv[1], kv[0]))
    main = " · ".join(f"{outcome} {n}" for outcome, n in outcomes[:3])
    return (
        head,
        clipped(what_it_does(step)),
        f"reached {counts.get('reached', 0)} · resting now {counts.get('resting', 0)}",
        clipped(main or "no runs in this window"),
    )


def layout(steps: Sequence[Mapping[str, Any]], counts: Mapping[str, Mapping[str, Any]] | None = None) -> Graph:
    """The boxes and edges of a journey's steps (as the router answers them), each box with the
    report's counts for its step when `counts` (step id -> the report's step row) is given."""
    boxes: list[Box] = []
    for index, step in enumerate(steps):
        row = None if counts is None else counts.get(str(step.get("id"))) or {}
        y = TOP + index * (BOX_HEIGHT + GAP)
        resting = int(row.get("resting", 0)) if row else 0
        lines = _lines(step, row)
        boxes.append(Box(str(step.get("id")), str(step.get("type")), LEFT, y, BOX_WIDTH, BOX_HEIGHT, lines, resting))
    end_y = TOP + len(steps) * (BOX_HEIGHT + GAP)
    boxes.append(Box(END, END, LEFT, end_y, BOX_WIDTH, BOX_HEIGHT / 2, ("end",), 0))
    order = {b.id: i for i, b in enumerate(boxes)}
    drawn = [link for link in links(steps) if link.source in order and link.target in order]

    # One straight edge at most from a box to the box below; the others take lanes.
    straight: dict[str, int] = {}
    for number, link in enumerate(drawn):
        if order[link.target] == order[link.source] + 1 and link.source not in straight:
            straight[link.source] = number
    laned = [n for n in range(len(drawn)) if n not in straight.values()]
    ends = _port_heights(laned, drawn, boxes, order)
    lanes = _lanes({n: (min(ends[n]), max(ends[n])) for n in laned})

    edges: list[Edge] = []
    for number, link in enumerate(drawn):
        source, target = boxes[order[link.source]], boxes[order[link.target]]
        if number not in lanes:
            x = source.x + source.width / 2
            edges.append(Edge(link.source, link.target, link.label, ((x, source.bottom), (x, target.y)), None))
            continue
        x = LEFT + BOX_WIDTH + LANE_START + lanes[number] * LANE_GAP
        y1, y2 = ends[number]
        points = ((source.right, y1), (x, y1), (x, y2), (target.right, y2))
        edges.append(Edge(link.source, link.target, link.label, points, lanes[number]))
    width = LEFT + BOX_WIDTH + LANE_START + (max(lanes.values(), default=0) + 1) * LANE_GAP + MARGIN
    return Graph(tuple(boxes), tuple(edges), width, boxes[-1].bottom + MARGIN)


def _port_heights(
    laned: Sequence[int], drawn: Sequence[Link], boxes: Sequence[Box], order: Mapping[str, int]
) -> dict[int, tuple[float, float]]:
    """Where each laned edge leaves its source and enters its target: every edge end at a box at
    a height of its own on the box's right side (outgoing above incoming)."""
    at: dict[str, list[tuple[int, int]]] = {}
    for n in laned:
        at.setdefault(drawn[n].source, []).append((n, 0))
    for n in laned:
        at.setdefault(drawn[n].target, []).append((n, 1))
    heights: dict[tuple[int, int], float] = {}
    for box_id, ends in at.items():
        box = boxes[order[box_id]]
        for slot, end in enumerate(ends):
            heights[end] = box.y + box.height * (slot + 1) / (len(ends) + 1)
    return {n: (heights[(n, 0)], heights[(n, 1)]) for n in laned}


def _lanes(spans: Mapping[int, tuple[float, float]]) -> dict[int, int]:
    """A lane per edge, the lowest free one: edges share a lane only when their spans do not meet."""
    ends: list[float] = []  # per lane, where its last span ends
    lane_of: dict[int, int] = {}
    for number, (low, high) in sorted(spans.items(), key=lambda kv: (kv[1][0], kv[1][1], kv[0])):
        lane = next((i for i, end in enumerate(ends) if end < low), len(ends))
        if lane == len(ends):
            ends.append(high)
        ends[lane] = high
        lane_of[number] = lane
    return lane_of
