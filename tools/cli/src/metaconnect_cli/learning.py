"""What the router learns from realistic customers: the profile's real estimate, the router's real decision.

The router's own simulation (`metaconnect_router.simulation`) hands the router each customer's
true colour as the pattern. Here the router sees what production gives it: customers from
`personas.population` (many answered no questionnaire; the rest answered the IPIP-50 and/or the
colour form with realistic item noise), scored and estimated by the profile's own code, so the
router meets 24 patterns plus `unknown` and labels that are wrong about one time in five.

Customers engage by their hidden colour (`Response`): `base_rate`, times `matched_lift` for the
tone written for it. Every event goes through the real `decide` on a route of five tone
variants; the simulated receipt teaches the chosen arm (pattern, tone, channel). Policies differ
only in what `decide` is given (`Policy`), and run on the same customers, the same event order
and the same engagement draws (common random numbers), so their differences are the policies'.

`summarise` reports, per run: the matched-tone share among treated decisions for customers whose
profile names a colour, from the first decision in blocks; the events until it stays >= 80 %;
treated against holdout engagement with Newcombe's interval (`reports.stats`); and the regret per
treated decision (P(engage | the customer's best tone) - P(engage | the tone sent)), which is what
a permanent exploration floor costs for ever.

No I/O, no clock: a seed replays a run exactly.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt

from metaconnect_cli.personas import Person, population, profile_of
from metaconnect_common.schemas import Channel, CustomerRef, Interaction
from metaconnect_common.schemas.profiled import Colour as SeenColour
from metaconnect_profile.personality.dimensions import Colour
from metaconnect_router.decisions.decide import DEFAULT_TONE_PRIOR, ActiveRoute, decide
from metaconnect_router.decisions.eligibility import SendHistory
from metaconnect_router.decisions.ranking import FLOOR_SHARE, Arm, Posterior, TonePrior, update
from metaconnect_router.reports.stats import stratified_difference
from metaconnect_router.routes.spec import RouteSpec, Tone
from metaconnect_router.simulation import demo_route

Bools = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]

START: Final = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
TARGET: Final = 0.8
_EVENTS: Final = uuid.UUID("0c4a8f6e-9b1d-5e2a-8f3c-7d6e5a4b3c2d")
_NO_HISTORY: Final = SendHistory(sent_at={})


@dataclass(frozen=True)
class Response:
    """P(engage | hidden colour, tone): `base_rate`, times `matched_lift` for the colour's own tone."""

    base_rate: float = 0.05  # RESEARCH.md: 1-10 %
    matched_lift: float = 1.3  # RESEARCH.md: 1.1-1.5x

    def __post_init__(self) -> None:
        if not (0.0 < self.base_rate < 1.0 and self.matched_lift >= 1.0 and self.base_rate * self.matched_lift <= 1.0):
            raise ValueError("need 0 < base_rate < 1, matched_lift >= 1 and base_rate x matched_lift <= 1")

    def probability(self, colour: Colour, tone: Tone) -> float:
        return self.base_rate * (self.matched_lift if tone.value == colour.value else 1.0)


@dataclass(frozen=True)
class Policy:
    """What `decide` is given: the route's exploration cap, `rank`'s floor share, the tone prior."""

    name: str
    exploration_cap: float = 0.2
    floor_share: float = FLOOR_SHARE
    tone_prior: TonePrior = DEFAULT_TONE_PRIOR


PRODUCTION: Final = Policy("production")  # the defaults: cap 0.2, a quarter of it uniform, the personality prior
NO_PRIOR: Final = Policy("no-prior", tone_prior=TonePrior(matched_lift=1.0))  # every tone starts alike
# One draw per arm, the highest wins: cap 1 leaves Thompson sampling unbounded, floor 0 removes the uniform part.
PLAIN_THOMPSON: Final = Policy("plain-thompson", exploration_cap=1.0, floor_share=0.0)
# The production rule with a personality prior worth 500 receipts instead of 20 (docs/router.md).
STRONG_PRIOR: Final = Policy("prior-500", tone_prior=TonePrior(strength=500.0))
POLICIES: Final = (PRODUCTION, NO_PRIOR, PLAIN_THOMPSON)
POLICIES_BY_NAME: Final = {p.name: p for p in (*POLICIES, STRONG_PRIOR)}


@dataclass(frozen=True)
class Trace:
    """One run, as arrays over events (every event gets a decision)."""

    policy: str
    holdout: Bools
    labelled: Bools  # the profile names a colour for the customer
    matched: Bools  # the tone sent is the customer's hidden colour's
    engaged: Bools
    regret: Floats  # P(engage | best tone) - P(engage | tone sent); 0 for the holdout


