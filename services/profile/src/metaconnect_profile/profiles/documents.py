"""A profile's state as its `customers` row stores it and as `mc.profiled.v1` carries it (pure).

The row keeps the state's plain columns and JSON documents (`STATE_COLUMNS`) and, in
`personality`, the routing view cached when the estimate was last recomputed. The snapshot
is what the router needs, counts decayed to the time it is taken.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from metaconnect_common.schemas.interaction import Channel
from metaconnect_common.schemas.profiled import Colour as ProfiledColour
from metaconnect_common.schemas.profiled import Contact, PersonalitySnapshot, ProfileSnapshot
from metaconnect_profile.personality.views import RoutingView
from metaconnect_profile.profiles.consent import PROFILING, effective_channel_consent
from metaconnect_profile.profiles.engagement import EMPTY_HOURS, engagement_snapshot, hours_snapshot
from metaconnect_profile.profiles.state import ProfilePolicy, ProfileState

STATE_COLUMNS: Final = (
    "lifecycle_stage",
    "stage_entered_at",
    "locale",
    "time_zone",
    "holdout",
    "traits",
    "consent",
    "engagement",
    "active_hours",
    "app_seen_at",
)


def to_snapshot(
    state: ProfileState,
    *,
    reachable: list[Channel],
    personality: PersonalitySnapshot,
    now: datetime,
    policy: ProfilePolicy,
    contact: Contact | None = None,
    identities: list[str] | None = None,
) -> ProfileSnapshot:
    """What the router needs, counts decayed to `now`.

    `channel_consent` is the *effective* marketing consent per channel (`consent.marketing_consent`),
    so the router reads one state per channel. Without any profiling consent granted, the
    personality is `unknown` whatever the service passes.
    """
    profiling = any(s.granted for p, s in state.consent.purposes.items() if p in PROFILING)
    return ProfileSnapshot(
        lifecycle_stage=state.lifecycle_stage,
        stage_entered_at=state.stage_entered_at,
        locale=state.locale,
        time_zone=state.time_zone,
        purposes=dict(state.consent.purposes),
        channel_consent=effective_channel_consent(state.consent),
        reachable=list(reachable),
        contact=contact or Contact(),
        identities=list(identities or ()),
        engagement=engagement_snapshot(state.engagement, now, policy.half_life),
        active_hours=hours_snapshot(state.active_hours, now, policy.half_life),
        personality=personality if profiling else PersonalitySnapshot(),
        holdout=state.holdout,
        traits=dict(state.traits),
    )


def state_to_columns(state: ProfileState) -> dict[str, Any]:
    """The Customer row's columns (`STATE_COLUMNS`) as plain JSON-ready values."""
    dumped = state.model_dump(mode="json")
    return {column: dumped[column] for column in STATE_COLUMNS} | {
        "app_seen_at": state.app_seen_at,
        "stage_entered_at": state.stage_entered_at,
    }


def state_from_row(row: Mapping[str, Any]) -> ProfileState:
    """The state stored in a Customer row's `STATE_COLUMNS`; raises `ValueError` on a malformed document."""
    values = {column: row[column] for column in STATE_COLUMNS if column in row}
    if not values.get("active_hours"):  # a new row's default `[]`
        values["active_hours"] = list(EMPTY_HOURS)
    for column in ("traits", "consent", "engagement"):
        values[column] = values.get(column) or {}
    return ProfileState.model_validate(values)


def personality_to_column(view: RoutingView) -> dict[str, Any]:
    """The `personality` column: the routing view cached when the estimate was last recomputed."""
    return view.model_dump(mode="json")


def personality_from_column(document: Mapping[str, Any] | None) -> PersonalitySnapshot:
    """The snapshot's personality from the cached routing view; `unknown` for an empty column."""
    if not document:
        return PersonalitySnapshot()
    view = RoutingView.model_validate(document)
    return PersonalitySnapshot(
        colour=ProfiledColour(view.colour.value) if view.colour else ProfiledColour.UNKNOWN,
        secondary=ProfiledColour(view.secondary.value) if view.secondary else ProfiledColour.UNKNOWN,
        pattern=None if view.pattern == "unknown" else view.pattern,
        probability=view.probability or 0.0,
    )
