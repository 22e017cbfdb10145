"""What the profile read API answers, and how a customer is named in its paths (pure).

A `ref` is the profile id (a UUID) or one identifier written `kind:value`:
`cid:c-1042`, `email:ada@example.com`, `phone:+4915112345678`, `device:<token>`,
`ext:<system>:<value>` (e.g. `ext:crm:C-7`). The value is normalised exactly as ingest
normalises a `CustomerRef` (e-mail lower-cased, phone in E.164), so whatever spelling a
channel app used finds the same customer.

Identifiers are shown masked in the read API (`a***@example.com`, `+49******678`): an
operator recognises them without holding the address. The export (admin) has them in full.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from metaconnect_common.errors import ApiError, FieldError, field_errors
from metaconnect_common.schemas import Channel, CustomerRef
from metaconnect_common.schemas.profiled import ChannelEngagement, ConsentState, Purpose
from metaconnect_common.schemas.profiled import Colour as RoutingColour
from metaconnect_profile.identity.keys import identifiers
from metaconnect_profile.personality import Explanation
from metaconnect_profile.profiles.consent import Objection

REF_KINDS: Final = ("cid", "email", "phone", "device", "ext")
_REF_FIELD: Final = {"cid": "customer_id", "email": "email", "phone": "phone", "device": "device_token"}


# --- naming a customer -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileId:
    """The profile's own id (a merged customer's id still names its survivor)."""

    id: uuid.UUID


@dataclass(frozen=True)
class Identifier:
    """One identifier, normalised: `kind` is `cid`, `email`, `phone`, `device` or `ext:<system>`."""

    kind: str
    value: str


CustomerLookup = ProfileId | Identifier


def invalid(field: str, rule: str, message: str) -> ApiError:
    """A 422 in the shared shape naming one field and the rule it broke."""
    return ApiError(422, "validation_failed", message, errors=[FieldError(field=field, rule=rule, message=message)])


def parse_ref(ref: str, *, field: str = "path.ref") -> CustomerLookup:
    """What a path's `ref` names; raises a 422 `ApiError` for anything else (the value is never echoed)."""
    try:
        return ProfileId(uuid.UUID(ref))
    except ValueError:
        pass
    kind, sep, value = ref.partition(":")
    if not sep or kind not in REF_KINDS:
        raise invalid(field, "customer_ref", f"a profile id (UUID) or kind:value with kind one of {list(REF_KINDS)}")
    fields: dict[str, Any]
    if kind == "ext":
        system, sep, value = value.partition(":")
        if not sep:
            raise invalid(field, "customer_ref", "an external id is written ext:<system>:<value>")
        fields = {"external_ids": {system: value}}
    else:
        fields = {_REF_FIELD[kind]: value}
    try:
        parsed = CustomerRef.model_validate(fields)
    except ValidationError as exc:
        errors = [e.model_copy(update={"field": field}) for e in field_errors(exc.errors())]
        raise ApiError(422, "validation_failed", f"not a valid {kind} identifier", errors=errors) from None
    [(normalised_kind, normalised)] = identifiers(parsed)
    return Identifier(normalised_kind, normalised)


def mask(kind: str, value: str) -> str:
    """An identifier as the read API shows it: enough to recognise, too little to contact.

    A Metaconnect id (`mc`) reaches no one and is shown as it is."""
    if kind == "mc":
        return value
    if kind == "email":
        local, _, domain = value.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if kind == "phone":
        return f"{value[:3]}******{value[-3:]}" if len(value) >= 8 else f"{value[:3]}******"
    if len(value) <= 6:
        return f"{value[:1]}***"
    return f"{value[:2]}***{value[-2:]}"


# --- keyset cursors --------------------------------------------------------------------------------------------


def encode_cursor(at: datetime, key: uuid.UUID) -> str:
    """An opaque position after the row `(at, key)` in a newest-first listing."""
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{key}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, field: str) -> tuple[datetime, uuid.UUID]:
    """The position a cursor from `encode_cursor` names; a 422 for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, key = raw.split("|")
        position = datetime.fromisoformat(at), uuid.UUID(key)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid(field, "cursor", "not a cursor this API returned") from None
    if position[0].tzinfo is None:
        raise invalid(field, "cursor", "not a cursor this API returned")
    return position


def decode_before(before: str, *, field: str = "query.before") -> tuple[datetime, uuid.UUID]:
    """`before` is a cursor (`next_before`) or an RFC 3339 time with offset (`Z` or `%2B01:00`)."""
    try:
        at = datetime.fromisoformat(before)
    except ValueError:
        return decode_cursor(before, field=field)
    if at.tzinfo is None:
        raise invalid(field, "timezone_aware", "a time needs an offset, e.g. 2025-06-01T12:00:00Z")
    return at, uuid.UUID(int=0)  # everything strictly before `at`


# --- GET /v1/profiles/{ref} ------------------------------------------------------------------------------------


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
    pattern: str | None
    probability: float
    as_of: datetime | None = Field(description="When the estimate was computed; null when unknown.")


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
                }
            ]
        }
    )

    id: uuid.UUID
    lifecycle_stage: str
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


# --- GET /v1/profiles/{ref}/export -----------------------------------------------------------------------------


class ExportedCustomer(_Out):
    """A customers row as stored (the survivor, or one merged into it)."""

    id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    merged_into: uuid.UUID | None
    lifecycle_stage: str
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
    processed_event_ids: list[uuid.UUID] = Field(description="Every event applied to this customer.")
