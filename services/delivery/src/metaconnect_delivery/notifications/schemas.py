"""What the notifications API takes and answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from metaconnect_common.identity import normalize_email

MAX_RECIPIENTS = 50
StaffEmail = Annotated[str, StringConstraints(strip_whitespace=True, max_length=320), AfterValidator(normalize_email)]


class NotificationIn(BaseModel):
    """A message to staff. `id` is the idempotency key: the same id again is the same notification."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: uuid.UUID = Field(description="The caller's idempotency key (a UUID, e.g. uuid5 of what it reports on).")
    channel: Literal["email", "webhook"]
    to: list[StaffEmail] = Field(
        default_factory=list,
        max_length=MAX_RECIPIENTS,
        validate_default=True,
        description="E-mail only: the addresses, all in one message. Webhook: empty (the configured receiver).",
    )
    subject: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=100_000, description="The plain-text body.")
    html: str | None = Field(default=None, max_length=300_000, description="E-mail only: an HTML alternative.")
    data: dict[str, Any] | None = Field(default=None, description="Webhook only: JSON sent along as `data`.")

    @field_validator("to")
    @classmethod
    def _addresses_for_email(cls, to: list[str], info: ValidationInfo) -> list[str]:
        channel = info.data.get("channel")
        if channel == "email" and not to:
            raise PydanticCustomError("required", "an e-mail notification needs at least one address")
        if channel == "webhook" and to:
            raise PydanticCustomError("email_only", "a webhook goes to its configured receiver, not to addresses")
        return list(dict.fromkeys(to))

    @field_validator("html")
    @classmethod
    def _html_for_email(cls, html: str | None, info: ValidationInfo) -> str | None:
        if html is not None and info.data.get("channel") != "email":
            raise PydanticCustomError("email_only", "an HTML alternative is for e-mail")
        return html

    @field_validator("data")
    @classmethod
    def _data_for_webhook(cls, data: dict[str, Any] | None, info: ValidationInfo) -> dict[str, Any] | None:
        if data is not None and info.data.get("channel") != "webhook":
            raise PydanticCustomError("webhook_only", "JSON data is for webhooks")
        return data


class NotificationAttemptOut(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)

    number: int
    provider: str | None
    outcome: str = Field(description="sent | retry | unknown | permanent | skipped")
    status_code: int | None
    reason: str
    duration_ms: float | None
    started_at: datetime


class NotificationOut(BaseModel):
    """A notification's state; never its addresses or its text."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: uuid.UUID
    channel: str
    status: str = Field(description="pending | sent | failed")
    subject: str
    recipients: int = Field(description="How many addresses (e-mail); 0 for a webhook.")
    provider: str | None
    provider_message_id: str | None
    reason: str | None = Field(description="Why it failed.")
    requested_by: str
    created_at: datetime
    sent_at: datetime | None
    attempts: list[NotificationAttemptOut] = Field(default_factory=list)
