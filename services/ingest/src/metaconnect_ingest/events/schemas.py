from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field, SkipValidation

from metaconnect_common.errors import FieldError
from metaconnect_common.schemas import InteractionFields


class Accepted(BaseModel):
    """The broker has acknowledged these events (acks=all)."""

    accepted: list[uuid.UUID]


class Rejected(BaseModel):
    index: int = Field(description="Position of the event in the posted `events` list.")
    errors: list[FieldError]


class BatchIn(BaseModel):
    # Items are validated one by one by the service, so one bad event does not sink the
    # batch; the annotation still documents their shape in the OpenAPI schema.
    events: list[SkipValidation[InteractionFields]] = Field(min_length=1, max_length=1000)


class ValidBatch(BaseModel):
    """A batch whose every event is valid: the fast path, validated straight from the bytes."""

    events: list[InteractionFields] = Field(min_length=1, max_length=1000)


class BatchAccepted(BaseModel):
    accepted: list[uuid.UUID] = Field(description="Ids of the accepted events, in posted order.")
    accepted_indexes: list[int]
    rejected: list[Rejected] = Field(description="Each rejected event by index, with the fields and rules it broke.")


EVENT_EXAMPLES: dict[str, Any] = {
    "app opened": {
        "summary": "A customer opened the mobile app",
        "value": {
            "event_id": "0b6a6f57-3c34-4c1b-9d0e-5f2a2b1f4e11",
            "customer": {"customer_id": "c-1042", "email": "ada@example.com"},
            "type": "app.opened",
            "channel": "in_app",
            "occurred_at": "2026-11-23T09:15:00+01:00",
            "properties": {"screen": "home", "app_version": "5.2.0"},
        },
    },
    "purchase": {
        "summary": "A store purchase, known by phone number only",
        "value": {
            "customer": {"phone": "+4915112345678"},
            "type": "purchase.completed",
            "channel": "store",
            "properties": {"order_id": "A-981", "amount": 49.9, "currency": "EUR"},
        },
    },
}
