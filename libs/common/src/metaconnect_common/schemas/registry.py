"""Which model describes which topic, and their exported JSON Schemas."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from metaconnect_common.schemas.customers import CustomerRefRecord
from metaconnect_common.schemas.delivery import Delivery
from metaconnect_common.schemas.interaction import Interaction
from metaconnect_common.schemas.profiled import Profiled
from metaconnect_common.topics import CUSTOMERS, DELIVERIES, INTERACTIONS, PROFILED

TOPIC_SCHEMAS: dict[str, type[BaseModel]] = {
    INTERACTIONS: Interaction,
    PROFILED: Profiled,
    DELIVERIES: Delivery,
    CUSTOMERS: CustomerRefRecord,
}


def export_json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema (draft 2020-12) of every topic's value, by topic name."""
    return {
        topic: {
            "$id": f"https://metaconnect.dev/schemas/{topic}.json",
            **model.model_json_schema(mode="serialization"),
        }
        for topic, model in TOPIC_SCHEMAS.items()
    }
