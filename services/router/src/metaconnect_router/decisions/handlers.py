"""The consumer runner's handlers for `mc.profiled.v1`: records in, `DecisionService.apply_all` on them.

A single record is a batch of one: both handlers take the same path.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import ValidationError

from metaconnect_common.kafka.records import ConsumedRecord, PermanentError
from metaconnect_common.schemas.profiled import Profiled
from metaconnect_router.decisions.service import DecisionService


def profiled_of(record: ConsumedRecord) -> tuple[Profiled, str | None]:
    """The record's profiled interaction and the trace it continues; a `PermanentError` (to the DLQ)
    when it is none."""
    try:
        profiled = Profiled.model_validate_json(record.value or b"")
    except ValidationError as exc:
        raise PermanentError(f"not a Profiled record: {exc.error_count()} errors") from None
    return profiled, next((v.decode() for k, v in record.headers if k == "traceparent"), None)


async def handle_batch(service: DecisionService, records: Sequence[ConsumedRecord]) -> None:
    """A partition's records in order, in one transaction. If anything fails, nothing is written
    and the runner hands the records to `handle` one by one, with retries."""
    await service.apply_all([profiled_of(r) for r in records], now=datetime.now(UTC))


async def handle(service: DecisionService, record: ConsumedRecord) -> None:
    await handle_batch(service, [record])
