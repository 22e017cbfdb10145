"""`mc.deliveries.v1`: one delivery the router decided, for the delivery service to send.

A delivery goes to one customer on the first channel of `channels` (the rest are the
fail-over order) and carries one item, or a meta-connect bundle of items in the order the
customer should read them. Keyed by the customer id. `id` is the idempotency key: a
redelivered record never sends twice once the first send was recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from metaconnect_common.schemas.interaction import Channel
from metaconnect_common.schemas.profiled import Contact


class FallbackText(BaseModel):
    """Plain text (never rendered) sent instead of an item's templates when they cannot render."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str | None = None
    body: str
    subject: str | None = None
    action_url: str | None = None


class ItemContent(BaseModel):
    """A message text (a template the delivery service renders, sandboxed) for one channel."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str | None = None
    body: str
    subject: str | None = None
    action_url: str | None = None
    fallback: FallbackText | None = Field(
        default=None, description="Sent as it is when a template of this content cannot render."
    )


class TemplateCustomer(BaseModel):
    """What templates may know of the customer (`customer` in the template context): never
    personality, never a contact address."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    first_name: str | None = Field(default=None, description="The profile's `first_name` trait, if it is text.")
    locale: str | None = None
    time_zone: str | None = None
    traits: dict[str, Any] = Field(
        default_factory=dict, description="Only the traits the route lists in `policy.template_traits`."
    )


class DeliveryItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: UUID = Field(description="The bundle item (or the single decision's item).")
    decision_id: UUID
    route: str
    route_version: int
    message_id: str
    category: Literal["transactional", "marketing"]
    priority: int
    tone: Literal["neutral", "red", "yellow", "green", "blue"]
    content: dict[Channel, ItemContent] = Field(description="The chosen variant's text per allowed channel.")
    event_id: UUID = Field(description="The interaction that triggered it.")
    data: dict[str, Any] = Field(
        default_factory=dict, description="The triggering interaction's properties: the templates' data."
    )
    customer: TemplateCustomer | None = Field(
        default=None, description="The templates' `customer`, as the profile was when the item was decided."
    )
    created_at: AwareDatetime
    traceparent: str | None = Field(default=None, description="W3C trace context of the triggering interaction.")


class Delivery(BaseModel):
    """The record on `mc.deliveries.v1`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    id: UUID = Field(description="Idempotency key of this delivery.")
    customer_id: UUID
    contact: Contact = Field(default_factory=Contact, description="Where to send: the profile's valid addresses.")
    identities: list[str] = Field(
        default_factory=list,
        description="The customer's refs from the profile snapshot (`ProfileSnapshot.identities`), so the "
        "delivery service finds the customer by any of them.",
    )
    channels: list[Channel] = Field(min_length=1, description="Send on the first; fail over in this order.")
    locale: str = Field(default="en", description="The locale the content was chosen for.")
    items: list[DeliveryItem] = Field(min_length=1, description="In the order the customer should read them.")
    overflow: int = Field(default=0, ge=0, description='Items summarised, not shown ("and 3 more").')
    bundle_id: UUID | None = Field(default=None, description="Set when a meta-connect bundle flushed.")
    urgent: bool = Field(default=False, description="Transactional: sent at once, outside any bundle.")
    inbox_copy: bool = Field(
        default=False,
        description="Also store it in the customer's in-app inbox once it is sent (a transactional message "
        "on a notifying channel, where in-app was allowed too).",
    )
    created_at: datetime

    def kafka_key(self) -> bytes:
        return str(self.customer_id).encode()
