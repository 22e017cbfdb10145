"""A delivery's record on `mc.deliveries.v1` and the trace it continues."""

from __future__ import annotations

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from metaconnect_common.kafka.producer import OutgoingRecord
from metaconnect_common.kafka.tracing import links_to, traceparent_of
from metaconnect_common.schemas.delivery import Delivery
from metaconnect_common.topics import DELIVERIES

tracer = trace.get_tracer("metaconnect.router")


def delivery_record(delivery: Delivery, traceparent: str | None = None) -> OutgoingRecord:
    """The delivery's record; `traceparent` names the trace it continues."""
    headers = [("mc.delivery_id", str(delivery.id).encode())]
    if traceparent:
        headers.append(("traceparent", traceparent.encode()))
    return OutgoingRecord(
        topic=DELIVERIES, key=delivery.kafka_key(), value=delivery.model_dump_json().encode(), headers=headers
    )


def delivery_trace(delivery: Delivery) -> str | None:
    """The trace a delivery continues: a message sent alone stays in its interaction's trace; a
    bundle starts its own, whose first span links to the trace of every item in it."""
    traceparents = [item.traceparent for item in delivery.items]
    if delivery.bundle_id is None and len(traceparents) == 1:
        return traceparents[0]
    span = tracer.start_span(
        "bundle send",
        context=otel_context.Context(),  # a new trace, whatever span is current
        kind=SpanKind.PRODUCER,
        links=links_to(traceparents),
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "create",
            "messaging.destination.name": DELIVERIES,
            "metaconnect.delivery_id": str(delivery.id),
            "metaconnect.bundle_id": str(delivery.bundle_id),
            "metaconnect.bundle.items": len(delivery.items),
            "metaconnect.bundle.overflow": delivery.overflow,
        },
    )
    span.end()
    return traceparent_of(span.get_span_context())
