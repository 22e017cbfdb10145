"""What the delivery service does with each consumed `mc.deliveries.v1` record."""

from __future__ import annotations

from pydantic import ValidationError

from metaconnect_common.kafka.records import ConsumedRecord, Handler, PermanentError
from metaconnect_common.schemas.delivery import Delivery
from metaconnect_delivery.service import DeliveryService


def deliveries_handler(service: DeliveryService) -> Handler:
    """The consumer runner's handler: parse the delivery (a malformed record is permanent: DLQ),
    then send it once, continuing the trace its `traceparent` header names."""

    async def handle(record: ConsumedRecord) -> None:
        try:
            delivery = Delivery.model_validate_json(record.value or b"")
        except ValidationError as exc:
            raise PermanentError(f"not a Delivery record: {exc.error_count()} errors") from None
        traceparent = next((v.decode() for k, v in record.headers if k == "traceparent"), None)
        await service.deliver(delivery, traceparent=traceparent)

    return handle
