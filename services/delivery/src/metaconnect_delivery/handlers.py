"""What the delivery service does with consumed `mc.deliveries.v1` records: accept them (the
workers send them, off the consumer path)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import ValidationError

from metaconnect_common.kafka.records import BatchHandler, ConsumedRecord, Handler, PermanentError
from metaconnect_common.schemas.delivery import Delivery
from metaconnect_delivery.service import DeliveryService


def _parsed(record: ConsumedRecord) -> tuple[Delivery, str | None]:
    """The delivery and its record's `traceparent`; a malformed record is permanent (DLQ)."""
    try:
        delivery = Delivery.model_validate_json(record.value or b"")
    except ValidationError as exc:
        raise PermanentError(f"not a Delivery record: {exc.error_count()} errors") from None
    return delivery, next((v.decode() for k, v in record.headers if k == "traceparent"), None)


def deliveries_handlers(service: DeliveryService, accepted: Callable[[], None]) -> tuple[Handler, BatchHandler]:
    """The consumer runner's handlers: store each delivery as pending (one transaction per partition's
    batch), then `accepted()` (wakes the workers). A batch with a malformed record fails whole and
    the runner takes its records one by one: the malformed one goes to the DLQ alone."""

    async def handle_batch(records: Sequence[ConsumedRecord]) -> None:
        await service.accept([_parsed(r) for r in records])
        accepted()

    async def handle(record: ConsumedRecord) -> None:
        await handle_batch([record])

    return handle, handle_batch
