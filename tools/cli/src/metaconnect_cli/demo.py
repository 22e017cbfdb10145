"""`metaconnect demo traffic`: the router's simulated population, run against a live stack.

The customers, their hidden colours, the response model and the route come from
`metaconnect_router.simulation`. Here they go through the real services: each customer
consents and answers the colour form as its hidden colour would (so the profile service
scores that colour), then opens the app at a steady rate. The delivery service sends each
delivery to the provider sandbox (`message.sent`); standing in for the customers' devices,
the demo consumes `mc.deliveries.v1` and reports back `message.delivered` and, with the
response model's probability, `message.opened`, so the router learns from receipts exactly
as it will from real ones.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import httpx
import numpy as np
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from metaconnect_cli.demo_stack import BATCH_MAX, DemoError, Stack, Target
from metaconnect_common.schemas.delivery import Delivery
from metaconnect_common.schemas.profiled import Colour
from metaconnect_common.settings import KafkaSettings
from metaconnect_common.topics import DELIVERIES
from metaconnect_profile.personality.instruments import colours24
from metaconnect_router.decisions.decide import in_route_holdout
from metaconnect_router.routes.spec import RouteSpec, Tone
from metaconnect_router.simulation import ResponseModel, SimulatedCustomer, best_tone, demo_route, population

# The opposite quadrant of the circumplex: "least like me" in every group of the colour form.
OPPOSITE: Final = {
    Colour.RED: Colour.GREEN,
    Colour.GREEN: Colour.RED,
    Colour.YELLOW: Colour.BLUE,
    Colour.BLUE: Colour.YELLOW,
}


# Counted as the router's reports count them: tones per item (`/v1/reports/engagement?group_by=tone`),
# the holdout comparison per customer (`/v1/reports/uplift`: the holdout is assigned per customer).
TONE_COHORTS: Final = ("matched", "mismatched")
HOLDOUT_COHORTS: Final = ("treated", "holdout")
# Every app.opened the demo posts carries this property, and its route takes only those.
DEMO_MARK: Final = {"demo": "metaconnect-demo-traffic"}
DEMO_CONDITION: Final = f'event.properties.demo == "{DEMO_MARK["demo"]}"'
DEMO_DESCRIPTION: Final = (
    "Simulated traffic (`metaconnect demo traffic`): which tone does each personality pattern engage with? "
    "Fires only on the demo's own app.opened events (properties.demo)."
)


@dataclass(frozen=True)
class TrafficPlan:
    customers: int
    events: int
    rate: float  # app.opened events per second
    settle_s: float
    timeout_s: float
    seed: int
    bundle_window: timedelta = timedelta(seconds=5)
    holdout_share: float = 0.2  # the route's own holdout, so the uplift report has a comparison


@dataclass(frozen=True)
class Member:
    """A demo customer as the stack knows it."""

    ref: str  # customer_id in the events: demo-<seed>-<n>
    simulated: SimulatedCustomer
    holdout: bool  # the profile's permanent holdout or the route's


@dataclass
class TrafficReport:
    """What a run did: `lines()` for people, `as_dict()` for scripts.

    Tones count items (`TONE_COHORTS`): every item of an opened delivery is engaged with, as the
    router records it. Treated and holdout count customers (`HOLDOUT_COHORTS`): those reached by
    a delivery, and those who opened at least one, the units of `GET /v1/reports/uplift`.
    """

    seed: int
    customers: int
    uplift_url: str
    decisions_url: str = ""
    events_posted: int = 0
    deliveries: int = 0
    receipts: int = 0
    opens: int = 0
    items: Counter[str] = field(default_factory=Counter)
    items_opened: Counter[str] = field(default_factory=Counter)
    reached: dict[str, set[str]] = field(default_factory=lambda: {c: set() for c in HOLDOUT_COHORTS})
    engaged: dict[str, set[str]] = field(default_factory=lambda: {c: set() for c in HOLDOUT_COHORTS})
    timed_out: bool = False
    last_delivery: float = 0.0  # time.monotonic()

    def as_dict(self) -> dict[str, Any]:
        # Not `asdict`: it rebuilds a Counter from (key, value) pairs, counting the pairs.
        counters = ("items", "items_opened", "reached", "engaged", "last_delivery")
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in counters}
        return out | {
            "items": {c: self.items[c] for c in TONE_COHORTS},
            "items_opened": {c: self.items_opened[c] for c in TONE_COHORTS},
            "customers_reached": {c: len(self.reached[c]) for c in HOLDOUT_COHORTS},
            "customers_engaged": {c: len(self.engaged[c]) for c in HOLDOUT_COHORTS},
        }

    def lines(self) -> list[str]:
        out = [f"Demo traffic (seed {self.seed}): {self.customers} customers, {self.events_posted} app.opened events"]
        out.append(f"  deliveries seen {self.deliveries}, receipts posted {self.receipts} ({self.opens} opened)")
        out.append("  items opened / items sent, by tone (as /v1/reports/engagement?group_by=tone counts):")
        for cohort in TONE_COHORTS:
            out.append(_share_line(f"{cohort} tone", self.items_opened[cohort], self.items[cohort]))
        out.append("  customers who opened / customers reached (as /v1/reports/uplift counts):")
        for cohort in HOLDOUT_COHORTS:
            out.append(_share_line(cohort, len(self.engaged[cohort]), len(self.reached[cohort])))
        if self.timed_out:
            out.append("  stopped at --timeout before the deliveries went quiet")
        out.append(f"What the router learnt: GET {self.uplift_url} (viewer token)")
        out.append(f"One customer's decisions: GET {self.decisions_url}")
        return out


def _share_line(label: str, part: int, whole: int) -> str:
    rate = f"{part / whole:6.1%}" if whole else "     -"
    return f"    {label:<16} {rate}  ({part}/{whole})"


def colour_answers(colour: Colour) -> list[dict[str, str]]:
    """A colours24 answer set scoring `colour`: its descriptor most, the opposite colour's least, in every group."""
    answers = []
    for group in colours24().groups:
        by_colour = {d.colour.value: d.id for d in group.descriptors}
        answers.append({"group": group.id, "most": by_colour[colour.value], "least": by_colour[OPPOSITE[colour].value]})
    return answers


