"""Check a provider's signature, read its notification, publish the interactions in it.

Order for every request: switched off (404), unreadable (400/415), signature (401 missing, 403
wrong), then the notification's fields (422). Nothing is published for a rejected request, and
the answer (200) goes out only after Kafka acknowledged every interaction (503 otherwise, so the
provider retries; event ids make the retry harmless).

No customer data (numbers, texts, ids) is logged or put on spans: rejections log the provider
and the reason only.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import parse_qsl

from pydantic import BaseModel, SecretStr, ValidationError

from metaconnect_common.errors import ApiError, FieldError, field_errors, invalid_request
from metaconnect_common.schemas import Interaction
from metaconnect_common.signatures import (
    META_SIGNATURE_HEADER,
    TWILIO_SIGNATURE_HEADER,
    meta_signature_valid,
    twilio_signature_valid,
)
from metaconnect_common.storable import unstorable, unstorable_json
from metaconnect_ingest.events.service import EventService
from metaconnect_ingest.webhooks.mapping import twilio_reply, twilio_status, whatsapp_interactions
from metaconnect_ingest.webhooks.schemas import (
    CallbackIds,
    TwilioInboundMessage,
    TwilioStatusCallback,
    WebhookAccepted,
    WhatsAppWebhook,
)

log = logging.getLogger(__name__)
Model = TypeVar("Model", bound=BaseModel)
T = TypeVar("T")
FormPairs = list[tuple[str, str]]
_FORM = "application/x-www-form-urlencoded"


def disabled(provider: str) -> ApiError:
    return ApiError(404, "not_found", f"the {provider} webhook is not enabled on this server")


def parse_form(body: bytes, content_type: str | None) -> FormPairs:
    """The form parameters of a Twilio request, in order; 415 unless form-encoded, 400 unless UTF-8."""
    if (content_type or "").split(";")[0].strip().lower() != _FORM:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"the body must be {_FORM}",
            errors=[FieldError(field="Content-Type", rule="media_type", message=f"expected {_FORM}")],
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(
            400,
            "malformed_body",
            "the body is not UTF-8",
            errors=[FieldError(field="body", rule="utf8", message="not valid UTF-8")],
        ) from None
    return parse_qsl(text, keep_blank_values=True)


def check_signature(provider: str, header: str, valid: Callable[[str], bool], signature: str | None) -> None:
    """401 naming `header` when it is missing, 403 when it does not sign this request."""
    if not signature:
        log.warning("%s webhook rejected: no %s header", provider, header)
        raise ApiError(
            401,
            "unauthorized",
            f"the request is not signed: {header} missing",
            errors=[FieldError(field=header, rule="required", message="the provider's request signature")],
        )
    if not valid(signature):
        log.warning("%s webhook rejected: %s does not match", provider, header)
        raise ApiError(
            403,
            "forbidden",
            f"{header} does not sign this request",
            errors=[FieldError(field=header, rule="signature", message="does not match the request and secret")],
        )


def validated(model: type[Model], data: object, *, prefix: str = "") -> Model:
    """`data` (raw JSON bytes, or parsed) as `model`; 400 for JSON that does not parse, else 422 naming
    each field (after `prefix`, e.g. `query.`) and the rule it broke. Input values are never echoed.
    U+0000 and numbers that are not finite are refused too (`metaconnect_common.storable`)."""
    bad = unstorable_json(data) if isinstance(data, bytes) else unstorable(data)
    if bad:
        raise invalid_request([e.model_copy(update={"field": prefix + e.field}) for e in bad])
    try:
        if isinstance(data, bytes):
            return model.model_validate_json(data)
        return model.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc.errors(), strip=())
        if any(e.rule == "json_invalid" for e in errors):
            errors = [FieldError(field="body", rule="json_invalid", message="not valid JSON")]
        elif prefix:
            errors = [e.model_copy(update={"field": prefix + e.field}) for e in errors]
        raise invalid_request(errors) from None


def _mapped(build: Callable[[], T]) -> T:
    try:
        return build()
    except ValidationError as exc:  # an interaction rule the notification broke
        raise invalid_request(field_errors(exc.errors(), strip=())) from None


class WebhookService:
    def __init__(
        self,
        events: EventService,
        *,
        twilio_auth_token: SecretStr | None,
        whatsapp_app_secret: SecretStr | None,
        whatsapp_verify_token: SecretStr | None,
        public_url: str | None = None,
    ) -> None:
        self._events = events
        self.public_url = public_url
        self._twilio_token = twilio_auth_token
        self._app_secret = whatsapp_app_secret
        self._verify_token = whatsapp_verify_token

    @property
    def enabled(self) -> dict[str, bool]:
        return {
            "twilio": self._twilio_token is not None,
            "whatsapp": self._app_secret is not None,
            "whatsapp_verification": self._verify_token is not None,
        }

    def _twilio_form(self, url: str, body: bytes, content_type: str | None, signature: str | None) -> FormPairs:
        if self._twilio_token is None:
            raise disabled("Twilio")
        pairs = parse_form(body, content_type)
        token = self._twilio_token.get_secret_value()
        check_signature(
            "twilio", TWILIO_SIGNATURE_HEADER, lambda s: twilio_signature_valid(token, url, pairs, s), signature
        )
        return pairs

    async def twilio_status(
        self, url: str, query: Sequence[tuple[str, str]], body: bytes, content_type: str | None, signature: str | None
    ) -> WebhookAccepted:
        """A status callback: `url` is the full URL Twilio called (query included), as it signed it."""
        pairs = self._twilio_form(url, body, content_type, signature)
        callback = validated(TwilioStatusCallback, dict(pairs))
        params = dict(query)
        if "delivery_id" not in params and "customer_id" not in params:
            # Signed by Twilio but not a message the delivery service sent (no ids in its callback URL).
            return WebhookAccepted(accepted=[], ignored=1)
        ids = validated(CallbackIds, params, prefix="query.")
        now = datetime.now(UTC)
        interaction = _mapped(lambda: twilio_status(callback, ids, now))
        return await self._publish(
            [interaction] if interaction else [], ignored=0 if interaction else 1, source="twilio"
        )

    async def twilio_inbound(
        self, url: str, body: bytes, content_type: str | None, signature: str | None
    ) -> WebhookAccepted:
        pairs = self._twilio_form(url, body, content_type, signature)
        message = validated(TwilioInboundMessage, dict(pairs))
        now = datetime.now(UTC)
        return await self._publish([_mapped(lambda: twilio_reply(message, now))], ignored=0, source="twilio")

    def whatsapp_challenge(self, mode: str | None, token: str | None, challenge: str | None) -> str:
        """Meta's verification handshake: the challenge, when the verify token is ours."""
        if self._verify_token is None:
            raise disabled("WhatsApp")
        expected = self._verify_token.get_secret_value().encode()
        if mode != "subscribe" or not hmac.compare_digest(expected, (token or "").encode()):
            log.warning("whatsapp verification rejected: wrong hub.mode or hub.verify_token")
            raise ApiError(
                403,
                "forbidden",
                "hub.mode must be subscribe and hub.verify_token the configured verify token",
                errors=[FieldError(field="hub.verify_token", rule="verify_token", message="not the verify token")],
            )
        if not challenge:
            raise ApiError(
                422,
                "validation_failed",
                "request failed validation",
                errors=[FieldError(field="hub.challenge", rule="missing", message="Field required")],
            )
        return challenge

    async def whatsapp_notification(self, body: bytes, signature: str | None) -> WebhookAccepted:
        if self._app_secret is None:
            raise disabled("WhatsApp")
        secret = self._app_secret.get_secret_value()
        check_signature("whatsapp", META_SIGNATURE_HEADER, lambda s: meta_signature_valid(secret, body, s), signature)
        webhook = validated(WhatsAppWebhook, body)
        now = datetime.now(UTC)
        interactions, ignored = _mapped(lambda: whatsapp_interactions(webhook, now))
        return await self._publish(interactions, ignored=ignored, source="whatsapp")

    async def _publish(self, interactions: list[Interaction], *, ignored: int, source: str) -> WebhookAccepted:
        if interactions:
            await self._events.publish(interactions, source=source)
        return WebhookAccepted(accepted=[i.event_id for i in interactions], ignored=ignored)
