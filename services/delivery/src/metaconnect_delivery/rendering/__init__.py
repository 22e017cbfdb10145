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
from metaconnect_delivery.rendering.render import render

__all__ = [
    "EmailMessage",
    "InAppItem",
    "InAppMessage",
    "PushMessage",
    "Reason",
    "RenderFailure",
    "Rendered",
    "SmsMessage",
    "TemplateFailure",
    "WebhookMessage",
    "WhatsAppMessage",
    "render",
]
