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
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import numpy as np

from metaconnect_common.schemas import Channel, Interaction
from metaconnect_common.schemas.profiled import ProfileSnapshot
from metaconnect_router.decisions.channels import ChannelChoice, choose_channel
from metaconnect_router.decisions.eligibility import Eligibility, SendHistory, Verdict, eligibility, local_now
from metaconnect_router.decisions.ranking import Arm, Option, Posterior, Ranked, arm_for, rank
from metaconnect_router.routes.conditions import Condition
from metaconnect_router.routes.spec import Message, RouteSpec, Tone, event_type_matches


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


def matching(
    routes: Sequence[ActiveRoute], event: Interaction, profile: ProfileSnapshot, now: datetime
) -> list[ActiveRoute]:
    """The routes whose trigger names this event type and whose condition holds."""
    kinds = [r for r in routes if any(event_type_matches(p, event.type) for p in r.spec.trigger.event_types)]
    if not any(r.condition for r in kinds):
        return kinds
    event_doc = event.model_dump(mode="json")
    profile_doc = profile.model_dump(mode="json")
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
) -> Decision:
    pattern = profile.personality.pattern or "unknown"
    matched = matching(routes, event, profile, now)
    explanation: dict[str, Any] = {
        "event_type": event.type,
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
    eligible = [c for c in candidates if c.eligibility.verdict is not Verdict.DROP]
    if not eligible:
        return Decision(Outcome.DROPPED, None, profile.holdout, pattern, explanation)

    local_hour = local_now(profile, eligible[0].route.spec.policy, now).hour
    holdout = profile.holdout or any(
        in_route_holdout(customer_id, c.route.name, c.route.spec.policy.holdout_share) for c in eligible
    )
    planned = {
        id(c): choose_channel(
            c.eligibility.channels, profile, c.route.spec.policy, local_hour=local_hour, holdout=holdout
        )
        for c in eligible
    }
    options: list[tuple[Option, Candidate, Tone]] = []
    for c in eligible:
        tones = [Tone.NEUTRAL] if holdout else list(c.message.variants)
        channel = planned[id(c)].channel
        for tone in tones:
            key = f"{c.route.name}/{c.message.id}/{tone.value}"
            options.append((Option(key, arm_for(profile.personality, tone, channel), c.message.priority), c, tone))
    if holdout:
        # Priority alone, the earlier route and message first on ties: nothing personal, nothing learned.
        best = max(range(len(options)), key=lambda i: (options[i][0].priority, -i))
        option, candidate, tone = options[best]
        ranked = Ranked(option, ((option.key, 1.0),), 1.0, False, ((option.key, 1.0),))
    else:
        ranked = rank([o for o, _, _ in options], posteriors, rng)
        option, candidate, tone = next(entry for entry in options if entry[0].key == ranked.chosen.key)
    channel_choice = planned[id(candidate)]
    explanation.update(
        holdout=holdout,
        options=[{"key": k, "score": round(s, 6)} for k, s in ranked.scores],
        propensities=[{"key": k, "p": round(p, 6)} for k, p in ranked.propensities],
        chosen={
            "route": candidate.route.name,
            "version": candidate.route.version,
            "message": candidate.message.id,
            "tone": tone.value,
            "explored": ranked.explored,
            "propensity": round(ranked.propensity, 6),
        },
        channel={
            "chosen": channel_choice.channel.value,
            "reason": channel_choice.reason,
            "ranked": [{"channel": c.value, "score": round(s, 6)} for c, s in channel_choice.ranked],
        },
    )
    choice = Choice(
        route=candidate.route,
        message=candidate.message,
        tone=tone,
        channels=tuple(c for c, _ in channel_choice.ranked),
        channel_choice=channel_choice,
        not_before=candidate.eligibility.not_before if candidate.eligibility.verdict is Verdict.DEFER else None,
        arm=option.arm,
        propensity=ranked.propensity,
        explored=ranked.explored,
    )
    return Decision(Outcome.CHOSEN, choice, holdout, pattern, explanation)
