"""The decision for one profiled event (pure: the caller loads the inputs and stores the result).

matching active routes -> candidate messages -> eligibility -> ranking of (message, tone)
by priority x sampled engagement of its (personality pattern, tone, channel) arm -> the
channel order for the chosen one. Holdout customers get the neutral tone and the policy's
first channel, chosen by priority alone, so the uplift of personalisation can be measured.
Every step leaves its trace in `Decision.explanation` (no personal data: ids, codes, scores).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cached_property, lru_cache
from typing import Any, Final
from uuid import UUID

import numpy as np

from metaconnect_common.conditions import Condition
from metaconnect_common.schemas import Channel, Interaction
from metaconnect_common.schemas.profiled import ProfileSnapshot
from metaconnect_router.channels import ChannelChoice, choose_channel, local_now
from metaconnect_router.decisions.eligibility import (
    Eligibility,
    EligibilityVerdict,
    SendHistory,
    eligibility,
)
from metaconnect_router.decisions.ranking import (
    FLOOR_SHARE,
    UNKNOWN_PATTERN,
    Arm,
    Option,
    Posterior,
    Ranked,
    TonePrior,
    rank,
)
from metaconnect_router.routes.spec import Category, Message, RouteSpec, Tone, event_type_matches

DEFAULT_TONE_PRIOR: Final = TonePrior()
RULES: Final = {
    "prior": "the tone written for the customer's colour: no receipts yet, the personality prior decided",
    "greedy": "the best expected engagement (posterior mean) for the customer's personality pattern",
    "thompson": "explored: the highest draw from the engagement posteriors (Thompson sampling)",
    "uniform": "explored: picked at random, so every option keeps a chance (off-policy evaluation)",
    "holdout": "holdout: the neutral tone by priority alone, nothing personalised",
}
"""What each ranking rule means, as explanations state it."""


class Outcome(StrEnum):
    NO_MATCH = "no_match"  # no active route wants this event
    DROPPED = "dropped"  # routes matched, no message may go
    CHOSEN = "chosen"  # a message, its tone and channels were chosen


@dataclass(frozen=True)
class ActiveRoute:
    name: str
    version: int
    spec: RouteSpec
    condition: Condition | None
    # Worked out once per route version: the caller keeps its ActiveRoute while the version is active.
    _options: dict[tuple[str, str, Channel, bool], tuple[tuple[Option, Tone], ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @cached_property
    def reads(self) -> tuple[frozenset[str], frozenset[str]]:
        """The top-level event and profile fields the condition reads."""
        paths = [path.split(".") for path in self.condition.fields()] if self.condition else []
        return (
            frozenset(keys[1] for keys in paths if keys[0] == "event"),
            frozenset(keys[1] for keys in paths if keys[0] == "profile"),
        )

    def options(
        self, message: Message, pattern: str, channel: Channel, holdout: bool
    ) -> tuple[tuple[Option, Tone], ...]:
        """`message`'s options (key route/message/tone) for a customer of `pattern` on `channel`,
        in variant order; holdout customers get the neutral one only."""
        memo = (message.id, pattern, channel, holdout)
        found = self._options.get(memo)
        if found is None:
            tones = (Tone.NEUTRAL,) if holdout else tuple(message.variants)
            found = tuple(
                (Option(f"{self.name}/{message.id}/{tone.value}", Arm(pattern, tone, channel), message.priority), tone)
                for tone in tones
            )
            if len(self._options) >= _MAX_MEMO:  # patterns come from a small vocabulary; this is a backstop
                self._options.clear()
            self._options[memo] = found
        return found


_MAX_MEMO: Final = 4096


@dataclass(frozen=True)
class Candidate:
    route: ActiveRoute
    message: Message
    eligibility: Eligibility


@dataclass(frozen=True)
class Choice:
    route: ActiveRoute
    message: Message
    tone: Tone
    channels: tuple[Channel, ...]  # the chosen channel first, then the fail-over order
    channel_choice: ChannelChoice
    not_before: datetime | None  # a deferred item waits in the bundle until then
    arm: Arm
    propensity: float
    explored: bool


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    choice: Choice | None
    holdout: bool
    pattern: str
    explanation: dict[str, Any]


def in_route_holdout(customer_id: UUID, route: str, share: float) -> bool:
    """The route's own randomised holdout: sha256 of (route, customer) -> [0, 1) < share."""
    if share <= 0:
        return False
    digest = hashlib.sha256(f"metaconnect.route-holdout.v1:{route}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


@lru_cache(maxsize=4096)
def _type_matches(pattern: str, event_type: str) -> bool:
    return event_type_matches(pattern, event_type)


def matching(
    routes: Sequence[ActiveRoute], event: Interaction, profile: ProfileSnapshot, now: datetime
) -> list[ActiveRoute]:
    """The routes whose trigger names this event type and whose condition holds."""
    kinds = [r for r in routes if any(_type_matches(p, event.type) for p in r.spec.trigger.event_types)]
    conditional = [r for r in kinds if r.condition]
    if not conditional:
        return kinds
    # Only the fields the conditions read: dumping whole profiles costs more than evaluating.
    event_doc = event.model_dump(mode="json", include=set().union(*(r.reads[0] for r in conditional)))
    profile_doc = profile.model_dump(mode="json", include=set().union(*(r.reads[1] for r in conditional)))
    return [r for r in kinds if r.condition is None or r.condition.evaluate(event_doc, profile_doc, now)]


def decide(
    event: Interaction,
    profile: ProfileSnapshot,
    customer_id: UUID,
    routes: Sequence[ActiveRoute],
    *,
    posteriors: Mapping[Arm, Posterior],
    history: SendHistory,
    now: datetime,
    rng: np.random.Generator,
    erased: bool = False,
    tone_prior: TonePrior = DEFAULT_TONE_PRIOR,
    floor_share: float = FLOOR_SHARE,
) -> Decision:
    """`floor_share` is `rank`'s: the share of the exploration cap spread uniformly (for off-policy
    evaluation); simulations pass 0 with an exploration share of 1 to compare plain Thompson sampling."""
    matched = matching(routes, event, profile, now)
    return choose(
        matched,
        event,
        profile,
        customer_id,
        posteriors=posteriors,
        history=history,
        now=now,
        rng=rng,
        erased=erased,
        tone_prior=tone_prior,
        floor_share=floor_share,
    )


def choose(
    matched: Sequence[ActiveRoute],
    event: Interaction,
    profile: ProfileSnapshot,
    customer_id: UUID,
    *,
    posteriors: Mapping[Arm, Posterior],
    history: SendHistory,
    now: datetime,
    rng: np.random.Generator,
    erased: bool = False,
    tone_prior: TonePrior = DEFAULT_TONE_PRIOR,
    floor_share: float = FLOOR_SHARE,
    explained: Mapping[str, Any] | None = None,
) -> Decision:
    """The decision among routes that want this event (a journey's send step is one such route):
    eligibility, ranking, channel. `explained` opens the explanation (a journey names its step)."""
    pattern = profile.personality.pattern or UNKNOWN_PATTERN
    explanation: dict[str, Any] = {
        "event_type": event.type,
        **(explained or {}),
        "matched": [{"route": r.name, "version": r.version} for r in matched],
        "personality": {"pattern": pattern, "probability": round(profile.personality.probability, 4)},
    }
    if not matched:
        return Decision(Outcome.NO_MATCH, None, profile.holdout, pattern, explanation)
    candidates = [
        Candidate(
            route,
            message,
            eligibility(
                message,
                route.spec.policy,
                profile,
                event_time=event.occurred_at,
                now=now,
                history=history,
                erased=erased,
            ),
        )
        for route in matched
        for message in route.spec.messages
    ]
    explanation["candidates"] = [
        {
            "route": c.route.name,
            "message": c.message.id,
            "priority": c.message.priority,
            "verdict": c.eligibility.verdict.value,
            "reasons": [r.value for r in c.eligibility.reasons],
            "channels": [ch.value for ch in c.eligibility.channels],
        }
        for c in candidates
    ]
    eligible = [c for c in candidates if c.eligibility.verdict is not EligibilityVerdict.DROP]
    if not eligible:
        return Decision(Outcome.DROPPED, None, profile.holdout, pattern, explanation)

    local_hour = local_now(profile, eligible[0].route.spec.policy, now).hour
    holdout = profile.holdout or any(
        in_route_holdout(customer_id, c.route.name, c.route.spec.policy.holdout_share) for c in eligible
    )
    # Messages of one route usually share their channels: one channel choice serves them all.
    channel_choices: dict[tuple[int, tuple[Channel, ...], bool], ChannelChoice] = {}
    options: list[Option] = []
    priors: list[tuple[float, float]] = []
    entries: list[tuple[Candidate, Tone, ChannelChoice]] = []
    for c in eligible:
        policy = c.route.spec.policy
        transactional = c.message.category is Category.TRANSACTIONAL
        planned = channel_choices.get((id(policy), c.eligibility.channels, transactional))
        if planned is None:
            planned = choose_channel(
                c.eligibility.channels,
                profile,
                policy,
                local_hour=local_hour,
                holdout=holdout,
                transactional=transactional,
            )
            channel_choices[id(policy), c.eligibility.channels, transactional] = planned
        for option, tone in c.route.options(c.message, pattern, planned.channel, holdout):
            options.append(option)
            priors.append(tone_prior.of(profile.personality, tone))
            entries.append((c, tone, planned))
    if holdout:
        # Priority alone, the earlier route and message first on ties: nothing personal, nothing learned.
        best = max(range(len(options)), key=lambda i: (options[i].priority, -i))
        key = options[best].key
        ranked = Ranked(options[best], ((key, 1.0),), 1.0, False, ((key, 1.0),), rule="holdout")
    else:
        # Routes deciding together explore no more than the most careful of them allows.
        cap = min(c.route.spec.policy.exploration_share for c in eligible)
        ranked = rank(options, posteriors, rng, exploration_cap=cap, floor_share=floor_share, priors=priors)
        best = next(i for i, o in enumerate(options) if o is ranked.chosen)
    option = options[best]
    candidate, tone, channel_choice = entries[best]
    explanation.update(
        holdout=holdout,
        options=[{"key": k, "score": round(s, 6)} for k, s in ranked.scores],
        scored_by="draw" if ranked.rule == "thompson" else "posterior_mean",
        propensities=[{"key": k, "p": round(p, 6)} for k, p in ranked.propensities],
        chosen={
            "route": candidate.route.name,
            "version": candidate.route.version,
            "message": candidate.message.id,
            "tone": tone.value,
            "explored": ranked.explored,
            "rule": ranked.rule,
            "why": RULES[ranked.rule],
            "propensity": round(ranked.propensity, 6),
        },
        channel={
            "chosen": channel_choice.channel.value,
            "reason": channel_choice.reason,
            "inbox_copy": channel_choice.inbox_copy,
            "ranked": [{"channel": c.value, "score": round(s, 6)} for c, s in channel_choice.ranked],
        },
    )
    choice = Choice(
        route=candidate.route,
        message=candidate.message,
        tone=tone,
        channels=tuple(c for c, _ in channel_choice.ranked),
        channel_choice=channel_choice,
        not_before=candidate.eligibility.not_before
        if candidate.eligibility.verdict is EligibilityVerdict.DEFER
        else None,
        arm=option.arm,
        propensity=ranked.propensity,
        explored=ranked.explored,
    )
    return Decision(Outcome.CHOSEN, choice, holdout, pattern, explanation)
