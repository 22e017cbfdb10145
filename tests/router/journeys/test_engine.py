"""How a customer walks a journey (pure)."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from metaconnect_common.schemas.profiled import StageChange
from metaconnect_router.journeys import engine
from metaconnect_router.journeys.engine import CompiledJourney, Moves, Send, StepRun, Update, Walk
from metaconnect_router.journeys.spec import JourneySpec, SplitStep
from metaconnect_router.models import InstanceStatus
from tests.router.journeys.factory import journey_spec, send

NOW = datetime(2026, 3, 27, 10, 0, tzinfo=UTC)  # a Friday; Berlin moves its clocks on Sunday 29 March
CUSTOMER = uuid.UUID("00000000-0000-0000-0000-000000000001")
EVENT: dict[str, Any] = {"type": "lead.created", "properties": {"budget": 400000}, "occurred_at": NOW.isoformat()}
PROFILE: dict[str, Any] = {"lifecycle_stage": "lead", "traits": {"budget": 400000}, "time_zone": "Europe/Berlin"}


def compiled(*steps: dict[str, Any], **changes: Any) -> CompiledJourney:
    return CompiledJourney("j", 1, JourneySpec.model_validate(journey_spec("j", *steps, **changes)))


def walk_through(journey: CompiledJourney, event: dict[str, Any] = EVENT) -> tuple[Walk, Moves]:
    moves = Moves()
    return engine.start(journey, CUSTOMER, event, PROFILE, NOW, moves), moves


def path(moves: Moves) -> list[tuple[str, str, str]]:
    out = []
    for action in moves.actions:
        if isinstance(action, StepRun):
            out.append((action.step_id, action.kind, action.outcome))
        elif isinstance(action, Send):
            out.append((action.step_id, action.kind, "decide"))
        elif isinstance(action, Update):
            out.append((action.step_id, "update", "publish"))
    return out


def test_steps_run_until_a_wait_then_the_timer_moves_on() -> None:
    journey = compiled(send("hello"), {"id": "pause", "type": "wait", "duration": "P2D"}, send("again"))
    walk, moves = walk_through(journey)
    assert path(moves) == [("entry", "entry", "treated"), ("hello", "send", "decide"), ("pause", "wait", "waiting")]
    assert (walk.status, walk.step_id, walk.due_at) == (InstanceStatus.ACTIVE, "pause", NOW + timedelta(days=2))

    later = Moves()
    engine.on_timer(journey, walk, PROFILE, NOW + timedelta(days=2, seconds=3), later)
    assert path(later) == [("pause", "wait", "waited"), ("again", "send", "decide"), ("again", "end", "completed")]
    assert later.actions[0].detail == {"late_s": 3.0}  # type: ignore[union-attr]
    assert (walk.status, walk.end_reason, walk.due_at, walk.context) == (
        InstanceStatus.COMPLETED,
        "completed",
        None,
        {},
    )


def test_the_awaited_event_moves_on_and_no_event_times_out_to_its_branch() -> None:
    wait = {
        "id": "visit",
        "type": "wait",
        "event": {"event_types": ["visit.*"], "timeout": "P7D", "on_timeout": "remind"},
        "next": "thanks",
    }
    journey = compiled(wait, send("remind", next="end"), send("thanks"))
    came, _ = walk_through(journey)
    moves = Moves()
    engine.on_event(journey, came, {"type": "app.opened"}, PROFILE, None, NOW, moves)
    assert moves.actions == []  # not the awaited event
    engine.on_event(journey, came, {"type": "visit.booked", "properties": {"day": "sat"}}, PROFILE, None, NOW, moves)
    assert path(moves) == [("visit", "wait", "event"), ("thanks", "send", "decide"), ("thanks", "end", "completed")]
    assert moves.actions[1].event == {"type": "visit.booked", "properties": {"day": "sat"}}  # type: ignore[union-attr]

    silent, _ = walk_through(journey)
    moves = Moves()
    engine.on_timer(journey, silent, PROFILE, NOW + timedelta(days=7), moves)
    assert path(moves) == [("visit", "wait", "timeout"), ("remind", "send", "decide"), ("remind", "end", "completed")]


def test_a_goal_converts_wherever_the_customer_is() -> None:
    journey = compiled(
        send("hello"),
        {"id": "pause", "type": "wait", "duration": "P30D"},
        goals=[{"name": "signed", "event_types": ["contract.signed"]}, {"name": "in-sales", "stage": "sales"}],
    )
    walk, _ = walk_through(journey)
    moves = Moves()
    engine.on_event(
        journey, walk, {"type": "app.opened"}, PROFILE, StageChange(from_stage="lead", to_stage="sales"), NOW, moves
    )
    assert path(moves) == [("in-sales", "goal", "converted")]
    assert (walk.status, walk.end_reason, walk.due_at) == (InstanceStatus.CONVERTED, "in-sales", None)


def test_branches_take_the_first_case_that_holds_else_otherwise() -> None:
    branch = {
        "id": "budget",
        "type": "branch",
        "cases": [
            {"condition": "event.properties.budget >= 500000", "next": "premium"},
            {"condition": "profile.traits.budget >= 300000", "next": "standard"},
        ],
        "otherwise": "small",
    }
    journey = compiled(branch, send("premium", next="end"), send("standard", next="end"), send("small"))
    _, moves = walk_through(journey)
    assert ("budget", "branch", "standard") in path(moves)
    _, moves = walk_through(journey, {"type": "lead.created", "properties": {"budget": 900000}})
    assert ("premium", "send", "decide") in path(moves)
    moves = Moves()
    engine.start(journey, CUSTOMER, {"type": "lead.created"}, {"traits": {}}, NOW, moves)
    assert ("small", "send", "decide") in path(moves)


def test_holdout_walks_the_journey_and_is_sent_nothing() -> None:
    journey = compiled(send("hello"), {"id": "hot", "type": "notify", "body": "New lead"}, holdout_share=0.5)
    held = next(c for c in (uuid.uuid4() for _ in range(200)) if engine.in_holdout("j", c, 0.5))
    moves = Moves()
    walk = engine.start(journey, held, EVENT, PROFILE, NOW, moves)
    assert walk.holdout
    # The control group gets no message; the staff are still told (a notify is not the customer's message).
    assert path(moves) == [
        ("entry", "entry", "holdout"),
        ("hello", "send", "held_out"),
        ("hot", "notify", "decide"),
        ("hot", "end", "completed"),
    ]


def test_updates_are_published_and_exits_end_the_walk() -> None:
    journey = compiled(
        {"id": "mark", "type": "update", "traits": {"hot": True}, "stage": "qualified"},
        {"id": "bye", "type": "exit", "reason": "done-here"},
    )
    walk, moves = walk_through(journey)
    assert path(moves)[1:] == [
        ("mark", "update", "publish"),
        ("mark", "update", "published"),
        ("bye", "exit", "done-here"),
    ]
    update = moves.actions[1]
    assert isinstance(update, Update)
    assert (update.traits, update.stage) == ({"hot": True}, "qualified")
    assert (walk.status, walk.end_reason) == (InstanceStatus.EXITED, "done-here")


def test_entry_by_event_and_condition_or_by_stage() -> None:
    by_event = compiled(entry={"event_types": ["lead.*"], "condition": "event.properties.budget >= 100000"})
    assert engine.enters(by_event, EVENT, PROFILE, None, NOW)
    assert not engine.enters(by_event, {**EVENT, "properties": {"budget": 5}}, PROFILE, None, NOW)
    assert not engine.enters(by_event, {**EVENT, "type": "visit.booked"}, PROFILE, None, NOW)
    by_stage = compiled(entry={"stage": "qualified"})
    assert engine.enters(by_stage, EVENT, PROFILE, StageChange(from_stage="lead", to_stage="qualified"), NOW)
    assert not engine.enters(by_stage, EVENT, PROFILE, StageChange(from_stage="qualified", to_stage="sales"), NOW)
    assert not engine.enters(by_stage, EVENT, PROFILE, None, NOW)


def test_re_entry_rules() -> None:
    spec = JourneySpec.model_validate(journey_spec("r", re_entry="never"))
    assert engine.may_enter(spec, None, NOW)
    assert not engine.may_enter(spec, NOW - timedelta(days=400), NOW)
    cooled = JourneySpec.model_validate(journey_spec("r", re_entry_after="P30D"))
    assert not engine.may_enter(cooled, NOW - timedelta(days=29), NOW)
    assert engine.may_enter(cooled, NOW - timedelta(days=30), NOW)


def test_leaving_ends_the_walk_and_forgets_its_event() -> None:
    journey = compiled(send("hello"), {"id": "pause", "type": "wait", "duration": "P1D"})
    walk, _ = walk_through(journey)
    moves = Moves()
    engine.leave(walk, "erased", NOW, moves)
    assert path(moves) == [("pause", "exit", "erased")]
    assert (walk.status, walk.context, walk.due_at) == (InstanceStatus.EXITED, {}, None)


def test_split_arms_follow_their_percentages_and_a_walk_keeps_its_arm() -> None:
    step = SplitStep.model_validate(
        {
            "id": "ab",
            "type": "split",
            "arms": [{"name": "a", "percent": 20, "next": "end"}, {"name": "b", "percent": 80, "next": "end"}],
        }
    )
    drawn = Counter(engine.draw_arm(uuid.uuid4(), step) for _ in range(20_000))
    # Binomial(20000, 0.2): sd 57; 5 sd either side.
    assert abs(drawn["a"] - 4000) < 285
    walk_id = uuid.uuid4()
    assert len({engine.draw_arm(walk_id, step) for _ in range(5)}) == 1
    journey = compiled(
        {
            "id": "ab",
            "type": "split",
            "arms": [{"name": "a", "percent": 50, "next": "end"}, {"name": "b", "percent": 50, "next": "end"}],
        }
    )
    walk, moves = walk_through(journey)
    assert walk.arms == {"ab": engine.draw_arm(walk.id, journey.spec.steps[0])}  # type: ignore[arg-type]
    assert ("ab", "split", walk.arms["ab"]) in path(moves)


def test_the_holdout_is_drawn_per_journey_and_customer_at_its_share() -> None:
    customers = [uuid.uuid4() for _ in range(20_000)]
    held = sum(engine.in_holdout("j", c, 0.1) for c in customers)
    assert abs(held - 2000) < 5 * 42  # Binomial(20000, 0.1): sd 42
    assert not any(engine.in_holdout("j", c, 0.0) for c in customers[:100])
    assert [engine.in_holdout("j", c, 0.1) for c in customers[:50]] == [
        engine.in_holdout("j", c, 0.1) for c in customers[:50]
    ]
