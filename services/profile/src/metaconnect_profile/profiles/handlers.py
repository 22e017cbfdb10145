"""The consumer runner's handlers for `mc.interactions.v1`: records in, `ProfileService.apply` on them.

A single record is a batch of one: both handlers take the same path. Each record's
`mc.profiled.v1` record stays in the trace of the interaction it reports.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode, set_span_in_context
from pydantic import ValidationError

from metaconnect_common.kafka.records import ConsumedRecord, PermanentError
from metaconnect_common.kafka.tracing import extract_context, inject_headers
from metaconnect_common.schemas import NORMALIZED, Interaction
from metaconnect_profile.profiles.batch import TracedInteraction
from metaconnect_profile.profiles.service import ProfileService

tracer = trace.get_tracer("metaconnect.profile")


def interaction_of(record: ConsumedRecord) -> Interaction:
    """The record's interaction; a `PermanentError` (to the DLQ) when it is none."""
    try:
        # Ingest (or the delivery service) wrote it: identifiers are normalised already.
        return Interaction.model_validate_json(record.value or b"", context=NORMALIZED)
    except ValidationError as exc:
        raise PermanentError(f"not an Interaction: {exc.error_count()} errors") from None


async def handle_batch(service: ProfileService, records: Sequence[ConsumedRecord]) -> None:
    """A partition's records in one transaction.

    Raises (nothing written) on an undecodable record or an identifier conflict; the runner
    then hands the records to `handle` one by one, with retries.
    """
    # One span per record in the trace of the interaction it reports (the runner's batch span
    # only links to them), open while the batch is applied.
    spans = [
        tracer.start_span("profile update", context=extract_context(r.headers), kind=SpanKind.INTERNAL) for r in records
    ]
    try:
        items = [
            TracedInteraction(interaction_of(r), inject_headers(ctx=set_span_in_context(span)))
            for r, span in zip(records, spans, strict=True)
        ]
        await service.apply(items)
        # The consumer runner publishes the outbox once per batch, before committing offsets.
    except Exception as exc:
        for span in spans:
            span.set_status(StatusCode.ERROR, type(exc).__qualname__)
        raise
    finally:
        for span in spans:
            span.end()


async def handle(service: ProfileService, record: ConsumedRecord) -> None:
    """One record: a batch of one."""
    await handle_batch(service, [record])
