"""The home-builder scenario's plan (pure): stories, schedule, and the example compressed."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from pydantic import TypeAdapter

from metaconnect_cli import home_builder
from metaconnect_cli.home_builder import Story
from metaconnect_router.journeys.spec import JourneySpec, WaitStep

SECONDS = TypeAdapter(timedelta)


def test_the_example_journeys_compress_to_valid_journeys_on_the_story_clock() -> None:
    journeys = {j["name"]: j for j in home_builder.example_journeys(day_s=2.0)}
    assert set(journeys) == {"lead-nurture", "sales-handover", "construction-updates", "aftercare"}
    for doc in journeys.values():
        JourneySpec.model_validate(doc)
        assert "quiet_hours" not in doc.get("policy", {})
    nurture = JourneySpec.model_validate(journeys["lead-nurture"])
    wait = nurture.step("wait-for-visit")
    assert isinstance(wait, WaitStep)
    assert wait.event is not None
    assert wait.event.timeout == timedelta(seconds=14)  # seven days of two seconds
    sales = JourneySpec.model_validate(journeys["sales-handover"])
    morning = sales.step("next-morning")
    assert isinstance(morning, WaitStep)
    assert morning.duration == timedelta(seconds=2)  # a local time becomes one compressed day
    assert SECONDS.validate_python(journeys["construction-updates"]["policy"]["bundle_window"]) == timedelta(seconds=1)


def test_a_third_of_the_customers_walk_each_story_in_every_colour() -> None:
    customers = home_builder.population(12, seed=3)
    assert Counter(c.story for c in customers) == {Story.BUYER: 4, Story.VISITOR: 4, Story.DROP_OUT: 4}
    assert len({c.colour for c in customers}) == 4
    assert customers == home_builder.population(12, seed=3)
    assert all(500_000 <= c.budget < 800_000 for c in customers if c.story is Story.BUYER)
    assert all(250_000 <= c.budget < 500_000 for c in customers if c.story is Story.VISITOR)


def test_a_buyers_story_reports_two_milestones_together_and_ends_at_the_handover() -> None:
    steps = home_builder.story_steps(Story.BUYER, 500_000)
    types = [s.type for s in steps]
    assert types[0] == "lead.created"
    assert types[-1] == "house.handed_over"
    milestones = [s.day for s in steps if s.type == "construction.milestone"]
    assert milestones[0] == milestones[1] < milestones[2]
    assert [s.type for s in home_builder.story_steps(Story.DROP_OUT, 1)] == ["lead.created"]


def test_the_schedule_is_in_time_order_on_the_compressed_clock() -> None:
    plan = home_builder.schedule(home_builder.population(6, seed=1), day_s=0.5)
    offsets = [offset for offset, _, _ in plan]
    assert offsets == sorted(offsets)
    assert max(offsets) == 25.0  # the handover, day 50
