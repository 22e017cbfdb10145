"""Topic names. Every topic is keyed by the customer key, values are JSON."""

INTERACTIONS = "mc.interactions.v1"
PROFILED = "mc.profiled.v1"
DELIVERIES = "mc.deliveries.v1"


def dlq_topic(stage: str) -> str:
    """The dead-letter topic of one consuming stage, e.g. `mc.dlq.profile.v1`."""
    return f"mc.dlq.{stage}.v1"


STAGES = ("profile", "router", "delivery")
"""The consuming stages, each with its dead-letter topic."""
ALL_TOPICS = (INTERACTIONS, PROFILED, DELIVERIES, *(dlq_topic(stage) for stage in STAGES))
"""Every topic Metaconnect uses, for the topic-creation step of a deployment."""
