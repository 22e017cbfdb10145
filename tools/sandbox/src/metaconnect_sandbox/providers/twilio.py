"""Twilio Programmable Messaging: create a Message, then signed status callbacks.

https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
https://www.twilio.com/docs/messaging/guides/track-outbound-message-status
"""

from __future__ import annotations

import math
import re
import secrets
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from metaconnect_common.signatures import TWILIO_SIGNATURE_HEADER, twilio_signature
from metaconnect_sandbox.callbacks import Callback
from metaconnect_sandbox.config import SandboxConfig
from metaconnect_sandbox.faults import Fault
from metaconnect_sandbox.providers.common import basic_credentials, same_secret
from metaconnect_sandbox.state import ProviderAnswer, StateDep, answer

router = APIRouter(prefix="/twilio", tags=["twilio"])

API_VERSION = "2010-04-01"
MAX_BODY_CHARS = 1600
CALLBACK_EVENTS = ("sent", "delivered")

_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
_SHORT_CODE = re.compile(r"^\d{5,6}$")
_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")

# Twilio's error code and message usual for a scripted HTTP status.
_FAULTS = {
    400: (21211, "Invalid 'To' Phone Number"),
    401: (20003, "Authenticate"),
    404: (20404, "The requested resource was not found"),
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}

# GSM 03.38: the basic set costs one septet, the extension set two; anything else means UCS-2.
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")


def twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    return {"code": code, "message": message, "more_info": more_info, "status": status}


def fault_body(fault: Fault) -> dict[str, Any]:
    status = fault.status or 500
    usual_code, usual_message = _FAULTS.get(status, (20000 + status, "Scripted sandbox error"))
    code = fault.error_code if isinstance(fault.error_code, int) else usual_code
    return twilio_error(status, code, fault.message or usual_message)


def sms_segments(body: str) -> int:
    """How many SMS segments `body` takes: GSM-7 when it can, else UCS-2 (as Twilio counts them)."""
    if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in body):
        units, single, part = sum(2 if c in _GSM_EXTENDED else 1 for c in body), 160, 153
    else:
        units, single, part = len(body.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else math.ceil(units / part)


def message_problem(params: dict[str, str]) -> tuple[int, str] | None:
    """(Twilio error code, message) when a create-Message request is invalid, else None."""
    to, sender, service = params.get("To"), params.get("From"), params.get("MessagingServiceSid")
    body, callback = params.get("Body"), params.get("StatusCallback")
    if not to:
        return 21604, "A 'To' phone number is required."
    if not _E164.match(to):
        return 21211, f"Invalid 'To' Phone Number: {to}"
    if not sender and not service:
        return 21603, "A 'From' phone number is required."
    if sender and not (_E164.match(sender) or _ALPHANUMERIC_SENDER.match(sender) or _SHORT_CODE.match(sender)):
        return 21212, f"Invalid From Number (caller ID): {sender}"
    if service and not _SERVICE_SID.match(service):
        return 21701, f"The Messaging Service Sid {service} is invalid."
    if not body and not params.get("MediaUrl") and not params.get("ContentSid"):
        return 21602, "Message body is required."
    if body and len(body) > MAX_BODY_CHARS:
        return 21617, f"The concatenated message body exceeds the {MAX_BODY_CHARS} character limit."
    if callback and not _is_http_url(callback):
        return 21609, f"The StatusCallback URL {callback} is not a valid URL."
    return None


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018  # raises on a port that is not a number
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.hostname)