def _event(
    customer: dict[str, str], type_: str, channel: str, at: datetime, properties: dict[str, Any] | None = None
) -> dict[str, Any]:
    # A fresh id per event: a rerun with the same seed must not be skipped as a duplicate.
    return {
        "event_id": str(uuid.uuid4()),
        "customer": customer,
        "type": type_,
        "channel": channel,
        "occurred_at": at.isoformat(),
        "properties": properties or {},
    }


def onboarding(ref: str, customer: SimulatedCustomer, now: datetime) -> list[dict[str, Any]]:
    """Consents (marketing on push and email, the questionnaire), an e-mail and a device token, the colour form."""
    who = {"customer_id": ref, "email": f"{ref}@example.com", "device_token": f"{ref}-push-token"}
    consented = now - timedelta(seconds=1)  # a profiling grant counts for what is observed at or after it
    consents = [{"purpose": "marketing", "granted": True, "channel": c} for c in ("push", "email")]
    consents.append({"purpose": "profiling_questionnaire", "granted": True})
    events = [_event(who, "consent.changed", "in_app", consented, c) for c in consents]
    answers = {"instrument": "colours24", "answers": colour_answers(customer.colour)}
    events.append(_event({"customer_id": ref}, "questionnaire.submitted", "in_app", now, answers))
    return events


def demo_spec(plan: TrafficPlan) -> RouteSpec:
    """The simulation's route, firing only on the demo's own `app.opened` events (`DEMO_MARK`).

    The route stays active after a run (its uplift report reads it), so it must never take
    the app.opened events of real customers, nor those of the README's first curl.
    """
    spec = demo_route()
    trigger = spec.trigger.model_copy(update={"condition": DEMO_CONDITION})
    policy = spec.policy.model_copy(update={"bundle_window": plan.bundle_window, "holdout_share": plan.holdout_share})
    return spec.model_copy(update={"trigger": trigger, "policy": policy, "description": DEMO_DESCRIPTION})


async def identify(
    stack: Stack, customers: dict[str, SimulatedCustomer], route: RouteSpec, deadline: float
) -> dict[uuid.UUID, Member]:
    """Canonical profile id -> member, once each profile shows the colour its questionnaire gives."""
    members: dict[uuid.UUID, Member] = {}
    pending = dict(customers)
    limit = asyncio.Semaphore(16)

    async def look_up(ref: str, customer: SimulatedCustomer) -> None:
        async with limit:
            found = await stack.profile(ref)
        if found is None or found["personality"]["colour"] != customer.colour.value:
            return  # not applied yet
        canonical = uuid.UUID(found["id"])
        held = bool(found["holdout"]) or in_route_holdout(canonical, route.name, route.policy.holdout_share)
        members[canonical] = Member(ref, customer, held)
        del pending[ref]

    while pending:
        await asyncio.gather(*(look_up(ref, c) for ref, c in list(pending.items())))
        if pending and time.monotonic() > deadline:
            raise DemoError(
                f"{len(pending)} demo profiles (e.g. cid:{next(iter(pending))}) did not show their questionnaire "
                "colour in time; see the profile service's log"
            )
        if pending:
            await asyncio.sleep(0.5)
    return members


def receipts(
    delivery: Delivery, member: Member, report: TrafficReport, response: ResponseModel, rng: np.random.Generator
) -> list[dict[str, Any]]:
    """`message.delivered`, and `message.opened` with the response model's probability for the first item's tone."""
    tone = Tone(delivery.items[0].tone)
    now = datetime.now(UTC)
    who, channel, props = {"customer_id": member.ref}, delivery.channels[0].value, {"delivery_id": str(delivery.id)}
    out = [_event(who, "message.delivered", channel, now, props)]
    engaged = bool(rng.random() < response.probability(member.simulated, tone))
    if engaged:
        report.opens += 1
        out.append(_event(who, "message.opened", channel, now, props))
    for item in delivery.items:
        cohort = "matched" if Tone(item.tone) is best_tone(member.simulated) else "mismatched"
        report.items[cohort] += 1
        report.items_opened[cohort] += engaged
    cohort = "holdout" if member.holdout else "treated"
    report.reached[cohort].add(member.ref)
    if engaged:
        report.engaged[cohort].add(member.ref)
    return out


