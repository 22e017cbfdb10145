"""Topic names. Every topic is keyed by the customer key, values are JSON."""

INTERACTIONS = "mc.interactions.v1"
PROFILED = "mc.profiled.v1"
DELIVERIES = "mc.deliveries.v1"


def dlq_topic(stage: str) -> str:
    """The dead-letter topic of one consuming stage, e.g. `mc.dlq.profile.v1`."""
    return f"mc.dlq.{stage}.v1"
