"""Receipts: what became of a delivery, as ordinary interactions on `mc.interactions.v1` (pure).

`message.sent` when a provider took it (and `message.delivered` for the in-app inbox, which
holds it at once), `message.failed` when every channel failed. Each names the customer by
its Metaconnect id and carries the delivery id, so profiles and the router's learning see
them like any other interaction. Event ids derive from (delivery, type): a receipt written
twice is one event downstream.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from metaconnect_common.kafka.producer import OutgoingRecord
from metaconnect_common.schemas import Channel, CustomerRef, Interaction
from metaconnect_common.schemas.delivery import Delivery
from metaconnect_common.topics import INTERACTIONS

SOURCE: Final = "metaconnect-delivery"
RECEIPTS_NAMESPACE: Final = uuid.UUID("6f1c2a4e-5b0d-4c1e-9a57-3d2f1e0b7c88")


def receipt_id(delivery_id: uuid.UUID, type_: str) -> uuid.UUID:
    return uuid.uuid5(RECEIPTS_NAMESPACE, f"{delivery_id}:{type_}")


def receipt(
    delivery: Delivery,
    type_: str,
    *,
    channel: Channel,
    provider: str | None,
    now: datetime,
    reason: str | None = None,
) -> Interaction:
    """What became of a whole delivery."""
    return interaction(
        type_,
        customer_id=delivery.customer_id,
        delivery_id=delivery.id,
        item_ids=[i.id for i in delivery.items],
        decision_ids=[i.decision_id for i in delivery.items],
        channel=channel,
        now=now,
        provider=provider,
        bundle_id=delivery.bundle_id,
        reason=reason,
        urgent=delivery.urgent,
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
