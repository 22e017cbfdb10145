"""Item rows as the decision service makes them, for the ledger's and the rows' tests."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from metaconnect_common.schemas import Channel
from metaconnect_common.schemas.delivery import DeliveryItem, ItemContent
from metaconnect_router.bundles.rows import ItemRow
from metaconnect_router.bundles.schemas import ChosenArm, ItemPayload
from metaconnect_router.models import ItemState
from metaconnect_router.routes.spec import Category, Tone


def item_row(
    customer: uuid.UUID,
    now: datetime,
    *,
    key: str | None = None,
    priority: int = 50,
    not_before: datetime | None = None,
    category: Category = Category.MARKETING,
    channels: tuple[Channel, ...] = (Channel.PUSH, Channel.EMAIL),
    message: str | None = None,
    **data: Any,
) -> ItemRow:
    item_id, decision_id = uuid.uuid4(), uuid.uuid4()
    # Each row its own message unless told: two items of one message collapse (no collapse_key needed).
    message = message or f"hello-{item_id.hex[:8]}"
    item = DeliveryItem(
        id=item_id,
        decision_id=decision_id,
        route="welcome",
        route_version=1,
        message_id=message,
        category=category.value,
        priority=priority,
        tone="blue",
        content={c: ItemContent(body="Hello") for c in channels},
        event_id=uuid.uuid4(),
        data=data,
        created_at=now,
    )
    return ItemRow(
        id=item_id,
        decision_id=decision_id,
        customer_id=customer,
        bundle_id=None,
        state=ItemState.PENDING,
        route="welcome",
        message_id=message,
        priority=priority,
        category=category,
        collapse_key=key,
        created_at=now,
        expires_at=None,
        not_before=not_before,
        payload=ItemPayload(
            item=item, channels=list(channels), locale="de", arm=ChosenArm(pattern="steady", tone=Tone.BLUE)
        ),
    )