def route_for(policy: Policy) -> RouteSpec:
    """The demo route (one message in five tones, push and email) with the policy's exploration cap."""
    spec = demo_route()
    return spec.model_copy(
        update={"policy": spec.policy.model_copy(update={"exploration_share": policy.exploration_cap})}
    )


def _event(person: Person, at: datetime) -> Interaction:
    return Interaction(
        event_id=uuid.uuid5(_EVENTS, f"{person.id}/{at.isoformat()}"),
        customer=CustomerRef(customer_id=str(person.id)),
        type="app.opened",
        channel=Channel.IN_APP,
        occurred_at=at,
        received_at=at,
        source="simulation",
    )


def run(people: Sequence[Person], policy: Policy, *, events: int, seed: int, response: Response) -> Trace:
    """`events` events of customers drawn uniformly, one a second, each decided by `decide` with the
    posteriors learned so far; the simulated receipt teaches the chosen arm (holdout ones too, as the
    router learns from every delivery). The event order and engagement draws depend on `seed` only."""
    if events < 0:
        raise ValueError(f"events must be >= 0, not {events}")
    if not people:
        raise ValueError("run needs at least one customer")
    draws = np.random.default_rng([seed, 1])
    who = draws.integers(len(people), size=events)
    chance = draws.random(events)
    rng = np.random.default_rng([seed, 2])
    spec = route_for(policy)
    routes = [ActiveRoute(spec.name, 1, spec, None)]
    profiles = [profile_of(p) for p in people]
    posteriors: dict[Arm, Posterior] = {}
    holdout, matched, engaged = (np.zeros(events, dtype=np.bool_) for _ in range(3))
    regret = np.zeros(events)
    best = response.base_rate * response.matched_lift
    for i in range(events):
        at = START + timedelta(seconds=i)
        person = people[int(who[i])]
        decision = decide(
            _event(person, at),
            profiles[int(who[i])],
            person.id,
            routes,
            posteriors=posteriors,
            history=_NO_HISTORY,
            now=at,
            rng=rng,
            tone_prior=policy.tone_prior,
            floor_share=policy.floor_share,
        )
        if decision.choice is None:
            raise AssertionError(f"event {i} got no decision: {decision.explanation}")
        tone = decision.choice.tone
        p = response.probability(person.colour, tone)
        engaged[i] = chance[i] < p
        arm = decision.choice.arm
        posteriors[arm] = update(posteriors.get(arm, Posterior()), bool(engaged[i]))
        holdout[i] = decision.holdout
        matched[i] = tone.value == person.colour.value
        regret[i] = 0.0 if decision.holdout else best - p
    labelled = np.array([people[int(j)].personality.colour is not SeenColour.UNKNOWN for j in who], dtype=np.bool_)
    return Trace(policy.name, holdout, labelled, matched, engaged, regret)


@dataclass(frozen=True)
class Labels:
    """How good the profile's labels are on a population (the ceiling of any per-pattern policy)."""

    customers: int
    labelled: int  # the profile names a colour
    right: int  # ... and it is the hidden one
    ceiling: float  # sum over patterns of the largest hidden-colour group / labelled

    @property
    def wrong_share(self) -> float:
        return 1.0 - self.right / self.labelled if self.labelled else math.nan


def labels(people: Sequence[Person]) -> Labels:
    seen = [p for p in people if p.personality.colour is not SeenColour.UNKNOWN]
    groups: dict[str, Counter[Colour]] = {}
    for p in seen:
        groups.setdefault(p.personality.pattern or "", Counter())[p.colour] += 1
    largest = sum(max(g.values()) for g in groups.values())
    return Labels(
        customers=len(people),
        labelled=len(seen),
        right=sum(p.personality.colour.value == p.colour.value for p in seen),
        ceiling=largest / len(seen) if seen else math.nan,
    )


@dataclass(frozen=True)
class Summary:
    policy: str
    seed: int
    events: int
    blocks: tuple[float, ...]  # matched share among treated decisions for labelled customers, per block
    matched: float  # the same over the whole run
    events_to_target: int | None  # from here on every block is >= TARGET; None: not reached
    treated_rate: float
    holdout_rate: float
    uplift: float  # treated - holdout engagement rate, per event
    interval: tuple[float, float]  # Newcombe's 95 % interval of the uplift
    regret: float  # mean per treated decision over the run
    late_regret: float  # ... over the last half


