"""Receipts: what became of a delivery, as ordinary interactions on `mc.interactions.v1` (pure).

`message.sent` when a provider took it (and `message.delivered` for the in-app inbox, which
holds it at once), `message.failed` when every channel failed. Each names the customer by
its Metaconnect id and carries the delivery id and the items it is about, so profiles and the
router's learning see them like any other interaction. Event ids derive from (delivery, type):
a receipt written twice is one event downstream.

An item that could not render is left out of its delivery with a `message.failed` of its own
(`item_failed`): it names that item only, with the reason, route, message, field and variable;
its event id derives from (delivery, type, item).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from metaconnect_common.kafka.producer import OutgoingRecord
from metaconnect_common.schemas import Channel, CustomerRef, Interaction
from metaconnect_common.schemas.delivery import Delivery, DeliveryItem
from metaconnect_common.topics import INTERACTIONS

SOURCE: Final = "metaconnect-delivery"
RECEIPTS_NAMESPACE: Final = uuid.UUID("6f1c2a4e-5b0d-4c1e-9a57-3d2f1e0b7c88")


def receipt_id(delivery_id: uuid.UUID, type_: str, item_id: uuid.UUID | None = None) -> uuid.UUID:
    return uuid.uuid5(RECEIPTS_NAMESPACE, f"{delivery_id}:{type_}" + (f":{item_id}" if item_id else ""))


def receipt(
    delivery: Delivery,
    type_: str,
    *,
    channel: Channel,
    provider: str | None,
    now: datetime,
    reason: str | None = None,
    items: Sequence[DeliveryItem] | None = None,
) -> Interaction:
    """What became of a delivery: of all its items, or of `items` (those it carried when some were left out)."""
    carried = delivery.items if items is None else items
    return interaction(
        type_,
        customer_id=delivery.customer_id,
        delivery_id=delivery.id,
        item_ids=[i.id for i in carried],
        decision_ids=[i.decision_id for i in carried],
        channel=channel,
        now=now,
        provider=provider,
        bundle_id=delivery.bundle_id,
        reason=reason,
        urgent=delivery.urgent,
    )


def item_failed(
    delivery: Delivery,
    item: DeliveryItem,
    *,
    channel: Channel,
    now: datetime,
    reason: str,
    field: str | None = None,
    variable: str | None = None,
) -> Interaction:
    """One item left out of its delivery (it could not render); the rest went on."""
    failed = interaction(
        "message.failed",
        customer_id=delivery.customer_id,
        delivery_id=delivery.id,
        item_ids=[item.id],
        decision_ids=[item.decision_id],
        channel=channel,
        now=now,
        bundle_id=delivery.bundle_id,
        reason=reason,
        urgent=delivery.urgent,
    )
    about: dict[str, object] = {"route": item.route, "route_version": item.route_version, "message_id": item.message_id}
    if field:
        about["field"] = field
    if variable:
        about["variable"] = variable
    return failed.model_copy(
        update={
            "event_id": receipt_id(delivery.id, "message.failed", item.id),
            "properties": {**failed.properties, **about},
        }
    )


def interaction(
    type_: str,
    *,
    customer_id: uuid.UUID,
    delivery_id: uuid.UUID,
    item_ids: Sequence[uuid.UUID],
    channel: Channel,
    decision_ids: Sequence[uuid.UUID] = (),
    now: datetime,
    provider: str | None = None,
    bundle_id: uuid.UUID | None = None,
    reason: str | None = None,
    urgent: bool | None = None,
) -> Interaction:
    """A receipt about a delivery (or, from the inbox, about what the customer did with it)."""
    properties: dict[str, object] = {"delivery_id": str(delivery_id), "item_ids": [str(i) for i in item_ids]}
    if decision_ids:  # the customer's timeline links event, decision and delivery
        properties["decision_ids"] = [str(d) for d in decision_ids]
    if provider:
        properties["provider"] = provider
    if urgent is not None:
        properties["urgent"] = urgent
    if bundle_id:
        properties["bundle_id"] = str(bundle_id)
    if reason:
        properties["reason"] = reason
    return Interaction(
        event_id=receipt_id(delivery_id, type_),
        customer=CustomerRef(metaconnect_id=customer_id),
        type=type_,
        channel=channel,
        occurred_at=now,
        received_at=now,
        source=SOURCE,
        properties=properties,
    )


def receipt_record(interaction: Interaction, **extra: str) -> OutgoingRecord:
    """The receipt's record on `mc.interactions.v1`; `extra` properties added (e.g. bounce="hard")."""
    if extra:
        interaction = interaction.model_copy(update={"properties": {**interaction.properties, **extra}})
    return OutgoingRecord(
        topic=INTERACTIONS,
        key=interaction.customer.key().encode(),
        value=interaction.model_dump_json().encode(),
    )
