from __future__ import annotations

import re
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from metaconnect_common.schemas import Channel

_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.([a-z][a-z0-9_]*|\*))*$|^\*$")


def _event_type_pattern(value: str) -> str:
    if not _PATTERN.fullmatch(value):
        raise PydanticCustomError(
            "event_type_pattern", "an event type or a prefix ending in `.*`, e.g. `app.opened` or `app.*`"
        )
    return value


EventTypePattern = Annotated[str, StringConstraints(max_length=128), AfterValidator(_event_type_pattern)]


class Scope(StrEnum):
    """What a key may do."""

    EVENTS = "events"
    """Post interactions (`/v1/events`)."""
    INBOX = "inbox"
    """Mint inbox tokens for the app's signed-in customers (`/v1/inbox/tokens`)."""


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    channels: list[Channel] = Field(default_factory=list, description="Allowed channels; empty allows all.")
    event_types: list[EventTypePattern] = Field(
        default_factory=list, description="Allowed event types (`app.*` matches a prefix); empty allows all."
    )
    scopes: list[Scope] = Field(
        default_factory=lambda: [Scope.EVENTS],
        min_length=1,
        description="What the key may do: `events` (post interactions), `inbox` (mint inbox tokens).",
    )
    rate_per_s: float | None = Field(default=None, gt=0, le=100_000, description="Sustained events per second.")
    burst: int | None = Field(default=None, ge=1, le=1_000_000, description="Events allowed in one burst.")


class ApiKeyOut(BaseModel):
    """A key as listed: never the secret."""

    id: uuid.UUID
    name: str
    prefix: str
    channels: list[str]
    event_types: list[str]
    scopes: list[str]
    rate_per_s: float
    burst: int
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret key. Shown once; store it now.")
