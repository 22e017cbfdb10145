"""The HTTP providers: FCM HTTP v1 (push), Twilio Messages (SMS), WhatsApp Cloud API, signed webhooks.

Each builds the request its provider documents, sends it through the service's shared
`httpx.AsyncClient` and judges the answer (`base.judge_http`). Secrets go into headers only;
what an attempt keeps of an answer is ids and error codes.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import httpx

from metaconnect_common.schemas import Channel
from metaconnect_common.signatures import metaconnect_signature
from metaconnect_delivery.config import ProviderSettings
from metaconnect_delivery.providers.base import (
    Outgoing,
    SendResult,
    Verdict,
    call,
    json_summary,
    judge_http,
    no_address,
)


class HttpProvider:
    def __init__(self, settings: ProviderSettings, client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.name = settings.name
        self.channel = settings.channel
        self._client = client

    @property
    def _secret(self) -> str:
        return self.settings.secret.get_secret_value() if self.settings.secret else ""

    def _url(self, path: str) -> str:
        return self.settings.base_url.rstrip("/") + path

    def _request(self, url: str, **kwargs: Any) -> httpx.Request:
        return self._client.build_request("POST", url, timeout=self.settings.timeout_s, **kwargs)

    async def _send(
        self,
        request: httpx.Request,
        summary_keys: tuple[str, ...],
        id_of: Any,
        auth: httpx.Auth | None = None,
    ) -> SendResult:
        answer = await call(self._client, request, auth=auth)
        if isinstance(answer, SendResult):
            return answer
        summary = json_summary(answer, *summary_keys)
        return judge_http(answer, summary=summary, message_id=id_of(summary) if answer.is_success else None)


class Fcm(HttpProvider):
    """`POST /v1/projects/{project}/messages:send` with an OAuth bearer token; one call per device token."""

    async def send(self, outgoing: Outgoing) -> SendResult:
        tokens = outgoing.contact.push_tokens
        if not tokens:
            return no_address(Channel.PUSH)
        push = outgoing.message
        body = {
            "message": {
                "token": tokens[0],
                "notification": {"body": push.body} | ({"title": push.title} if push.title else {}),
                "data": {str(k): str(v) for k, v in push.data.items()},
                "android": {"collapse_key": outgoing.delivery_id[:40]},
                "apns": {"headers": {"apns-collapse-id": outgoing.delivery_id[:64]}},
            }
        }
        request = self._request(
            self._url(f"/v1/projects/{self.settings.account}/messages:send"),
            json=body,
            headers={"Authorization": f"Bearer {self._secret}"},
        )
        result = await self._send(request, ("name", "error"), lambda s: s.get("name"))
        return _flag_invalid(result, _fcm_unregistered(result.response))


class Twilio(HttpProvider):
    """`POST /2010-04-01/Accounts/{sid}/Messages.json`, form-encoded, HTTP Basic with the auth token."""

    async def send(self, outgoing: Outgoing) -> SendResult:
        if not outgoing.contact.phone:
            return no_address(Channel.SMS)
        form = {"To": outgoing.contact.phone, "Body": outgoing.message.body}
        sender = self.settings.sender or ""
        form["MessagingServiceSid" if sender.startswith("MG") else "From"] = sender
        if self.settings.status_callback_url:
            # Twilio signs the whole URL: ingest trusts the ids in it once the signature holds.
            form["StatusCallback"] = _with_query(
                self.settings.status_callback_url, delivery_id=outgoing.delivery_id, customer_id=outgoing.customer_id
            )
        request = self._request(self._url(f"/2010-04-01/Accounts/{self.settings.account}/Messages.json"), data=form)
        result = await self._send(
            request,
            ("sid", "status", "code", "message", "num_segments"),
            lambda s: s.get("sid"),
            auth=httpx.BasicAuth(self.settings.account or "", self._secret),
        )
        return _flag_invalid(result, result.response.get("code") in TWILIO_INVALID_NUMBER)


class WhatsApp(HttpProvider):
    """`POST /{version}/{phone_number_id}/messages` with a bearer token. A business-initiated message
    is the approved template (`settings.template`) with the text as its body parameter; without a
    template configured, a text message (valid inside the customer-service window)."""

    async def send(self, outgoing: Outgoing) -> SendResult:
        phone = outgoing.contact.phone
        if not phone:
            return no_address(Channel.WHATSAPP)
        message = outgoing.message
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": phone.lstrip("+"),
            # Echoed in status webhooks: how a receipt finds its delivery and customer.
            "biz_opaque_callback_data": callback_data(outgoing.delivery_id, outgoing.customer_id),
        }
        if self.settings.template:
            body["type"] = "template"
            body["template"] = {
                "name": self.settings.template,
                "language": {"code": self.settings.language},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": message.template_parameter}]}],
            }
        else:
            body["type"] = "text"
            body["text"] = {"preview_url": False, "body": message.text}
        request = self._request(
            self._url(f"/{self.settings.account}/messages"),  # base_url ends in the Graph API version
            json=body,
            headers={"Authorization": f"Bearer {self._secret}"},
        )

        def wamid(summary: dict[str, Any]) -> str | None:
            messages = summary.get("messages")
            return str(messages[0]["id"]) if isinstance(messages, list) and messages else None

        result = await self._send(request, ("messages", "error"), wamid)
        error = result.response.get("error")
        return _flag_invalid(result, isinstance(error, dict) and error.get("code") in WHATSAPP_NOT_A_USER)


class Webhook(HttpProvider):
    """`POST base_url` with the JSON body signed: `X-Metaconnect-Signature: t=<unix>,v1=<hex HMAC-SHA256>`."""

    async def send(self, outgoing: Outgoing) -> SendResult:
        raw = json.dumps(outgoing.message.payload, separators=(",", ":"), sort_keys=True).encode()
        request = self._request(
            self.settings.base_url,
            content=raw,
            headers={
                "Content-Type": "application/json",
                "X-Metaconnect-Signature": metaconnect_signature(self._secret, raw, int(time.time())),
                "Idempotency-Key": outgoing.delivery_id,
            },
        )
        return await self._send(request, ("id", "error"), lambda s: str(s["id"]) if "id" in s else None)


# Twilio: not a valid phone number, not a mobile number; WhatsApp: the number is not a WhatsApp user.
TWILIO_INVALID_NUMBER = frozenset({21211, 21614})
WHATSAPP_NOT_A_USER = frozenset({131026})


def _fcm_unregistered(response: Any) -> bool:
    error = response.get("error") if isinstance(response, dict) else None
    details = error.get("details", []) if isinstance(error, dict) else []
    return any(isinstance(d, dict) and d.get("errorCode") == "UNREGISTERED" for d in details)


def _flag_invalid(result: SendResult, invalid: bool) -> SendResult:
    return replace(result, address_invalid=True) if invalid and result.verdict is Verdict.PERMANENT else result


def callback_data(delivery_id: str, customer_id: str) -> str:
    """WhatsApp's `biz_opaque_callback_data`: `mc1:<delivery id>:<customer id>` (ingest reads it back)."""
    return f"mc1:{delivery_id}:{customer_id}"


def _with_query(url: str, **params: str) -> str:
    return str(httpx.URL(url).copy_merge_params(params))
