"""`mc.interactions.v1`: one customer interaction, as channel apps and receipts report it."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError, to_json

from metaconnect_common.identity import normalize_email, normalize_phone
from metaconnect_common.storable import suspect_serialized, unstorable

MAX_PROPERTIES_BYTES = 16 * 1024
MAX_PROPERTIES_DEPTH = 5
EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"


class Channel(StrEnum):
    """Where an interaction happened or a message goes."""

    PUSH = "push"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    EMAIL = "email"
    IN_APP = "in_app"
    WEB = "web"
    STORE = "store"
    CALL_CENTER = "call_center"
    CHAT = "chat"
    SOCIAL = "social"
    WEBHOOK = "webhook"


# Validation context for records on Metaconnect's topics, whose identifiers ingest normalised:
# `Interaction.model_validate_json(value, context=NORMALIZED)` takes an identifier already in
# its canonical spelling as it is (normalising costs 15-25 us each) and normalises any other.
NORMALIZED: Final = {"normalized": True}
_CANONICAL_EMAIL = re.compile(r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9-]+(\.[a-z0-9-]+)+$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def _email(value: str, info: ValidationInfo) -> str:
    if info.context and info.context.get("normalized") and _CANONICAL_EMAIL.match(value):
        return value
    return normalize_email(value)


def _phone(value: str, info: ValidationInfo) -> str:
    if info.context and info.context.get("normalized") and _E164.match(value):
        return value
    return normalize_phone(value)


Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=320), AfterValidator(_email)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=32), AfterValidator(_phone)]
ExternalSystem = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_\-]{0,63}$")]


class CustomerRef(BaseModel):
    """Who the interaction is about: a customer id and/or identifiers, at least one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: Identifier | None = None
    email: Email | None = None
    phone: Phone | None = None
    device_token: Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=4096)] | None = None
    external_ids: dict[ExternalSystem, Identifier] = Field(default_factory=dict, max_length=16)
    metaconnect_id: UUID | None = Field(
        default=None,
        description="The id Metaconnect gave the customer (`GET /v1/profiles`); receipts use it. "
        "Names a known customer only: it never creates one.",
    )

    @model_validator(mode="after")
    def _at_least_one(self) -> CustomerRef:
        if not (
            self.customer_id
            or self.email
            or self.phone
            or self.device_token
            or self.external_ids
            or self.metaconnect_id
        ):
            raise PydanticCustomError(
                "customer_reference",
                "name the customer: customer_id, email, phone, device_token, external_ids or metaconnect_id",
            )
        return self

    def key(self) -> str:
        """The partition key: the strongest identifier present, in a fixed order.

        The profile service resolves identifiers to one canonical customer and keys
        `mc.profiled.v1` by it; until then the strongest identifier keeps one
        reference's events ordered.
        """
        if self.metaconnect_id:
            return f"mc:{self.metaconnect_id}"
        if self.customer_id:
            return f"cid:{self.customer_id}"
        if self.email:
            return f"email:{self.email}"
        if self.phone:
            return f"phone:{self.phone}"
        if self.device_token:
            return f"device:{self.device_token}"
        system = min(self.external_ids)
        return f"ext:{system}:{self.external_ids[system]}"


def _depth(value: dict[str, Any] | list[Any]) -> int:
    """Levels of nested objects and arrays, `value` itself included (breadth first, no recursion)."""
    depth = 0
    level: list[Any] = [value]
    while level:
        depth += 1
        inner: list[Any] = []
        for container in level:
            for item in container.values() if isinstance(container, dict) else container:
                if isinstance(item, dict | list):
                    inner.append(item)
        level = inner
    return depth


def check_properties(value: dict[str, Any]) -> dict[str, Any]:
    """Bounded JSON object: at most MAX_PROPERTIES_DEPTH levels, MAX_PROPERTIES_BYTES as JSON."""
    depth = _depth(value)
    if depth > MAX_PROPERTIES_DEPTH:
        raise PydanticCustomError(
            "max_depth",
            "properties nest {depth} levels deep; at most {limit} allowed",
            {"depth": depth, "limit": MAX_PROPERTIES_DEPTH},
        )
    data = to_json(value, inf_nan_mode="constants")
    if suspect_serialized(data):
        # Ingest refuses these naming the exact field before any model sees them; this keeps
        # records built any other way from carrying what PostgreSQL cannot store.
        for error in unstorable(value, "properties"):
            raise PydanticCustomError(
                error.rule, "{field}: {message}", {"field": error.field, "message": error.message}
            )
    size = len(data)
    if size > MAX_PROPERTIES_BYTES:
        raise PydanticCustomError(
            "max_bytes",
            "properties take {size} bytes as JSON; at most {limit} allowed",
            {"size": size, "limit": MAX_PROPERTIES_BYTES},
        )
    return value


EventType = Annotated[str, StringConstraints(pattern=EVENT_TYPE_PATTERN, max_length=128)]

# RFC 3339: date, time with seconds, an optional fraction; the offset is checked by AwareDatetime
# (rule timezone_aware) so a missing one is named as such.
_RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})?$"
)


def _rfc3339(value: object) -> object:
    """Only an RFC 3339 string (or a datetime, from code): pydantic would also take unix times."""
    if isinstance(value, datetime) or (isinstance(value, str) and _RFC3339.match(value)):
        return value
    raise PydanticCustomError(
        "datetime_rfc3339", "must be an RFC 3339 date-time with an offset, e.g. 2026-11-23T09:15:00+01:00"
    )


PostedTime = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]


class InteractionFields(BaseModel):
    """What a channel app says about an interaction (the ingest request body)."""

    model_config = ConfigDict(extra="forbid")

    event_id: UUID | None = Field(
        default=None, description="Idempotency key; generated when absent. Retry with the same id."
    )
    customer: CustomerRef
    type: EventType = Field(description="Dotted event type, e.g. `app.opened`, `purchase.completed`.")
    channel: Channel
    occurred_at: PostedTime | None = Field(
        default=None,
        description="When it happened: an RFC 3339 string with an offset (no unix times); defaults to receipt time.",
    )
    properties: dict[str, Any] = Field(default_factory=dict)

    @field_validator("properties")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_properties(value)


class Interaction(BaseModel):
    """The record on `mc.interactions.v1`, keyed by `customer.key()`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    event_id: UUID
    customer: CustomerRef
    type: EventType
    channel: Channel
    occurred_at: AwareDatetime
    received_at: AwareDatetime
    source: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        description="Who reported it: an API key id, or a service for receipts."
    )
    properties: dict[str, Any] = Field(default_factory=dict)

    @field_validator("properties")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_properties(value)

    def kafka_key(self) -> bytes:
        return self.customer.key().encode()
