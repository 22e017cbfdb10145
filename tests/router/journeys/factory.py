"""Journeys, walks and profiled events as the journey tests need them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from metaconnect_common.schemas import Interaction
from metaconnect_common.schemas.profiled import Profiled, ProfileSnapshot, StageChange

GRANTED = {"granted": True, "at": "2026-01-01T00:00:00Z", "source": "test"}


def message(message_id: str, *, channels: tuple[str, ...] = ("push", "email"), **changes: Any) -> dict[str, Any]:
    texts = {
        "push": {"en": {"title": "Hello", "body": f"{message_id} for you."}},
        "email": {"en": {"subject": "Hello", "body": f"{message_id} for you."}},
        "in_app": {"en": {"title": "Hello", "body": f"{message_id} for you."}},
        "sms": {"en": {"body": f"{message_id} for you."}},
    }
    return {
        "id": message_id,
        "channels": list(channels),
        "variants": {"neutral": {c: texts[c] for c in channels}},
        **changes,
    }


def send(step_id: str, **changes: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "send", "message": message(step_id), **changes}


def entry_type(name: str) -> str:
    """The event type a test journey of this name is entered on (its own: tests share a database)."""
    return f"lead.{name.replace('-', '_')}"


def journey_spec(name: str | None = None, *steps: dict[str, Any], **changes: Any) -> dict[str, Any]:
    name = name or f"journey-{uuid.uuid4().hex[:8]}"
    spec: dict[str, Any] = {
        "name": name,
        "status": "active",
        "entry": {"event_types": [entry_type(name)]},
        "policy": {"bundle_window": "PT10M"},
        "steps": list(steps) or [send("welcome")],
    }
    spec.update(changes)
    return spec


def snapshot(**changes: Any) -> ProfileSnapshot:
    doc: dict[str, Any] = {
        "lifecycle_stage": "lead",
        "time_zone": "Europe/Berlin",
        "channel_consent": {"push": GRANTED, "email": GRANTED},
        "purposes": {"marketing": GRANTED},
        "reachable": ["push", "email"],
        "traits": {"budget": 400000},
    }
    doc.update(changes)
    return ProfileSnapshot.model_validate(doc)


def interaction(type_: str, *, at: datetime | None = None, **properties: Any) -> Interaction:
    when = at or datetime.now(UTC)
    return Interaction.model_validate(
        {
            "event_id": str(uuid.uuid4()),
            "customer": {"customer_id": "c-1"},
            "type": type_,
            "channel": "web",
            "occurred_at": when,
            "received_at": when,
            "source": "test",
            "properties": properties,
        }
    )


def profiled(
    customer_id: uuid.UUID,
    type_: str,
    *,
    at: datetime | None = None,
    stage_change: StageChange | None = None,
    profile: ProfileSnapshot | None = None,
    **properties: Any,
) -> Profiled:
    event = interaction(type_, at=at, **properties)
    return Profiled(
        id=uuid.uuid4(),
        customer_id=customer_id,
        interaction=event,
        profile=profile or snapshot(),
        stage_change=stage_change,
        profiled_at=event.received_at,
    )
