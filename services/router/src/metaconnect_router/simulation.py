"""Synthetic customers with hidden true colours, and the router's learning loop run over them (pure, seeded).

Each customer has a colour the router never sees; the profile service is taken to report it as
the personality pattern. The response model says how likely a customer engages with a tone:
`base_rate`, times `matched_lift` for the tone of their colour (RESEARCH.md: matched messages
lift clicks 1.1-1.5x on base rates of 1-10 %). `run` feeds events through `decide` and the
simulated receipts back into the posteriors, as the router does with real ones, so tests and
demos can show what the router learns and what the holdout comparison reports.

No I/O, no clock: all randomness comes from the caller's `numpy.random.Generator`, so a seed
replays a run exactly.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from uuid import UUID

import numpy as np

from metaconnect_common.conditions import parse_condition
from metaconnect_common.schemas import Channel, CustomerRef, Interaction
from metaconnect_common.schemas.profiled import Colour, PersonalitySnapshot, ProfileSnapshot
from metaconnect_router.decisions.decide import ActiveRoute, decide
from metaconnect_router.decisions.eligibility import SendHistory
from metaconnect_router.decisions.ranking import Arm, Posterior, update
from metaconnect_router.routes.spec import RouteSpec, Tone

COLOURS: Final = (Colour.RED, Colour.YELLOW, Colour.GREEN, Colour.BLUE)
TIME_ZONES: Final = ("Europe/Berlin", "Europe/London", "America/New_York", "Asia/Kolkata")
KNOWN_PROBABILITY: Final = 0.8
SOURCE: Final = "simulation"
# Fixed, so the profiles of a seed are the same whenever the simulation runs.
CONSENTED_AT: Final = datetime(2026, 1, 1, tzinfo=UTC)
# Event ids are uuid5 names in this namespace: the same customer, time and type give the same id.
EVENT_NAMESPACE: Final = uuid.UUID("6d2b7c1e-3f4a-5b8c-9d0e-1f2a3b4c5d6e")
NO_HISTORY: Final = SendHistory(sent_at={})


@dataclass(frozen=True)
class SimulatedCustomer:
    id: UUID
    colour: Colour  # the hidden true colour
    pattern: str  # what the profile service reports once it knows the colour
    holdout: bool
    time_zone: str


def best_tone(customer: SimulatedCustomer) -> Tone:
    """The tone that lifts this customer's engagement: their colour's."""
    return Tone(customer.colour.value)


@dataclass(frozen=True)
class ResponseModel:
    """P(engaged | customer, tone): `base_rate`, times `matched_lift` for the customer's best tone."""

    base_rate: float = 0.05  # a mismatched or the neutral tone
    matched_lift: float = 1.4  # RESEARCH.md: 1.1-1.5x

    def __post_init__(self) -> None:
        if not 0.0 <= self.base_rate <= 1.0:
            raise ValueError(f"base_rate lies between 0 and 1, not {self.base_rate}")
        if not (math.isfinite(self.matched_lift) and self.matched_lift > 0.0):
            raise ValueError(f"matched_lift must be a finite number > 0, not {self.matched_lift}")
        if self.base_rate * self.matched_lift > 1.0:
            raise ValueError("base_rate x matched_lift must not exceed 1")

    def probability(self, customer: SimulatedCustomer, tone: Tone) -> float:
        return self.base_rate * (self.matched_lift if tone is best_tone(customer) else 1.0)


DEFAULT_RESPONSE: Final = ResponseModel()