async def close_loop(
    consumer: Any,
    stack: Stack,
    members: dict[uuid.UUID, Member],
    report: TrafficReport,
    rng: np.random.Generator,
    stop: asyncio.Event,
) -> None:
    """Stand in for the delivery service: every demo delivery gets its receipts."""
    response = ResponseModel()
    while not stop.is_set():
        batch: dict[Any, list[Any]] = await consumer.getmany(timeout_ms=500)
        out: list[dict[str, Any]] = []
        for records in batch.values():
            for record in records:
                try:
                    delivery = Delivery.model_validate_json(record.value)
                except ValidationError:
                    continue
                if (member := members.get(delivery.customer_id)) is None:
                    continue  # not a demo customer
                report.deliveries += 1
                report.last_delivery = time.monotonic()
                out += receipts(delivery, member, report, response, rng)
        if out:
            report.receipts += await stack.post(out)


async def post_traffic(
    stack: Stack, refs: Sequence[str], plan: TrafficPlan, report: TrafficReport, rng: np.random.Generator
) -> None:
    """`plan.events` app.opened events of uniformly drawn customers, at most `plan.rate` per second."""
    size = max(1, min(BATCH_MAX, round(plan.rate)))  # about one batch a second
    started, posted = time.monotonic(), 0
    while posted < plan.events:
        count = min(size, plan.events - posted)
        now = datetime.now(UTC)
        batch = [
            _event({"customer_id": refs[int(i)]}, "app.opened", "in_app", now, DEMO_MARK)
            for i in rng.integers(len(refs), size=count)
        ]
        report.events_posted += await stack.post(batch)
        posted += count
        await asyncio.sleep(max(0.0, started + posted / plan.rate - time.monotonic()))


async def _assigned(consumer: Any, deadline: float) -> None:
    """Wait for the group's assignment and fix every position at the end, before any traffic."""
    while not consumer.assignment():
        if time.monotonic() > deadline:
            raise DemoError(f"no partitions of {DELIVERIES} were assigned to the demo's consumer group in time")
        await asyncio.sleep(0.2)
    for partition in consumer.assignment():
        await consumer.position(partition)


async def run_traffic(target: Target, plan: TrafficPlan, say: Callable[[str], None]) -> TrafficReport:
    """Put the route, onboard the customers, post the traffic and answer every demo delivery until quiet."""
    deadline = time.monotonic() + plan.timeout_s
    rng = np.random.default_rng(plan.seed)
    customers = {f"demo-{plan.seed}-{n}": c for n, c in enumerate(population(plan.customers, rng))}
    route = demo_spec(plan)
    report = TrafficReport(plan.seed, len(customers), f"{target.router_url}/v1/reports/uplift?route={route.name}")
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0)) as http:
        stack = Stack(target, http)
        await stack.put_route(route)
        say(f"Route {route.name} is active (bundle window {plan.bundle_window.total_seconds():g} s)")
        consumer = AIOKafkaConsumer(
            bootstrap_servers=target.kafka,
            group_id=f"metaconnect-demo-{plan.seed}-{uuid.uuid4().hex[:8]}",  # its own group, nothing committed
            enable_auto_commit=False,
            auto_offset_reset="latest",
        )
        try:
            try:
                await asyncio.wait_for(consumer.start(), 30)
            except (TimeoutError, KafkaError) as exc:
                raise DemoError(f"cannot reach Kafka at {target.kafka}: {exc or type(exc).__name__}") from None
            consumer.subscribe([KafkaSettings().topic(DELIVERIES)])  # MC_KAFKA_TOPIC_PREFIX, as the stack's
            now = datetime.now(UTC)
            await stack.post([e for ref, c in customers.items() for e in onboarding(ref, c, now)])
            say(f"{len(customers)} customers consented and answered the colour form; waiting for their profiles")
            members = await identify(stack, customers, route, deadline)
            report.decisions_url = f"{target.router_url}/v1/decisions?customer={next(iter(members))}"
            await _assigned(consumer, deadline)
            say(f"Posting {plan.events} app.opened events at {plan.rate:g}/s; answering deliveries with receipts")
            stop = asyncio.Event()
            responses = np.random.default_rng([plan.seed, 1])
            loop = asyncio.create_task(close_loop(consumer, stack, members, report, responses, stop))
            try:
                traffic = post_traffic(stack, list(customers), plan, report, rng)
                try:
                    await asyncio.wait_for(traffic, deadline - time.monotonic())
                except TimeoutError:
                    report.timed_out = True
                posted_at = time.monotonic()
                while time.monotonic() - max(posted_at, report.last_delivery) < plan.settle_s and not loop.done():
                    if report.timed_out or time.monotonic() > deadline:
                        report.timed_out = True
                        break
                    await asyncio.sleep(0.2)
            finally:
                stop.set()
                await loop  # raises what failed in it
        finally:
            await consumer.stop()
    return report
