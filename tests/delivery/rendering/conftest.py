"""Builders for rendering tests: deliveries and items with content per channel."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from metaconnect_common.schemas.delivery import Delivery, DeliveryItem, ItemContent, TemplateCustomer
from metaconnect_common.schemas.interaction import Channel
from metaconnect_delivery.rendering.digest import Digest
from metaconnect_delivery.rendering.messages import RenderedItem

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DELIVERY_ID = UUID(int=1)
CUSTOMER_ID = UUID("c0000000-0000-0000-0000-000000000002")


def content(body: str = "Body", title: str | None = None, **fields: Any) -> ItemContent:
    return ItemContent(body=body, title=title, **fields)


def item(
    number: int = 1,
    contents: dict[Channel, ItemContent] | None = None,
    *,
    data: dict[str, Any] | None = None,
    priority: int = 50,
    customer: TemplateCustomer | None = None,
) -> DeliveryItem:
    return DeliveryItem(
        id=UUID(int=1000 + number),
        decision_id=UUID(int=2000 + number),
        route="orders",
        route_version=1,
        message_id=f"message-{number}",
        category="marketing",
        priority=priority,
        tone="blue",
        content=contents if contents is not None else {Channel.PUSH: content(f"Body {number}", f"Title {number}")},
        event_id=UUID(int=3000 + number),
        created_at=NOW,
        data=data or {},
        customer=customer,
    )


def delivery(*items: DeliveryItem, overflow: int = 0, locale: str = "en", bundle_id: UUID | None = None) -> Delivery:
    return Delivery(
        id=DELIVERY_ID,
        customer_id=CUSTOMER_ID,
        channels=[Channel.PUSH],
        locale=locale,
        items=list(items) or [item()],
        overflow=overflow,
        bundle_id=bundle_id,
        created_at=NOW,
    )


def rendered(
    number: int = 1,
    *,
    title: str | None = "",
    body: str = "",
    subject: str | None = None,
    action_url: str | None = None,
    html_body: str | None = None,
) -> RenderedItem:
    return RenderedItem(
        item_id=UUID(int=1000 + number),
        message_id=f"message-{number}",
        route="orders",
        category="marketing",
        priority=50,
        tone="blue",
        content_channel=Channel.PUSH,
        title=f"Title {number}" if title == "" else title,
        body=body or f"Body {number}",
        subject=subject,
        action_url=action_url,
        html_body=html_body,
    )


def digest(*items: RenderedItem, overflow: int = 0, locale: str = "en", bundle_id: UUID | None = None) -> Digest:
    return Digest(
        delivery_id=DELIVERY_ID,
        customer_id=CUSTOMER_ID,
        bundle_id=bundle_id,
        urgent=False,
        locale=locale,
        items=items or (rendered(),),
        overflow=overflow,
    )
