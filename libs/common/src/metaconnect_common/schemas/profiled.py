"""`mc.profiled.v1`: an interaction with the profile snapshot the router needs.

Keyed by the canonical customer id (the profile's id), so one customer's records stay
ordered from here on whatever identifier the channel app used.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from metaconnect_common.schemas.interaction import Channel, Interaction

MAX_PUSH_TOKENS: Final = 10


class Purpose(StrEnum):
    """What a consent covers. Profiling by questionnaire and by behaviour are separate."""

    MARKETING = "marketing"
    PROFILING_QUESTIONNAIRE = "profiling_questionnaire"
    PROFILING_BEHAVIOUR = "profiling_behaviour"


class Colour(StrEnum):
    RED = "red"
    YELLOW = "yellow"
    GREEN = "green"
    BLUE = "blue"
    UNKNOWN = "unknown"


class ConsentState(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    granted: bool
    at: AwareDatetime
    source: str


class ChannelEngagement(BaseModel):
    """Time-decayed counts (half-life in the profile service's settings)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sent: float = 0.0
    delivered: float = 0.0
    opened: float = 0.0
    clicked: float = 0.0
    replied: float = 0.0
    dismissed: float = 0.0
    failed: float = 0.0
    bounced: float = 0.0


class PersonalitySnapshot(BaseModel):
    """What routing may know of the personality estimate: tone, never emotional stability."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    colour: Colour = Colour.UNKNOWN
    secondary: Colour = Colour.UNKNOWN
    pattern: str | None = None
    probability: float = Field(default=0.0, ge=0.0, le=1.0)


class Contact(BaseModel):
    """The customer's valid addresses: what the delivery service sends to.

    Personal data: it travels to the router and the delivery service only to send, and never
    appears in logs, spans, decision explanations or API responses."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: str | None = None
    phone: str | None = Field(default=None, description="E.164; SMS and WhatsApp.")
    push_tokens: list[str] = Field(default_factory=list, max_length=MAX_PUSH_TOKENS, description="Device tokens.")

    def __repr__(self) -> str:  # an accidental log line shows no address
        return f"Contact(email={self.email is not None}, phone={self.phone is not None}, push={len(self.push_tokens)})"

    __str__ = __repr__


class ProfileSnapshot(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lifecycle_stage: str = Field(description="The customer's stage in the lifecycle (`GET /v1/lifecycle`).")
    stage_entered_at: AwareDatetime | None = Field(
        default=None, description="When the customer entered that stage (their first event's time for the first)."
    )
    locale: str | None = None
    time_zone: str | None = None
    purposes: dict[Purpose, ConsentState] = Field(default_factory=dict)
    channel_consent: dict[Channel, ConsentState] = Field(
        default_factory=dict,
        description="Effective marketing consent per channel (general or channel-specific, newer wins).",
    )
    reachable: list[Channel] = Field(default_factory=list, description="Channels with a valid address/token.")
    contact: Contact = Field(default_factory=Contact, description="The valid addresses behind `reachable`.")
    identities: list[str] = Field(
        default_factory=list,
        description="The customer's valid identifiers as canonical refs (`cid:`, `email:`, `phone:`, "
        "`ext:<system>:`; never `device:`, push tokens stay in `contact`), plus `id:<uuid>` for every "
        "customer merged into this one. Lets other services resolve a ref to `customer_id`.",
    )
    engagement: dict[Channel, ChannelEngagement] = Field(default_factory=dict)
    active_hours: list[float] = Field(
        default_factory=lambda: [0.0] * 24, min_length=24, max_length=24, description="Local hour histogram."
    )
    personality: PersonalitySnapshot = Field(default_factory=PersonalitySnapshot)
    holdout: bool = False
    traits: dict[str, Any] = Field(default_factory=dict, description="Custom traits for route conditions.")


class ProfileUnreadable(Exception):
    """A profile (`GET /v1/profiles/{ref}`) of another shape than `snapshot_of` reads."""


_PERSONALITY_FIELDS: Final = ("colour", "secondary", "pattern", "probability")


def snapshot_of(profile: Mapping[str, Any]) -> ProfileSnapshot:
    """The snapshot the router would get for a profile as the profile read API answers it
    (`ProfileOut`: the same state, decayed to now), without contact addresses or identities:
    deciding never needs them. Used to simulate a decision for a real customer (the CLI's
    `metaconnect simulate`, the console's route pages). Raises `ProfileUnreadable`."""
    try:
        consent, personality = profile["consent"], profile["personality"]
        return ProfileSnapshot.model_validate(
            {
                "lifecycle_stage": profile["lifecycle_stage"],
                "stage_entered_at": profile.get("stage_entered_at"),
                "locale": profile["locale"],
                "time_zone": profile["time_zone"],
                "purposes": consent["purposes"],
                "channel_consent": consent["channels"],
                "reachable": profile["reachability"]["channels"],
                "engagement": profile["engagement"],
                "active_hours": profile["active_hours"],
                "personality": {
                    **{k: personality[k] for k in _PERSONALITY_FIELDS},
                    # The profile API names an unknown pattern; the snapshot carries none.
                    "pattern": None if personality["pattern"] == "unknown" else personality["pattern"],
                },
                "holdout": profile["holdout"],
                "traits": profile["traits"],
            }
        )
    except (KeyError, TypeError, ValidationError) as exc:
        raise ProfileUnreadable(f"the profile service answered a profile of another shape: {exc}") from None


class StageChange(BaseModel):
    """The lifecycle stage this record's interaction moved the customer into (journeys enter on it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_stage: str | None = Field(description="None for a new customer's first stage.")
    to_stage: str
    backward: bool = Field(default=False, description="An earlier stage than the one left.")


class Profiled(BaseModel):
    """The record on `mc.profiled.v1`. `kind` says what happened to the customer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    id: UUID = Field(description="Stable per source interaction: a re-publish keeps it, so consumers dedupe.")
    kind: Literal["interaction", "erased"] = "interaction"
    customer_id: UUID
    merged_from: list[UUID] = Field(default_factory=list, description="Customers merged into this one by this event.")
    interaction: Interaction | None = None
    profile: ProfileSnapshot | None = None
    stage_change: StageChange | None = Field(default=None, description="Set when the interaction moved the stage.")
    profiled_at: datetime

    def kafka_key(self) -> bytes:
        return str(self.customer_id).encode()