def population(
    n: int,
    rng: np.random.Generator,
    *,
    holdout_share: float = 0.1,
    colour_weights: Mapping[Colour, float] | None = None,
) -> list[SimulatedCustomer]:
    """`n` customers: colours drawn by `colour_weights` (default: all four alike), each held out
    with probability `holdout_share` (randomised, like the profile service's holdout)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, not {n}")
    if not 0.0 <= holdout_share <= 1.0:
        raise ValueError(f"holdout_share lies between 0 and 1, not {holdout_share}")
    if colour_weights is None:
        weights = np.ones(len(COLOURS))
    else:
        unknown = set(colour_weights) - set(COLOURS)
        if unknown:
            raise ValueError(f"colour_weights name colours a customer cannot have: {sorted(unknown)}")
        weights = np.array([float(colour_weights.get(c, 0.0)) for c in COLOURS])
    if not (np.all(np.isfinite(weights)) and np.all(weights >= 0.0) and weights.sum() > 0.0):
        raise ValueError("colour_weights must be finite, >= 0 and not all 0")
    colours = rng.choice(len(COLOURS), size=n, p=weights / weights.sum())
    held = rng.random(n) < holdout_share
    zones = rng.integers(len(TIME_ZONES), size=n)
    customers = []
    for i in range(n):
        colour = COLOURS[int(colours[i])]
        customers.append(
            SimulatedCustomer(
                id=UUID(bytes=rng.bytes(16), version=4),
                colour=colour,
                pattern=colour.value,
                holdout=bool(held[i]),
                time_zone=TIME_ZONES[int(zones[i])],
            )
        )
    return customers


def profile_of(customer: SimulatedCustomer, *, known: bool = True) -> ProfileSnapshot:
    """The snapshot the router gets: push and email consented, in-app/push/email reachable, the
    colour as pattern once `known` (else no pattern: the customer learns on `unknown`)."""
    consent: dict[str, Any] = {"granted": True, "at": CONSENTED_AT, "source": SOURCE}
    personality = (
        PersonalitySnapshot(colour=customer.colour, pattern=customer.pattern, probability=KNOWN_PROBABILITY)
        if known
        else PersonalitySnapshot()
    )
    return ProfileSnapshot.model_validate(
        {
            "lifecycle_stage": "customer",
            "locale": "en",
            "time_zone": customer.time_zone,
            "channel_consent": {Channel.PUSH: consent, Channel.EMAIL: consent},
            "reachable": [Channel.IN_APP, Channel.PUSH, Channel.EMAIL],
            "personality": personality,
            "holdout": customer.holdout,
        }
    )


_DEMO_TEXTS: Final = {
    # Tone, not pressure: no urgency or fear tied to personality (RESEARCH.md, AI Act Art. 5).
    Tone.NEUTRAL: ("New for you", "We have added items you may like."),
    Tone.RED: ("Your picks", "Three new items match what you use. See them."),
    Tone.YELLOW: ("Something fun", "Fresh picks just landed - come and have a look!"),
    Tone.GREEN: ("Take your time", "When it suits you, a few new items are waiting for you."),
    Tone.BLUE: ("What is new", "Three new items, with specifications and prices, compared for you."),
}


def demo_route() -> RouteSpec:
    """A marketing route on `app.opened`: one message in all five tones on push and email,
    no condition, quiet hours or caps, so every event of a consented customer gets a decision."""
    variants = {
        tone.value: {
            "push": {"en": {"title": title, "body": body}},
            "email": {"en": {"subject": title, "body": body}},
        }
        for tone, (title, body) in _DEMO_TEXTS.items()
    }
    return RouteSpec.model_validate(
        {
            "name": "demo-new-items",
            "description": "Simulated traffic: which tone does each personality pattern engage with?",
            "status": "active",
            "trigger": {"event_types": ["app.opened"]},
            "messages": [{"id": "new-items", "channels": ["push", "email"], "variants": variants}],
        }
    )


def event_for(customer: SimulatedCustomer, now: datetime, type_: str = "app.opened") -> Interaction:
    """The customer's event at `now`; its id is derived from customer, time and type (stable, unique per instant)."""
    event_id = uuid.uuid5(EVENT_NAMESPACE, f"{customer.id}/{now.isoformat()}/{type_}")
    return Interaction(
        event_id=event_id,
        customer=CustomerRef(customer_id=str(customer.id)),
        type=type_,
        channel=Channel.IN_APP,
        occurred_at=now,
        received_at=now,
        source=SOURCE,
    )


@dataclass
class Learner:
    """The router's learning loop in memory: a posterior per arm, updated from receipts."""

    posteriors: dict[Arm, Posterior] = field(default_factory=dict)

    def observe(self, arm: Arm, engaged: bool) -> None:
        self.posteriors[arm] = update(self.posteriors.get(arm, Posterior()), engaged)


@dataclass(frozen=True)
class Outcome:
    customer: SimulatedCustomer
    tone: Tone
    engaged: bool
    holdout: bool
    matched: bool  # the tone is the customer's best tone


def run(
    customers: Sequence[SimulatedCustomer],
    route: RouteSpec,
    *,
    events: int,
    rng: np.random.Generator,
    now: datetime,
    response: ResponseModel = DEFAULT_RESPONSE,
    interval: timedelta = timedelta(seconds=1),
    learner: Learner | None = None,
) -> tuple[list[Outcome], Learner]:
    """`events` events of uniformly drawn customers, `interval` apart from `now`, each decided
    with the learner's posteriors; the simulated receipt (engaged or not) teaches the chosen arm,
    holdout ones included (as the router learns from every delivery). Customers are known
    (profile_of). An event whose decision chooses nothing (the route does not match or drops it)
    leaves no outcome. Pass `learner` to go on from earlier runs; it is updated in place."""
    if events < 0:
        raise ValueError(f"events must be >= 0, not {events}")
    if not customers:
        raise ValueError("run needs at least one customer")
    condition = parse_condition(route.trigger.condition) if route.trigger.condition else None
    routes = [ActiveRoute(route.name, 1, route, condition)]
    profiles = [profile_of(c) for c in customers]
    learner = learner if learner is not None else Learner()
    outcomes: list[Outcome] = []
    for i in range(events):
        at = now + i * interval
        index = int(rng.integers(len(customers)))
        customer = customers[index]
        decision = decide(
            event_for(customer, at),
            profiles[index],
            customer.id,
            routes,
            posteriors=learner.posteriors,
            history=NO_HISTORY,
            now=at,
            rng=rng,
        )
        if decision.choice is None:
            continue
        tone = decision.choice.tone
        engaged = bool(rng.random() < response.probability(customer, tone))
        learner.observe(decision.choice.arm, engaged)
        outcomes.append(Outcome(customer, tone, engaged, decision.holdout, tone is best_tone(customer)))
    return outcomes, learner


def match_share(outcomes: Iterable[Outcome]) -> float:
    """The share of treated (non-holdout) outcomes whose tone was the customer's best; nan without any."""
    treated = [o.matched for o in outcomes if not o.holdout]
    return sum(treated) / len(treated) if treated else math.nan


def uplift(outcomes: Iterable[Outcome]) -> tuple[float, float]:
    """(treated engagement rate, holdout engagement rate); a group without outcomes has nan."""
    engaged = {True: 0, False: 0}
    total = {True: 0, False: 0}
    for o in outcomes:
        total[o.holdout] += 1
        engaged[o.holdout] += o.engaged
    treated, held = (engaged[h] / total[h] if total[h] else math.nan for h in (False, True))
    return treated, held
