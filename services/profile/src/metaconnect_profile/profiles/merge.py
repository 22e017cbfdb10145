"""Combining the profiles of customers found to be one person (pure).

The survivor's own facts win (stage aside: the further one, with when it was entered);
everything counted is added up; every consent keeps its newest decision, so a withdrawal
given under either identity holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TypeVar

from metaconnect_profile.profiles.consent import ConsentLedger, supersedes
from metaconnect_profile.profiles.engagement import Decayed, value_at
from metaconnect_profile.profiles.state import ProfilePolicy, ProfileState

K = TypeVar("K")


def _stage(mine: ProfileState, theirs: ProfileState, rank: Mapping[str, int]) -> tuple[str, datetime | None]:
    """The further stage of the two (the survivor's on a tie), entered when its holder entered it
    (the earlier of the two when both are in it)."""
    if rank.get(theirs.lifecycle_stage, -1) > rank.get(mine.lifecycle_stage, -1):
        return theirs.lifecycle_stage, theirs.stage_entered_at
    if theirs.lifecycle_stage == mine.lifecycle_stage:
        times = [t for t in (mine.stage_entered_at, theirs.stage_entered_at) if t is not None]
        return mine.lifecycle_stage, min(times, default=None)
    return mine.lifecycle_stage, mine.stage_entered_at


def _sum(a: Decayed | None, b: Decayed | None, half_life: timedelta) -> Decayed | None:
    if a is None or b is None:
        return a or b
    at = max(a.at, b.at)
    return Decayed(value=value_at(a, at, half_life) + value_at(b, at, half_life), at=at)


def _newest(mine: Mapping[K, object], theirs: Mapping[K, object]) -> dict[K, object]:
    out = dict(mine)
    for key, state in theirs.items():
        if supersedes(state, out.get(key)):  # type: ignore[arg-type]
            out[key] = state
    return out


def _ledger(a: ConsentLedger, b: ConsentLedger) -> ConsentLedger:
    objections = [o for o in (a.objection, b.objection) if o is not None]
    return ConsentLedger.model_validate(
        {
            "purposes": _newest(a.purposes, b.purposes),
            "channels": _newest(a.channels, b.channels),
            "objection": max(objections, key=lambda o: o.at) if objections else None,
        }
    )


def merge_states(survivor: ProfileState, merged: Iterable[ProfileState], policy: ProfilePolicy) -> ProfileState:
    """The survivor's state with the merged customers' folded in."""
    rank = {stage: i for i, stage in enumerate(policy.stages)}
    half_life = policy.half_life
    state = survivor
    for other in merged:
        engagement = {c: dict(r) for c, r in state.engagement.items()}
        for channel, receipts in other.engagement.items():
            mine = engagement.setdefault(channel, {})
            for receipt, count in receipts.items():
                summed = _sum(mine.get(receipt), count, half_life)
                if summed is not None:
                    mine[receipt] = summed
        stage, entered = _stage(state, other, rank)
        state = state.model_copy(
            update={
                "lifecycle_stage": stage,
                "stage_entered_at": entered,
                "locale": state.locale or other.locale,
                "time_zone": state.time_zone or other.time_zone,
                "app_seen_at": max((t for t in (state.app_seen_at, other.app_seen_at) if t is not None), default=None),
                "traits": {**other.traits, **state.traits},
                "consent": _ledger(state.consent, other.consent),
                "engagement": engagement,
                "active_hours": tuple(
                    _sum(a, b, half_life) for a, b in zip(state.active_hours, other.active_hours, strict=True)
                ),
            }
        )
    return state
