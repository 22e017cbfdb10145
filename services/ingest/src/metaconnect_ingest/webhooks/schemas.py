"""What providers post to the webhooks, as far as ingest reads it, and what it answers.

Providers add parameters and fields over time: unknown ones are ignored, never rejected.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class WebhookAccepted(BaseModel):
    """The provider's notification is handled: its interactions are on Kafka (acks=all)."""

    accepted: list[uuid.UUID] = Field(description="Ids of the interactions written, in the notification's order.")
    ignored: int = Field(
        description="Notifications acknowledged without an interaction: statuses Metaconnect does not track "
        "(queued, accepted, sending, ...) and messages Metaconnect did not send."
    )


class _Form(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TwilioStatusCallback(_Form):
    """A Twilio message status callback (`application/x-www-form-urlencoded`; further parameters are ignored).

    https://www.twilio.com/docs/messaging/guides/track-outbound-message-status
    """

    message_sid: str = Field(alias="MessageSid", min_length=1, max_length=64)
    message_status: str = Field(alias="MessageStatus", min_length=1, max_length=32)
    error_code: str | None = Field(default=None, alias="ErrorCode", max_length=16)
    account_sid: str | None = Field(default=None, alias="AccountSid", max_length=64)
    sender: str | None = Field(
        default=None, alias="From", max_length=64, description="`whatsapp:+...` for WhatsApp messages sent via Twilio."
    )
    to: str | None = Field(default=None, alias="To", max_length=64)


class CallbackIds(BaseModel):
    """The ids the delivery service put into the `StatusCallback` URL (Twilio signs the whole URL)."""

    delivery_id: uuid.UUID
    customer_id: uuid.UUID = Field(description="The customer's Metaconnect id.")


class TwilioInboundMessage(_Form):
    """An incoming SMS (or WhatsApp message via Twilio), form-encoded; further parameters are ignored.

    https://www.twilio.com/docs/messaging/guides/webhook-request
    """

    message_sid: str = Field(alias="MessageSid", min_length=1, max_length=64)
    sender: str = Field(alias="From", min_length=1, max_length=64, description="The customer's number (E.164).")
    to: str | None = Field(default=None, alias="To", max_length=64)
    body: str = Field(default="", alias="Body", description="The customer's text.")
    num_media: int = Field(default=0, alias="NumMedia", ge=0, le=100)
    opt_out_type: str | None = Field(
        default=None, alias="OptOutType", max_length=16, description="STOP, START or HELP (Twilio's opt-out handling)."
    )
    account_sid: str | None = Field(default=None, alias="AccountSid", max_length=64)


class _Graph(BaseModel):
    model_config = ConfigDict(extra="ignore")


class WhatsAppError(_Graph):
    code: int
    title: str | None = Field(default=None, max_length=512)


class WhatsAppStatus(_Graph):
    """One entry of `statuses[]`: what became of a message the business sent."""

    id: str = Field(min_length=1, max_length=256, description="The message's `wamid`.")
    status: str = Field(min_length=1, max_length=32, description="sent, delivered, read, failed, ...")
    timestamp: int | None = Field(default=None, ge=0, description="Unix seconds.")
    biz_opaque_callback_data: str | None = Field(
        default=None,
        max_length=512,
        description="Echoed from the send request: `mc1:<delivery id>:<customer id>` for Metaconnect's messages.",
    )
    errors: list[WhatsAppError] = Field(default_factory=list)


class WhatsAppText(_Graph):
    body: str


class WhatsAppButton(_Graph):
    text: str | None = None
    payload: str | None = None


class WhatsAppContext(_Graph):
    id: str | None = Field(default=None, description="The `wamid` of the business message replied to.")


class WhatsAppInbound(_Graph):
    """One entry of `messages[]`: a message the customer sent."""

    sender: str = Field(alias="from", min_length=1, max_length=32, description="The customer's WhatsApp id (digits).")
    id: str = Field(min_length=1, max_length=256)
    timestamp: int | None = Field(default=None, ge=0, description="Unix seconds.")
    type: str = Field(min_length=1, max_length=32)
    text: WhatsAppText | None = None
    button: WhatsAppButton | None = None
    interactive: dict[str, Any] | None = None
    context: WhatsAppContext | None = None


class WhatsAppValue(_Graph):
    messaging_product: str | None = None
    statuses: list[WhatsAppStatus] = Field(default_factory=list)
    messages: list[WhatsAppInbound] = Field(default_factory=list)


class WhatsAppChange(_Graph):
    field: str = Field(description="Only `messages` is read; other fields' values have other shapes.")
    value: WhatsAppValue

    @model_validator(mode="before")
    @classmethod
    def _messages_only(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("field") != "messages":
            return {**data, "value": {}}
        return data


class WhatsAppEntry(_Graph):
    id: str | None = None
    changes: list[WhatsAppChange] = Field(default_factory=list)


class WhatsAppWebhook(_Graph):
    """A WhatsApp Cloud API webhook notification (`object: whatsapp_business_account`).

    https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components
    """

    object: str
    entry: list[WhatsAppEntry] = Field(min_length=1)
