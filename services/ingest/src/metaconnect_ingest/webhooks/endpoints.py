"""Provider webhooks: public, authenticated by the provider's signature (never by an API key)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.security import APIKeyHeader

from metaconnect_common.errors import ERROR_RESPONSES, ErrorBody
from metaconnect_common.signatures import META_SIGNATURE_HEADER, TWILIO_SIGNATURE_HEADER
from metaconnect_ingest.deps import WebhooksDep
from metaconnect_ingest.webhooks.schemas import WebhookAccepted

EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    401: {"model": ErrorBody, "description": "The provider's signature header is missing."},
    403: {"model": ErrorBody, "description": "The signature does not match the request and the configured secret."},
    404: {"model": ErrorBody, "description": "This provider's webhook is not enabled (its secret is not configured)."},
    503: {"model": ErrorBody, "description": "Kafka did not acknowledge; the provider retries."},
}
router = APIRouter(prefix="/v1/webhooks", tags=["provider webhooks"], responses=_RESPONSES)

_twilio_signature = APIKeyHeader(
    name=TWILIO_SIGNATURE_HEADER,
    scheme_name="TwilioSignature",
    auto_error=False,
    description="base64 HMAC-SHA1 of the full URL and the sorted form parameters, keyed by the Twilio auth token.",
)
_meta_signature = APIKeyHeader(
    name=META_SIGNATURE_HEADER,
    scheme_name="MetaSignature",
    auto_error=False,
    description="`sha256=` + hex HMAC-SHA256 of the raw body, keyed by the Meta app secret.",
)
TwilioSignature = Annotated[str | None, Depends(_twilio_signature)]
MetaSignature = Annotated[str | None, Depends(_meta_signature)]


def signed_url(request: Request, public_url: str | None) -> str:
    """The URL the provider called, as it signed it: `public_url` + this app's path + query when
    configured (behind a proxy the request's own URL differs), else the request's own URL."""
    if public_url is None:
        return str(request.url)
    path: str = request.scope["path"]
    root: str = request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    query = request.scope.get("query_string", b"").decode("latin-1")
    return public_url + path + (f"?{query}" if query else "")


def _form_body(model: str, example: dict[str, str]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {"$ref": f"#/components/schemas/{model}"},
                    "example": example,
                }
            },
        }
    }


def _accepted(body: WebhookAccepted) -> Response:
    return Response(body.model_dump_json(), media_type="application/json")


@router.post(
    "/twilio/status",
    response_model=WebhookAccepted,
    summary="Twilio message status callback",
    description=(
        "Set as the message's `StatusCallback` by the delivery service, with `delivery_id` and `customer_id` "
        "in the query (Twilio signs the whole URL). `sent`, `delivered`, `read` become `message.sent`, "
        "`message.delivered`, `message.read`; `undelivered` and `failed` become `message.failed` with "
        "`error_code`; other statuses (queued, accepted, sending, ...) are acknowledged without an interaction. "
        "Answers 200 once Kafka acknowledged; the event id derives from (twilio, MessageSid, status), so "
        "retries are one event downstream."
    ),
    openapi_extra=_form_body(
        "TwilioStatusCallback",
        {
            "MessageSid": "SM0123456789abcdef0123456789abcdef",
            "MessageStatus": "delivered",
            "AccountSid": "AC0123456789abcdef0123456789abcdef",
            "From": "+15005550006",
            "To": "+4915112345678",
        },
    ),
)
async def twilio_status(
    request: Request,
    webhooks: WebhooksDep,
    signature: TwilioSignature,
    delivery_id: Annotated[str | None, Query(description="The delivery this message belongs to (UUID).")] = None,
    customer_id: Annotated[str | None, Query(description="The customer's Metaconnect id (UUID).")] = None,
) -> Response:
    # The ids are read (and validated) from the signed query by the service, after the signature.
    del delivery_id, customer_id
    accepted = await webhooks.twilio_status(
        signed_url(request, webhooks.public_url),
        request.query_params.multi_items(),
        await request.body(),
        request.headers.get("content-type"),
        signature,
    )
    return _accepted(accepted)


@router.post(
    "/twilio/inbound",
    response_class=Response,
    summary="Twilio incoming message",
    description=(
        "An SMS (or WhatsApp message via Twilio) the customer sent: `message.replied` naming the customer by "
        "the E.164 number in `From`, with the text in `properties.text`. Answers empty TwiML."
    ),
    responses={200: {"content": {"text/xml": {"example": EMPTY_TWIML.decode()}}, "description": "Empty TwiML."}},
    openapi_extra=_form_body(
        "TwilioInboundMessage",
        {
            "MessageSid": "SM0123456789abcdef0123456789abcdef",
            "From": "+4915112345678",
            "To": "+15005550006",
            "Body": "Yes, please",
            "NumMedia": "0",
        },
    ),
)
async def twilio_inbound(request: Request, webhooks: WebhooksDep, signature: TwilioSignature) -> Response:
    await webhooks.twilio_inbound(
        signed_url(request, webhooks.public_url),
        await request.body(),
        request.headers.get("content-type"),
        signature,
    )
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.get(
    "/whatsapp",
    response_class=Response,
    summary="WhatsApp webhook verification",
    description=(
        "Meta's handshake when the webhook is configured: answers `hub.challenge` as text when `hub.mode` is "
        "`subscribe` and `hub.verify_token` is the configured verify token, 403 otherwise."
    ),
    responses={200: {"content": {"text/plain": {"example": "1158201444"}}, "description": "The challenge."}},
)
async def whatsapp_verify(
    webhooks: WebhooksDep,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
) -> Response:
    return Response(webhooks.whatsapp_challenge(mode, token, challenge), media_type="text/plain")


@router.post(
    "/whatsapp",
    response_model=WebhookAccepted,
    summary="WhatsApp Cloud API webhook",
    description=(
        "`statuses[]` of messages Metaconnect sent (recognised by `biz_opaque_callback_data` "
        "`mc1:<delivery id>:<customer id>`) become `message.sent`, `message.delivered`, `message.read` or "
        "`message.failed` (with `error_code`); other statuses are acknowledged and ignored. `messages[]` "
        "become `message.replied` naming the customer by phone (`+` and `from`). The signature covers the raw "
        "body. Answers 200 once Kafka acknowledged."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WhatsAppWebhook"}}},
        }
    },
)
async def whatsapp_notification(request: Request, webhooks: WebhooksDep, signature: MetaSignature) -> Response:
    return _accepted(await webhooks.whatsapp_notification(await request.body(), signature))
