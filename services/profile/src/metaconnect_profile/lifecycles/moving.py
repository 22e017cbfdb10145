"""Which stage an interaction moves a customer into (pure): the rules `state.apply` uses.

* `lifecycle.moved` `{"stage": name}` names the stage; forward always, back only into an
  `allow_back` stage; the stage the customer is in already is no move; anything else a `Refusal`.
* Any other event: of the stages one of whose `enter_on` rules matches it (pattern, and condition
  over the event and the profile before the move), the furthest the customer may enter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from metaconnect_common.schemas import Interaction
from metaconnect_profile.lifecycles.spec import Lifecycle
from metaconnect_profile.profiles.consent import effective_channel_consent

if TYPE_CHECKING:
    from metaconnect_profile.profiles.state import ProfileState


@dataclass(frozen=True)
class Refusal:
    """Why a `lifecycle.moved` moves nobody (field `properties.stage`)."""

    rule: str
    message: str


def explicit_target(lifecycle: Lifecycle, current: str, stage: object) -> str | Refusal | None:
    """`lifecycle.moved`: the stage named, None when the customer is in it already, or why not."""
    if stage is None:
        return Refusal("required", "stage is required")
    if not isinstance(stage, str):
        return Refusal("type", "stage must be a string")
    if stage not in lifecycle.stages:
        return Refusal("enum", f"stage must be one of {list(lifecycle.stages)}")
    if stage == current:
        return None
    if not lifecycle.may_enter(current, stage):
        return Refusal("backward_not_allowed", f"stage {stage} lies before {current} and does not allow moving back")
    return stage


def rule_target(lifecycle: Lifecycle, state: ProfileState, interaction: Interaction, now: datetime) -> str | None:
    """The stage the interaction's type (and the conditions) move the customer into, if any."""
    if not lifecycle.rules:
        return None
    event: Mapping[str, Any] = {}
    profile: Mapping[str, Any] = {}
    if lifecycle.needs_documents(interaction.type):
        event, profile = interaction.model_dump(mode="json"), condition_profile(state)
    return lifecycle.target(state.lifecycle_stage, interaction.type, event, profile, now)


def condition_profile(state: ProfileState) -> dict[str, Any]:
    """The profile fields a lifecycle condition reads, shaped as the snapshot carries them (no
    addresses: `profile.reachable` is absent here, so `exists(profile.reachable)` fails)."""
    channels = effective_channel_consent(state.consent)
    return {
        "lifecycle_stage": state.lifecycle_stage,
        "stage_entered_at": state.stage_entered_at.isoformat() if state.stage_entered_at else None,
        "locale": state.locale,
        "time_zone": state.time_zone,
        "traits": dict(state.traits),
        "purposes": {str(p): c.model_dump(mode="json") for p, c in state.consent.purposes.items()},
        "channel_consent": {str(ch): c.model_dump(mode="json") for ch, c in channels.items()},
    }