def status_callbacks(config: SandboxConfig, url: str, message: dict[str, Any]) -> list[Callback]:
    """The `sent` then `delivered` callbacks for a created `message`, signed as Twilio signs them."""
    out = []
    token = config.twilio_auth_token.get_secret_value()
    for event in CALLBACK_EVENTS:
        params = {
            "AccountSid": config.twilio_account_sid,
            "ApiVersion": API_VERSION,
            "From": message["from"] or config.twilio_service_number,
            "MessageSid": message["sid"],
            "MessageStatus": event,
            "SmsSid": message["sid"],
            "SmsStatus": event,
            "To": message["to"],
        }
        if message["messaging_service_sid"]:
            params["MessagingServiceSid"] = message["messaging_service_sid"]
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            TWILIO_SIGNATURE_HEADER: twilio_signature(token, url, params),
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
            "User-Agent": "metaconnect-sandbox (TwilioProxy)",
        }
        out.append(Callback("twilio", url, event, message["sid"], urlencode(params).encode(), headers))
    return out


@router.post(f"/{API_VERSION}/Accounts/{{account_sid}}/Messages.json")
async def create_message(account_sid: str, request: Request, state: StateDep) -> JSONResponse:
    raw = await request.body()
    # Twilio reads form parameters only: any other body leaves every parameter missing.
    form = request.headers.get("content-type", "").lower().startswith("application/x-www-form-urlencoded")
    pairs = parse_qsl(raw.decode(errors="replace"), keep_blank_values=True) if form else []
    verdict = _verdict(state.config, account_sid, request.headers.get("authorization"), pairs)
    return await answer(state, request, "twilio", verdict, fault_body)


def _verdict(
    config: SandboxConfig, account_sid: str, authorization: str | None, pairs: list[tuple[str, str]]
) -> ProviderAnswer:
    params = dict(pairs)
    credentials = basic_credentials(authorization)
    auth_ok = credentials is not None and (
        same_secret(credentials[0], config.twilio_account_sid)
        and same_secret(credentials[1], config.twilio_auth_token.get_secret_value())
    )
    sender = params.get("From") or params.get("MessagingServiceSid")
    verdict = ProviderAnswer(
        201,
        {},
        [params["To"]] if params.get("To") else [],
        _recorded_form(pairs),
        auth_ok,
        title=f"From {sender}" if sender else None,
        text=params.get("Body"),
    )
    if not auth_ok:
        body = twilio_error(401, 20003, "Authenticate")
        headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'}
        return replace(verdict, status=401, error="Authenticate", headers=headers, body=body)
    if account_sid != config.twilio_account_sid:
        reason = f"The requested resource /{API_VERSION}/Accounts/{account_sid}/Messages.json was not found"
        return replace(verdict, status=404, error=reason, body=twilio_error(404, 20404, reason))
    if problem := message_problem(params):
        code, reason = problem
        return replace(verdict, status=400, error=reason, body=twilio_error(400, code, reason))
    message = _created_message(config, params)
    callback_url = params.get("StatusCallback")
    callbacks = status_callbacks(config, callback_url, message) if callback_url else []
    return replace(verdict, body=message, message_id=message["sid"], callbacks=callbacks)


def _created_message(config: SandboxConfig, params: dict[str, str]) -> dict[str, Any]:
    sid = "SM" + secrets.token_hex(16)
    now = format_datetime(datetime.now(UTC))
    base = f"/{API_VERSION}/Accounts/{config.twilio_account_sid}/Messages/{sid}"
    body = params.get("Body", "")
    return {
        "account_sid": config.twilio_account_sid,
        "api_version": API_VERSION,
        "body": body,
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": params.get("From"),
        "messaging_service_sid": params.get("MessagingServiceSid"),
        "num_media": "0",
        "num_segments": str(sms_segments(body)),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        # A Messaging Service picks the sender later: Twilio says "accepted" until then.
        "status": "queued" if params.get("From") else "accepted",
        "subresource_uris": {"media": f"{base}/Media.json"},
        "to": params["To"],
        "uri": f"{base}.json",
    }


def _recorded_form(pairs: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    form: dict[str, str | list[str]] = {}
    for name, value in pairs:
        previous = form.get(name)
        if previous is None:
            form[name] = value
        else:
            form[name] = [*([previous] if isinstance(previous, str) else previous), value]
    return form
