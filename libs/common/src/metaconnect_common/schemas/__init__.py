"""Event schemas, one pydantic model per topic, each with a `schema_version`."""

from metaconnect_common.schemas.interaction import (
    MAX_PROPERTIES_BYTES,
    MAX_PROPERTIES_DEPTH,
    NORMALIZED,
    Channel,
    CustomerRef,
    Interaction,
    InteractionFields,
)
from metaconnect_common.schemas.registry import TOPIC_SCHEMAS, export_json_schemas

__all__ = [
    "MAX_PROPERTIES_BYTES",
    "MAX_PROPERTIES_DEPTH",
    "NORMALIZED",
    "TOPIC_SCHEMAS",
    "Channel",
    "CustomerRef",
    "Interaction",
    "InteractionFields",
    "export_json_schemas",
]
