"""What the profile read API answers (pydantic models; how a customer is named is in `refs`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from metaconnect_common.schemas import Channel
from metaconnect_common.schemas.profiled import ChannelEngagement, ConsentState, Purpose
from metaconnect_common.schemas.profiled import Colour as RoutingColour
from metaconnect_profile.personality import Explanation
from metaconnect_profile.profiles.consent import Objection

# --- GET /v1/profiles/{ref} ------------------------------------------------------------------------------------

# A profile shows this many refused questionnaires so it stays small; the export has every one.
MAX_REFUSED_QUESTIONNAIRES: Final = 10


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConsentOut(_Out):
    purposes: dict[Purpose, ConsentState] = Field(description="The newest decision per purpose.")
    channels: dict[Channel, ConsentState] = Field(
        description="Marketing consent per channel as it counts now (general or channel-specific, newer wins)."
    )
    objection: Objection | None = Field(description="The newest objection (GDPR Art. 21), if any.")


class IdentifierOut(_Out):
    kind: str = Field(examples=["email"])
    value: str = Field(description="Masked; the export has it in full.", examples=["a***@example.com"])
    valid: bool = Field(description="False after a hard bounce or an uninstall.")
    since: datetime
    invalid_at: datetime | None


class Reachability(_Out):
    channels: list[Channel] = Field(description="Channels with a valid address or token (in-app always).")
    identifiers: list[IdentifierOut]


class RoutingPersonality(_Out):
    """All routing sees of the personality: `unknown` without profiling consent or evidence."""

    colour: RoutingColour
    secondary: RoutingColour
    pattern: str = Field(description="The named colour pattern, `unknown` with too little evidence or no consent.")
    probability: float
    as_of: datetime | None = Field(description="When the estimate was computed; null when unknown.")


class RefusedQuestionnaire(_Out):
    """A questionnaire the profile refused: which form, the rules it broke, and when; never an answer."""

    event_id: uuid.UUID = Field(description="The `questionnaire.submitted` interaction (see the timeline).")
    instrument: str | None = Field(description="The instrument it named; null when it named none.")
    rules: list[str] = Field(
        description=(
            "Every rule it broke, once each: `consent_required` (no `profiling_questionnaire` consent at submission), "
            "or what was wrong with the submission (`required`, `enum`, `missing_item`, `rating_range`, ...)."
        ),
        examples=[["consent_required"]],
    )
    submitted_at: datetime = Field(description="When the customer submitted it: consent counts from its own time.")
    refused_at: datetime = Field(description="When the profile service refused it.")


class ProfileOut(_Out):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0b9f5a8e-3f0c-4f43-9a55-4a4a3a0ab001",
                    "lifecycle_stage": "customer",
                    "locale": "de-DE",
                    "time_zone": "Europe/Berlin",
                    "consent": {
                        "purposes": {"marketing": {"granted": True, "at": "2025-06-01T12:00:00Z", "source": "key_app"}},
                        "channels": {"email": {"granted": True, "at": "2025-06-01T12:00:00Z", "source": "key_app"}},
                        "objection": None,
                    },
                    "reachability": {
                        "channels": ["in_app", "email", "sms", "whatsapp"],
                        "identifiers": [
                            {
                                "kind": "email",
                                "value": "a***@example.com",
                                "valid": True,
                                "since": "2025-06-01T12:00:00Z",
                                "invalid_at": None,
                            },
                            {
                                "kind": "phone",
                                "value": "+49******678",
                                "valid": True,
                                "since": "2025-06-01T12:00:00Z",
                                "invalid_at": None,
                            },
                        ],
                    },
                    "engagement": {"email": {"sent": 3.0, "delivered": 2.9, "opened": 1.4, "clicked": 0.5}},
                    "active_hours": [*([0.0] * 18), 1.9, 0.8, 0.0, 0.0, 0.0, 0.0],
                    "personality": {
                        "colour": "yellow",
                        "secondary": "green",
                        "pattern": "strong-yellow-green",
                        "probability": 0.72,
                        "as_of": "2025-06-01T12:00:00Z",
                    },
                    "holdout": False,
                    "traits": {"plan": "gold"},
                    "created_at": "2025-05-01T08:00:00Z",
                    "updated_at": "2025-06-01T12:00:00Z",
                    "merged_from": [],
                    "refused_questionnaires": [
                        {
                            "event_id": "6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e5",
                            "instrument": "colours24",
                            "rules": ["consent_required"],
                            "submitted_at": "2025-05-20T09:14:00Z",
                            "refused_at": "2025-05-20T09:14:01Z",
                        }
                    ],
                }
            ]
        }
    )

    id: uuid.UUID
    lifecycle_stage: str
    stage_entered_at: datetime | None = Field(description="When the customer entered its stage.")
    locale: str | None
    time_zone: str | None
    consent: ConsentOut
    reachability: Reachability
    engagement: dict[Channel, ChannelEngagement] = Field(description="Decayed receipt counts per channel, now.")
    active_hours: list[float] = Field(description="24 decayed counts by the customer's local hour.")
    personality: RoutingPersonality
    holdout: bool = Field(description="In the permanent non-personalised holdout.")
    traits: dict[str, JsonValue]
    created_at: datetime
    updated_at: datetime
    merged_from: list[uuid.UUID] = Field(description="Customers found to be this one and merged into it.")
    refused_questionnaires: list[RefusedQuestionnaire] = Field(
        description=(
            f"The newest refused questionnaires (at most {MAX_REFUSED_QUESTIONNAIRES}), newest first, "
            "so support can see why a colour stays unknown; the export lists every one with its messages."
        )
    )


# --- GET /v1/profiles/{ref}/personality ------------------------------------------------------------------------


class PersonalityOut(_Out):
    customer_id: uuid.UUID
    explanation: Explanation = Field(description="Every dimension with its uncertainty and the evidence behind it.")
    routing: RoutingPersonality = Field(description="What routing may use of this estimate, given consent.")
    profiling_consent: dict[Purpose, ConsentState] = Field(description="The profiling purposes' current decisions.")
    evidence_counts: dict[str, int] = Field(
        description="Stored evidence by source.", examples=[{"questionnaire": 1, "behaviour": 4}]
    )
    last_changed_at: datetime | None = Field(description="When the newest evidence counted was observed.")


# --- GET /v1/profiles/{ref}/timeline ---------------------------------------------------------------------------


class TimelineItem(_Out):
    event_id: uuid.UUID
    occurred_at: datetime
    received_at: datetime
    type: str = Field(examples=["message.opened"])
    channel: Channel
    source: str
    properties: dict[str, JsonValue]


class TimelinePage(_Out):
    items: list[TimelineItem] = Field(description="Newest first, by (occurred_at, event_id).")
    next_before: str | None = Field(description="Pass as `before` for the next (older) page; null at the end.")


# --- GET /v1/profiles ------------------------------------------------------------------------------------------


class ReachableChannel(StrEnum):
    """The channels a customer can be reached on (`identity.keys.reachable_channels`)."""

    IN_APP = Channel.IN_APP.value
    PUSH = Channel.PUSH.value
    SMS = Channel.SMS.value
    WHATSAPP = Channel.WHATSAPP.value
    EMAIL = Channel.EMAIL.value


class ProfileSummary(_Out):
    id: uuid.UUID
    lifecycle_stage: str
    locale: str | None
    time_zone: str | None
    colour: RoutingColour = Field(description="The colour routing sees (unknown without profiling consent).")
    reachable: list[Channel]
    holdout: bool
    created_at: datetime
    updated_at: datetime


class ProfilePage(_Out):
    items: list[ProfileSummary] = Field(description="Newest customers first, by (created_at, id).")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at the end.")


class StageChangeOut(_Out):
    """One move in a customer's stage history."""

    from_stage: str | None = Field(description="None for the customer's first stage.")
    to_stage: str
    changed_at: datetime = Field(description="The time of the event that moved the customer.")
    event_type: str = Field(description="`lifecycle.moved`, a stage rule's event, or `lifecycle.migrated`.")
    lifecycle_version: int
    time_in_previous_s: float | None = Field(
        description="Seconds spent in `from_stage` (since the entry before this one); null for the first."
    )