def _share(flags: Bools) -> float:
    return float(flags.mean()) if flags.size else math.nan


def summarise(trace: Trace, seed: int, *, block: int, target: float = TARGET) -> Summary:
    """The report of one run; blocks of `block` events from the first decision."""
    n = trace.holdout.size
    counted = ~trace.holdout & trace.labelled
    blocks = tuple(_share(trace.matched[s : s + block][counted[s : s + block]]) for s in range(0, n, block))
    reached: int | None = None
    for b in range(len(blocks) - 1, -1, -1):
        if not blocks[b] >= target:  # nan counts as not reached
            break
        reached = b * block
    treated = ~trace.holdout
    te, tn = int(trace.engaged[treated].sum()), int(treated.sum())
    he, hn = int(trace.engaged[trace.holdout].sum()), int(trace.holdout.sum())
    if tn and hn:
        d = stratified_difference([te], [tn], [he], [hn])
        interval = (float(d.low), float(d.high))
    else:
        interval = (math.nan, math.nan)
    late = treated.copy()
    late[: n // 2] = False
    return Summary(
        policy=trace.policy,
        seed=seed,
        events=n,
        blocks=blocks,
        matched=_share(trace.matched[counted]),
        events_to_target=reached,
        treated_rate=te / tn if tn else math.nan,
        holdout_rate=he / hn if hn else math.nan,
        uplift=(te / tn - he / hn) if tn and hn else math.nan,
        interval=interval,
        regret=float(trace.regret[treated].mean()) if tn else math.nan,
        late_regret=float(trace.regret[late].mean()) if late.any() else math.nan,
    )


@dataclass(frozen=True)
class Report:
    labels: tuple[Labels, ...]  # per seed
    summaries: tuple[Summary, ...]  # per seed and policy
    block: int
    seeds: tuple[int, ...]

    def lines(self) -> list[str]:
        out = []
        for seed, lab in zip(self.seeds, self.labels, strict=True):
            out.append(
                f"seed {seed}: {lab.labelled} of {lab.customers} customers labelled, {lab.wrong_share:.1%} of them "
                f"in the wrong quadrant; the best per-pattern tone can match at most {lab.ceiling:.3f}"
            )
        for s in self.summaries:
            reached = f"{s.events_to_target}" if s.events_to_target is not None else f"not reached within {s.events}"
            out.append(
                f"seed {s.seed} {s.policy:>14}: matched {s.matched:.3f}, blocks of {self.block} "
                f"[{' '.join(f'{b:.2f}' for b in s.blocks)}], >= {TARGET:.0%} from {reached}; "
                f"uplift {s.uplift:+.4f} [{s.interval[0]:+.4f}, {s.interval[1]:+.4f}] "
                f"({s.treated_rate:.4f} vs {s.holdout_rate:.4f}); regret {s.regret:.5f}, last half {s.late_regret:.5f}"
            )
        for policy in dict.fromkeys(s.policy for s in self.summaries):
            mine = [s for s in self.summaries if s.policy == policy]
            out.append(
                f"mean {policy:>14}: matched {np.mean([s.matched for s in mine]):.3f}, "
                f"uplift {np.mean([s.uplift for s in mine]):+.4f}, regret {np.mean([s.regret for s in mine]):.5f}, "
                f"last half {np.mean([s.late_regret for s in mine]):.5f}, "
                f">= {TARGET:.0%} reached in {sum(s.events_to_target is not None for s in mine)} of {len(mine)}"
            )
        return out


def report(
    seeds: int,
    events: int,
    *,
    customers: int = 2000,
    block: int = 10_000,
    response: Response | None = None,
    policies: Sequence[Policy] = POLICIES,
    ipip_share: float = 0.2,
    colour_share: float = 0.4,
    holdout_share: float = 0.1,
    first_seed: int = 0,
) -> Report:
    """Every policy on the same customers and draws, for seeds first_seed .. first_seed + seeds - 1."""
    response = response or Response()
    all_labels, summaries = [], []
    for seed in range(first_seed, first_seed + seeds):
        people = population(
            customers,
            np.random.default_rng([seed, 0]),
            ipip_share=ipip_share,
            colour_share=colour_share,
            holdout_share=holdout_share,
        )
        all_labels.append(labels(people))
        for policy in policies:
            trace = run(people, policy, events=events, seed=seed, response=response)
            summaries.append(summarise(trace, seed, block=block))
    return Report(tuple(all_labels), tuple(summaries), block, tuple(range(first_seed, first_seed + seeds)))
