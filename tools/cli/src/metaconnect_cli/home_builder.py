"""`metaconnect demo traffic --scenario home-builder`: simulated customers walk the home builder's
lifecycle, from a lead to aftercare, through the real services, with time compressed.

The example's lifecycle and journeys (`examples/home-builder/`) are applied with every duration
scaled by `day_s / 86400` (a wait of seven days takes seven `day_s`; a wait until a local time
becomes one compressed day). Each customer follows one of a few paths, each a list of events
on a day of the story: a lead who never books a visit (the nurture journey reminds them after a
week), a visitor who is qualified but asks for no offer (the sales journey nudges them), and a
buyer who signs, watches their house being built (milestones reported together arrive as one
bundled message) and moves in (aftercare). The events are posted through ingest when their
compressed day comes.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import httpx
import numpy as np
import yaml
from pydantic import TypeAdapter

from metaconnect_cli.demo import colour_answers
from metaconnect_cli.demo_stack import Stack, Target
from metaconnect_common.schemas.profiled import Colour

EXAMPLE: Final = Path(__file__).resolve().parents[4] / "examples" / "home-builder"
COLOURS: Final = (Colour.RED, Colour.YELLOW, Colour.GREEN, Colour.BLUE)
DAY: Final = timedelta(days=1)
_DURATION: Final = TypeAdapter(timedelta)


class Story(StrEnum):
    """What a simulated customer does."""

    DROP_OUT = "drop-out"  # a lead who never books a visit
    VISITOR = "visitor"  # visits, is qualified, asks for no offer
    BUYER = "buyer"  # signs, builds, moves in


MILESTONES: Final = (
    (25.0, "foundation", "The foundation is poured and curing."),
    (25.0, "walls", "The ground-floor walls stand."),  # reported the same day: one delivery
    (40.0, "roof", "The roof is on: your house is weather-tight."),
)


@dataclass(frozen=True)
class Step:
    """An event on a day of the story."""

    day: float
    type: str
    properties: dict[str, Any] = field(default_factory=dict)
    channel: str = "web"


def story_steps(story: Story, budget: int) -> list[Step]:
    """The events of one story, in order."""
    steps = [Step(0.0, "lead.created", {"source": "reference-video"})]
    if story is Story.DROP_OUT:
        return steps
    steps += [
        Step(1.0, "visit.booked", {"day": "saturday"}),
        Step(3.0, "lead.qualified", {"budget": budget, "purchase_timing": "this-year"}),
        Step(4.0, "sales.assigned", {"advisor": "advisor-1"}),
    ]
    if story is Story.VISITOR:
        return steps
    steps += [
        Step(5.0, "offer.requested"),
        Step(14.0, "contract.signed", {"house_type": "semi-detached"}),
        Step(20.0, "construction.started"),
        *(Step(day, "construction.milestone", {"milestone": name, "summary": text}) for day, name, text in MILESTONES),
        Step(50.0, "house.handed_over"),
    ]
    return steps


@dataclass(frozen=True)
class Customer:
    ref: str
    colour: Colour
    story: Story
    budget: int

    @property
    def who(self) -> dict[str, str]:
        return {"customer_id": self.ref, "email": f"{self.ref}@example.com", "device_token": f"{self.ref}-push-token"}


BUDGETS: Final = {Story.BUYER: (500, 800), Story.VISITOR: (250, 500), Story.DROP_OUT: (250, 800)}
"""Budgets in thousands, per story: buyers are the sales team's hot leads (500k and more)."""


def population(count: int, seed: int) -> list[Customer]:
    """`count` customers: colours evenly, a third of each story (buyers first), budgets by story."""
    rng = np.random.default_rng(seed)
    stories = (Story.BUYER, Story.VISITOR, Story.DROP_OUT)
    out = []
    for n in range(count):
        story = stories[n % len(stories)]
        low, high = BUDGETS[story]
        out.append(
            Customer(
                ref=f"home-{seed}-{n}",
                colour=COLOURS[n % len(COLOURS)],
                story=story,
                budget=int(rng.integers(low, high)) * 1000,
            )
        )
    return out


def onboarding(customer: Customer, at: datetime) -> list[dict[str, Any]]:
    """Consent (marketing on push and e-mail, the colour form), a first name, the colour form."""
    consented = at - timedelta(seconds=1)
    consents = [{"purpose": "marketing", "granted": True, "channel": c} for c in ("push", "email")]
    consents.append({"purpose": "profiling_questionnaire", "granted": True})
    events = [event(customer.who, "consent.changed", "in_app", consented, c) for c in consents]
    events.append(event(customer.who, "profile.updated", "web", consented, {"traits": {"first_name": "Alex"}}))
    answers = {"instrument": "colours24", "answers": colour_answers(customer.colour)}
    events.append(event({"customer_id": customer.ref}, "questionnaire.submitted", "in_app", consented, answers))
    return events


def event(
    customer: Mapping[str, str], type_: str, channel: str, at: datetime, properties: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "customer": dict(customer),
        "type": type_,
        "channel": channel,
        "occurred_at": at.isoformat(),
        "properties": dict(properties or {}),
    }


