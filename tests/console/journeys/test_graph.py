"""The journey graph's layout: every step drawn once, every edge between two drawn boxes (or the
end), nothing on top of anything else."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from metaconnect_console.journeys.graph import END, Graph, layout, links, what_it_does

KINDS = ("send", "wait", "wait-event", "branch", "split", "update", "notify", "exit")


@st.composite
def journeys(draw: st.DrawFn) -> list[dict[str, Any]]:
    ids = draw(st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True), min_size=1, max_size=14, unique=True))
    ids = [i for i in ids if i != END] or ["only"]
    target = st.sampled_from([*ids, END])
    steps: list[dict[str, Any]] = []
    for step_id in ids:
        kind = draw(st.sampled_from(KINDS))
        step: dict[str, Any] = {"id": step_id, "type": kind.split("-")[0]}
        if kind == "send":
            step["message"] = {"id": step_id, "channels": ["push"]}
        elif kind == "wait":
            step["duration"] = "P1D"
        elif kind == "wait-event":
            step["event"] = {"event_types": ["visit.booked"], "timeout": "P7D", "on_timeout": draw(target)}
        elif kind == "branch":
            step["cases"] = [{"condition": "true", "next": draw(target)} for _ in range(draw(st.integers(1, 4)))]
            if draw(st.booleans()):
                step["otherwise"] = draw(target)
        elif kind == "split":
            step["arms"] = [
                {"name": f"arm{n}", "percent": 50, "next": draw(target)} for n in range(draw(st.integers(2, 4)))
            ]
        elif kind == "update":
            step["stage"] = "customer"
        elif kind == "notify":
            step["body"] = "Call them"
        if kind != "exit" and draw(st.booleans()):
            step["next"] = draw(target)
        steps.append(step)
    return steps


def _on_right_side(graph: Graph, box_id: str, point: tuple[float, float]) -> bool:
    box = graph.box(box_id)
    return point[0] == box.right and box.y < point[1] < box.bottom


@given(journeys())
def test_every_step_is_drawn_once_and_the_end_after_them(steps: list[dict[str, Any]]) -> None:
    graph = layout(steps)
    assert [b.id for b in graph.boxes] == [s["id"] for s in steps] + [END]
    assert [b.kind for b in graph.boxes[:-1]] == [s["type"] for s in steps]
    assert all(b.y > a.y for a, b in pairwise(graph.boxes))


@given(journeys())
def test_every_edge_joins_two_drawn_boxes(steps: list[dict[str, Any]]) -> None:
    graph = layout(steps)
    assert len(graph.edges) == len(links(steps))
    for edge in graph.edges:
        source, target = graph.box(edge.source), graph.box(edge.target)
        (x1, y1), (x2, y2) = edge.points[0], edge.points[-1]
        if edge.lane is None:  # straight down the gap to the box below
            assert (y1, y2) == (source.bottom, target.y)
            assert source.x < x1 < source.right
            assert x1 == x2
        else:
            assert _on_right_side(graph, edge.source, edge.points[0])
            assert _on_right_side(graph, edge.target, edge.points[-1])
    # An exit goes nowhere; every other step goes somewhere.
    sources = {e.source for e in graph.edges}
    assert sources == {s["id"] for s in steps if s["type"] != "exit"}


@given(journeys())
def test_nothing_overlaps(steps: list[dict[str, Any]]) -> None:
    graph = layout(steps)
    for above, below in pairwise(graph.boxes):
        assert above.bottom < below.y  # one column, a gap between each two
    right = max(b.right for b in graph.boxes)
    laned = [e for e in graph.edges if e.lane is not None]
    for edge in laned:
        # The lane runs beside the boxes, inside the drawing.
        assert right < edge.points[1][0] == edge.points[2][0] < graph.width
        assert all(0 <= y <= graph.height for _, y in edge.points)
    for a in laned:
        for b in laned:
            if a is not b and a.lane == b.lane:
                low_a, high_a = sorted((a.points[1][1], a.points[2][1]))
                low_b, high_b = sorted((b.points[1][1], b.points[2][1]))
                assert high_a < low_b or high_b < low_a  # one lane, spans apart
    # No two edge ends meet at one point of a box's side.
    ends = [p for e in laned for p in (e.points[0], e.points[-1])]
    assert len(ends) == len(set(ends))
    straight = [e for e in graph.edges if e.lane is None]
    assert len({e.source for e in straight}) == len(straight)


def test_a_branch_a_timeout_and_a_loop_back() -> None:
    steps: list[dict[str, Any]] = [
        {"id": "invite", "type": "send", "message": {"id": "invite", "channels": ["push", "email"]}},
        {
            "id": "wait",
            "type": "wait",
            "event": {"event_types": ["visit.booked"], "timeout": "P7D", "on_timeout": "remind"},
        },
        {"id": "booked", "type": "exit", "reason": "booked"},
        {"id": "remind", "type": "send", "message": {"id": "remind", "channels": ["push"]}, "next": "invite"},
    ]
    counts = {"invite": {"reached": 12, "resting": 0, "outcomes": {"sent": 10, "held_out": 2}}}
    graph = layout(steps, counts)
    assert graph.box("invite").lines == (
        "send · invite",
        "message invite on push, email",
        "reached 12 · resting now 0",
        "sent 10 · held_out 2",
    )
    assert graph.box("remind").lines[2:] == ("reached 0 · resting now 0", "no runs in this window")
    by_label = {(e.source, e.target): e for e in graph.edges}
    assert set(by_label) == {("invite", "wait"), ("wait", "booked"), ("wait", "remind"), ("remind", "invite")}
    assert by_label["wait", "remind"].label == "timeout"
    assert by_label["wait", "booked"].lane is None
    assert by_label["remind", "invite"].lane is not None  # back up, beside the column


def test_each_kind_says_what_it_does() -> None:
    assert what_it_does({"type": "wait", "duration": "P2D"}) == "for P2D"
    assert what_it_does({"type": "wait", "until": {"at": "09:00:00", "weekdays": ["mon"]}}) == "until 09:00:00 (mon)"
    assert what_it_does({"type": "split", "arms": [{}, {}]}) == "at random into 2 arms"
    assert what_it_does({"type": "update", "stage": "customer", "traits": {"tier": "gold"}}) == (
        "sets stage customer, trait tier"
    )
    assert what_it_does({"type": "exit", "reason": "unsubscribed"}) == "ends as unsubscribed"
