"""What rendering produces: one message type per channel, ready for its provider."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from metaconnect_common.schemas.interaction import Channel
from metaconnect_delivery.rendering.failures import RenderFailure
from metaconnect_delivery.rendering.limits import Segments


@dataclass(frozen=True)
class RenderedItem:
    """One delivery item with its templates rendered for the target channel."""

    item_id: UUID
    message_id: str
    route: str
    category: str
    priority: int
    tone: str
    content_channel: Channel
    """Whose content was rendered: the target channel, or the fallback it borrowed from."""
    title: str | None
    body: str
    subject: str | None
    action_url: str | None
    html_body: str | None = None
    """Email only: the body rendered again with HTML autoescape."""
    fallback: RenderFailure | None = None
    """Set when the templates failed and this is the content's plain-text fallback: why they failed."""


@dataclass(frozen=True)
class PushMessage:
    title: str | None
    body: str
    data: Mapping[str, str]
    """FCM data (strings only): delivery_id, item_ids (comma-separated), bundle_id, action_url."""


@dataclass(frozen=True)
class SmsMessage:
    body: str
    segments: Segments


@dataclass(frozen=True)
class WhatsAppMessage:
    text: str
    """A session text message (inside the 24-hour window)."""
    template_parameter: str
    """The same text as the single body parameter of an approved template (outside the window)."""


@dataclass(frozen=True)
class EmailMessage:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class InAppItem:
    item_id: UUID
    message_id: str
    title: str | None
    body: str
    action_url: str | None
    tone: str
    category: str


@dataclass(frozen=True)
class InAppMessage:
    items: tuple[InAppItem, ...]
    overflow: int
    overflow_line: str | None


@dataclass(frozen=True)
class WebhookMessage:
    payload: Mapping[str, Any]
    """JSON-able: the delivery's ids and the rendered items (never the event data itself)."""


Rendered = PushMessage | SmsMessage | WhatsAppMessage | EmailMessage | InAppMessage | WebhookMessage