def schedule(customers: Sequence[Customer], day_s: float) -> list[tuple[float, Customer, Step]]:
    """(seconds after the start, customer, step) for every step of every customer, in time order."""
    out = [(step.day * day_s, c, step) for c in customers for step in story_steps(c.story, c.budget)]
    return sorted(out, key=lambda entry: entry[0])


# -- compressing the example -------------------------------------------------------------------------


def compress(spec: Any, day_s: float) -> Any:
    """A journey spec with every duration scaled to `day_s` seconds a day (pure, a copy)."""
    scale = day_s / DAY.total_seconds()
    if isinstance(spec, list):
        return [compress(item, day_s) for item in spec]
    if not isinstance(spec, dict):
        return spec
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if key in ("duration", "timeout", "re_entry_after") and isinstance(value, str | int | float):
            out[key] = _seconds(_DURATION.validate_python(value) * scale)
        elif key == "until" and isinstance(value, dict):
            out["duration"] = _seconds(DAY * scale)  # a local time of day has no compressed equivalent
        elif key == "bundle_window" and isinstance(value, str | int | float):
            out[key] = _seconds(_DURATION.validate_python(value) * scale)
        elif key == "quiet_hours":
            continue  # compressed days have no nights
        else:
            out[key] = compress(value, day_s)
    return out


def _seconds(value: timedelta) -> str:
    return f"PT{max(1.0, round(value.total_seconds(), 3)):g}S"


DEFAULT_BUNDLE_WINDOW: Final = timedelta(minutes=30)
"""A policy's bundle window when it names none (`routes.spec.Policy`): compressed as well."""


def example_journeys(day_s: float) -> list[dict[str, Any]]:
    out = []
    for path in sorted((EXAMPLE / "journeys").glob("*.yaml")):
        spec: dict[str, Any] = yaml.safe_load(path.read_text())
        spec.setdefault("policy", {}).setdefault("bundle_window", _seconds(DEFAULT_BUNDLE_WINDOW))
        out.append(compress(spec, day_s))
    return out


def example_lifecycle() -> dict[str, Any]:
    lifecycle: dict[str, Any] = yaml.safe_load((EXAMPLE / "lifecycle.yaml").read_text())
    return lifecycle


# -- running it ----------------------------------------------------------------------------------------


@dataclass
class ScenarioReport:
    customers: int
    day_s: float
    events_posted: int = 0
    stages: Counter[str] = field(default_factory=Counter)
    journeys: dict[str, dict[str, Any]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"{self.customers} customers walked the home builder's lifecycle ({self.day_s:g} s a day)"]
        out.append("Stages now: " + ", ".join(f"{s} {n}" for s, n in self.stages.items()))
        for name, report in self.journeys.items():
            out.append(
                f"Journey {name}: entered {report['entered']}, converted {report['converted']['walks']}, "
                f"active {report['active']}, completed {report['completed']}, exited {report['exited']}"
            )
        return out


SETTLE_DAYS: Final = 10.0
"""Days of the story after the last event: the last leads' reminders and visitors' nudges fall due."""


async def run_scenario(
    target: Target, customers: int, day_s: float, seed: int, say: Callable[[str], None]
) -> ScenarioReport:
    """Apply the compressed lifecycle and journeys, onboard the customers and post their stories on time."""
    population_ = population(customers, seed)
    report = ScenarioReport(len(population_), day_s)
    journeys = example_journeys(day_s)
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0)) as http:
        stack = Stack(target, http)
        await stack.put(f"{target.profile_url}/v1/lifecycle", example_lifecycle())
        for journey in journeys:
            await stack.put(f"{target.router_url}/v1/journeys/{journey['name']}", journey)
        say(
            f"The home builder's lifecycle and {len(journeys)} journeys are active, compressed to {day_s:g} s a day "
            "(they replace journeys of the same names; `metaconnect journeys apply examples/home-builder/journeys` "
            "puts the real durations back)"
        )
        start_at = datetime.now(UTC)
        # Day 0 starts now: a customer enters the first stage (and its journeys) with their first
        # event, so the story's clock must not wait. Their events share a partition key: the
        # consent and the colour are applied before the story, in order.
        started = time.monotonic()
        report.events_posted += await stack.post([e for c in population_ for e in onboarding(c, start_at)])
        for offset, customer, step in schedule(population_, day_s):
            await asyncio.sleep(max(0.0, started + offset - time.monotonic()))
            at = datetime.now(UTC)
            report.events_posted += await stack.post(
                [event(customer.who, step.type, step.channel, at, step.properties)]
            )
        say(f"Every story is told ({report.events_posted} events); letting the last waits fall due")
        await asyncio.sleep(SETTLE_DAYS * day_s)
        for customer in population_:
            found = await stack.profile(customer.ref)
            if found is not None:
                report.stages[found["lifecycle_stage"]] += 1
        for journey in journeys:
            report.journeys[journey["name"]] = await stack.get(
                f"{target.router_url}/v1/reports/journeys/{journey['name']}"
            )
    return report
