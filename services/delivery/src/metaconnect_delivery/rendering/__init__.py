"""Rendering: a delivery's sandboxed templates, laid out and limited for one channel (pure, no I/O)."""

from metaconnect_delivery.rendering.failures import Reason, RenderFailure, TemplateFailure
from metaconnect_delivery.rendering.messages import (
    EmailMessage,
    InAppItem,
    InAppMessage,
    PushMessage,
    Rendered,
    SmsMessage,
    WebhookMessage,
    WhatsAppMessage,
)
from metaconnect_delivery.rendering.render import Rendering, render, render_delivery

__all__ = [
    "EmailMessage",
    "InAppItem",
    "InAppMessage",
    "PushMessage",
    "Reason",
    "RenderFailure",
    "Rendered",
    "Rendering",
    "SmsMessage",
    "TemplateFailure",
    "WebhookMessage",
    "WhatsAppMessage",
    "render",
    "render_delivery",
]