# --- GET /v1/profiles/{ref}/export -----------------------------------------------------------------------------


class ExportedCustomer(_Out):
    """A customers row as stored (the survivor, or one merged into it)."""

    id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    merged_into: uuid.UUID | None
    lifecycle_stage: str
    stage_entered_at: datetime | None
    locale: str | None
    time_zone: str | None
    holdout: bool
    traits: dict[str, JsonValue]
    consent: dict[str, JsonValue]
    engagement: dict[str, JsonValue]
    active_hours: list[JsonValue]
    personality: dict[str, JsonValue]


class ExportedIdentity(_Out):
    kind: str
    value: str
    created_at: datetime
    invalid_at: datetime | None
    invalid_reason: str | None


class ExportedEvidence(_Out):
    event_id: uuid.UUID
    kind: str
    observed_at: datetime
    payload: dict[str, JsonValue] = Field(description="The scored evidence the estimate uses.")
    answers: JsonValue = Field(description="The raw questionnaire answers as submitted (questionnaires only).")


class ExportedRejection(_Out):
    event_id: uuid.UUID
    instrument: str
    problems: list[JsonValue]
    rejected_at: datetime


class ExportedMerge(_Out):
    survivor_id: uuid.UUID
    merged_id: uuid.UUID
    event_id: uuid.UUID
    merged_at: datetime


class ProfileExport(_Out):
    """Everything the profile service holds about one customer (GDPR Art. 15 and 20)."""

    exported_at: datetime
    customer: ExportedCustomer
    merged_customers: list[ExportedCustomer] = Field(description="Rows of customers merged into this one.")
    identities: list[ExportedIdentity] = Field(description="In full, unmasked.")
    timeline: list[TimelineItem] = Field(description="Every interaction, oldest first.")
    personality_evidence: list[ExportedEvidence]
    personality: Explanation = Field(description="The estimate computed from that evidence, explained.")
    rejections: list[ExportedRejection]
    merges: list[ExportedMerge]
    stage_changes: list[StageChangeOut] = Field(description="The stage history, oldest first.")
    processed_event_ids: list[uuid.UUID] = Field(description="Every event applied to this customer.")
