"""What an attempt writes besides its attempt rows: bounces, the receipts of items left out, the
inbox row, the delivery's item summary."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from metaconnect_common.kafka.producer import OutgoingRecord
from metaconnect_common.schemas import Channel
from metaconnect_common.schemas.delivery import Delivery, DeliveryItem
from metaconnect_delivery import metrics
from metaconnect_delivery.receipts import RECEIPTS_NAMESPACE, item_failed, receipt, receipt_record
from metaconnect_delivery.rendering.failures import RenderFailure
from metaconnect_delivery.rendering.messages import InAppMessage, RenderedItem
from metaconnect_delivery.sending import Tried

log = logging.getLogger(__name__)


def bounce_record(delivery: Delivery, channel: Channel, tried: Tried, now: datetime) -> OutgoingRecord:
    """A hard bounce of one address; for push it names the token by its SHA-256, so the profile
    invalidates that token only (each token's bounce is its own event)."""
    bounced = receipt(
        delivery, "message.bounced", channel=channel, provider=tried.provider, now=now, reason=tried.result.reason
    )
    if tried.token:
        bounced = bounced.model_copy(
            update={"event_id": uuid.uuid5(RECEIPTS_NAMESPACE, f"{delivery.id}:message.bounced:{tried.token}")}
        )
        return receipt_record(bounced, bounce="hard", address_sha256=tried.token)
    return receipt_record(bounced, bounce="hard")


def items_left_out(
    delivery: Delivery,
    shown_items: Sequence[RenderedItem],
    dropped: Sequence[RenderFailure],
    channel: Channel,
    now: datetime,
) -> tuple[list[DeliveryItem], list[OutgoingRecord]]:
    """The items a rendering carried, and a `message.failed` receipt for each item it left out
    (counted and logged, without values; items sent with their fallback text are counted too)."""
    for shown in shown_items:
        if shown.fallback is not None:
            metrics.TEMPLATE_FALLBACKS.labels(shown.fallback.reason.value).inc()
            log.info("delivery %s item %s sent with its fallback text: %s", delivery.id, shown.item_id, shown.fallback)
    by_id = {item.id: item for item in delivery.items}
    records: list[OutgoingRecord] = []
    for failure in dropped:
        item = by_id.get(failure.item_id) if failure.item_id else None
        if item is None:
            continue
        metrics.ITEMS_LEFT_OUT.labels(failure.reason.value).inc()
        log.warning("delivery %s left out item %s: %s", delivery.id, item.id, failure)
        failed = item_failed(
            delivery,
            item,
            channel=channel,
            now=now,
            reason=failure.reason.value,
            field=failure.field,
            variable=failure.variable,
        )
        records.append(receipt_record(failed))
    shown_ids = {shown.item_id for shown in shown_items}
    return [item for item in delivery.items if item.id in shown_ids], records


def item_summary(item: DeliveryItem) -> dict[str, str]:
    return {
        "id": str(item.id),
        "decision_id": str(item.decision_id),
        "route": item.route,
        "message_id": item.message_id,
    }


def inbox_row(delivery: Delivery, message: InAppMessage, now: datetime) -> dict[str, Any]:
    return {
        "id": uuid.uuid5(delivery.id, "inbox"),
        "customer_id": delivery.customer_id,
        "delivery_id": delivery.id,
        "content": {
            "items": [
                {
                    "item_id": str(i.item_id),
                    "message_id": i.message_id,
                    "title": i.title,
                    "body": i.body,
                    "action_url": i.action_url,
                    "tone": i.tone,
                    "category": i.category,
                }
                for i in message.items
            ],
            "overflow": message.overflow,
            "overflow_line": message.overflow_line,
        },
        "created_at": now,
        "read_at": None,
    }
