"""Interaction builders and a policy for the profile state tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from metaconnect_common.schemas.interaction import Channel, CustomerRef, Interaction
from metaconnect_profile.lifecycles.spec import DEFAULT_LIFECYCLE, Lifecycle
from metaconnect_profile.profiles.state import Applied, ProfilePolicy, ProfileState, apply

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
HALF_LIFE = timedelta(days=30)
POLICY = ProfilePolicy(
    lifecycle=Lifecycle.compile(DEFAULT_LIFECYCLE, 0),  # lead, qualified, opportunity, customer, loyal
    engagement_half_life_days=30.0,
    holdout_share=0.05,
)
# A customer seen before: its entry into its first stage is recorded already.
EMPTY = ProfileState(lifecycle_stage="lead", stage_entered_at=T0 - timedelta(days=1))


def event(
    type_: str,
    properties: dict[str, Any] | None = None,
    *,
    at: datetime = T0,
    channel: Channel = Channel.WEB,
    source: str = "key_app",
    received_at: datetime | None = None,
) -> Interaction:
    return Interaction(
        event_id=uuid.uuid4(),
        customer=CustomerRef(customer_id="c-1"),
        type=type_,
        channel=channel,
        occurred_at=at,
        received_at=received_at or at,
        source=source,
        properties=properties or {},
    )


def run(state: ProfileState, *events: Interaction, now: datetime | None = None) -> Applied:
    """Apply `events` in order; the effects of the last one."""
    applied = Applied(state=state)
    for e in events:
        applied = apply(applied.state, e, now=now or max(e.received_at, T0), policy=POLICY)
    return applied


def consent(
    purpose: str, granted: bool, *, at: datetime = T0, channel: str | None = None, source: str = "key_app"
) -> Interaction:
    props: dict[str, Any] = {"purpose": purpose, "granted": granted}
    if channel is not None:
        props["channel"] = channel
    return event("consent.changed", props, at=at, source=source)


def objection(*, at: datetime = T0, source: str = "key_app") -> Interaction:
    return event("consent.changed", {"objection": True}, at=at, source=source)
