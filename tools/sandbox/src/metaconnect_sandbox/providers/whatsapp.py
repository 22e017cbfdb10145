"""WhatsApp Business Cloud API: send a text or template message, then signed status webhooks.

https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages
https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from metaconnect_common.signatures import META_SIGNATURE_HEADER, meta_signature
from metaconnect_sandbox.callbacks import Callback
from metaconnect_sandbox.config import SandboxConfig
from metaconnect_sandbox.faults import Fault
from metaconnect_sandbox.providers.common import bearer_token, parse_json, same_secret
from metaconnect_sandbox.state import ProviderAnswer, StateDep, answer

router = APIRouter(prefix="/whatsapp", tags=["whatsapp"])

MAX_TEXT_CHARS = 4096
WEBHOOK_EVENTS = ("sent", "delivered")

_VERSION = re.compile(r"^v\d+\.\d+$")
_NUMBER = re.compile(r"^\+?[1-9]\d{6,14}$")
_MESSAGE_FIELDS = frozenset(
    {"messaging_product", "recipient_type", "to", "type", "text", "template", "context", "biz_opaque_callback_data"}
)
_TEXT_FIELDS = frozenset({"body", "preview_url"})
# Template text parameters: no new lines, tabs or runs of more than 4 spaces (error 132018).
_BAD_TEMPLATE_TEXT = re.compile(r"[\n\t]| {5,}")


@dataclass(frozen=True)
class GraphProblem:
    """A Graph API error: its code, message and, for WhatsApp, the details."""

    code: int
    message: str
    details: str | None = None
    subcode: int | None = None


# The Graph API error usual for a scripted HTTP status.
_FAULTS = {
    400: GraphProblem(100, "(#100) Invalid parameter"),
    401: GraphProblem(190, "Invalid OAuth access token - Cannot parse access token"),
    403: GraphProblem(10, "(#10) Application does not have permission for this action"),
    429: GraphProblem(130429, "(#130429) Rate limit hit", "Cloud API message throughput has been reached."),
    500: GraphProblem(131000, "(#131000) Something went wrong"),
    503: GraphProblem(2, "(#2) Service temporarily unavailable"),
}


def graph_error(problem: GraphProblem) -> dict[str, Any]:
    error: dict[str, Any] = {"message": problem.message, "type": "OAuthException", "code": problem.code}
    if problem.subcode is not None:
        error["error_subcode"] = problem.subcode
    if problem.details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": problem.details}
    error["fbtrace_id"] = "A" + secrets.token_urlsafe(16)
    return {"error": error}


def fault_body(fault: Fault) -> dict[str, Any]:
    problem = _FAULTS.get(fault.status or 500, GraphProblem(1, "(#1) An unknown error occurred"))
    if isinstance(fault.error_code, int):
        problem = replace(problem, code=fault.error_code)
    if fault.message is not None:
        problem = replace(problem, message=fault.message)
    return graph_error(problem)


def message_problem(body: Any) -> GraphProblem | None:
    """Why `body` is not a valid text or template message for the Cloud API, or None."""
    if not isinstance(body, dict):
        return GraphProblem(100, "(#100) Invalid parameter", "The request body must be a JSON object.")
    for key in body:
        if key not in _MESSAGE_FIELDS:
            return GraphProblem(100, f'(#100) Unexpected key "{key}" on param "message".')
    if "messaging_product" not in body:
        return GraphProblem(100, "(#100) The parameter messaging_product is required.")
    if body["messaging_product"] != "whatsapp":
        got = body["messaging_product"]
        return GraphProblem(100, f"(#100) Param messaging_product must be one of {{WHATSAPP}} - got {got!r}.")
    if body.get("recipient_type", "individual") != "individual":
        return GraphProblem(100, "(#100) Param recipient_type must be one of {INDIVIDUAL}.")
    if "to" not in body:
        return GraphProblem(100, "(#100) The parameter to is required.")
    if not isinstance(body["to"], str) or not _NUMBER.match(body["to"]):
        return GraphProblem(
            100, "(#100) Invalid parameter", "Param to must be a phone number in international format: digits only."
        )
    kind = body.get("type", "text")
    if kind == "text":
        return _text_problem(body.get("text"))
    if kind == "template":
        return _template_problem(body.get("template"))
    return GraphProblem(
        100, f"(#100) Param type must be one of {{TEXT, TEMPLATE}} - got {kind!r} (the sandbox knows these two only)."
    )


def status_webhooks(config: SandboxConfig, url: str, wamid: str, recipient: str, opaque: str | None) -> list[Callback]:
    """The `sent` then `delivered` status webhooks for a message, signed as Meta signs them."""
    out = []
    secret = config.whatsapp_app_secret.get_secret_value()
    for event in WEBHOOK_EVENTS:
        timestamp = str(int(time.time()))
        status: dict[str, Any] = {"id": wamid, "status": event, "timestamp": timestamp, "recipient_id": recipient}
        if opaque is not None:
            status["biz_opaque_callback_data"] = opaque
        value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": config.whatsapp_display_phone_number,
                "phone_number_id": config.whatsapp_phone_number_id,
            },
            "statuses": [status],
        }
        envelope = {
            "object": "whatsapp_business_account",
            "entry": [{"id": config.whatsapp_business_account_id, "changes": [{"field": "messages", "value": value}]}],
        }
        body = json.dumps(envelope).encode()
        headers = {"Content-Type": "application/json", META_SIGNATURE_HEADER: meta_signature(secret, body)}
        out.append(Callback("whatsapp", url, event, wamid, body, headers))
    return out


@router.post("/{version}/{phone_number_id}/messages")
async def send_message(version: str, phone_number_id: str, request: Request, state: StateDep) -> JSONResponse:
    body, not_json = parse_json(await request.body())
    verdict = _verdict(state.config, version, phone_number_id, request.headers.get("authorization"), body, not_json)
    return await answer(state, request, "whatsapp", verdict, fault_body)


def _verdict(
    config: SandboxConfig,
    version: str,
    phone_number_id: str,
    authorization: str | None,
    body: Any,
    not_json: str | None,
) -> ProviderAnswer:
    token = bearer_token(authorization)
    auth_ok = same_secret(token, config.whatsapp_access_token.get_secret_value())
    message = body if isinstance(body, dict) else {}
    to = message.get("to")
    title, text = _summary(message)
    verdict = ProviderAnswer(200, {}, [to] if isinstance(to, str) else [], body, auth_ok, title=title, text=text)
    if not auth_ok:
        refused = (
            GraphProblem(104, "An access token is required to request this resource.")
            if token is None
            else _FAULTS[401]
        )
        return replace(verdict, status=401, error=refused.message, body=graph_error(refused))
    if problem := _request_problem(config, version, phone_number_id, not_json) or message_problem(body):
        return replace(verdict, status=400, error=problem.details or problem.message, body=graph_error(problem))
    assert isinstance(to, str)  # checked by message_problem
    wa_id = to.removeprefix("+")
    wamid = "wamid." + base64.b64encode(secrets.token_bytes(30)).decode()
    sent: dict[str, Any] = {"id": wamid}
    if message.get("type") == "template":
        sent["message_status"] = "accepted"
    answer_body = {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": wa_id}], "messages": [sent]}
    callbacks = (
        status_webhooks(config, config.whatsapp_webhook_url, wamid, wa_id, message.get("biz_opaque_callback_data"))
        if config.whatsapp_webhook_url
        else []
    )
    return replace(verdict, body=answer_body, message_id=wamid, callbacks=callbacks)


def _request_problem(
    config: SandboxConfig, version: str, phone_number_id: str, not_json: str | None
) -> GraphProblem | None:
    if not _VERSION.match(version):
        return GraphProblem(2500, f"Unknown path components: /{version}/{phone_number_id}/messages")
    if phone_number_id != config.whatsapp_phone_number_id:
        return GraphProblem(
            100,
            f"Unsupported post request. Object with ID '{phone_number_id}' does not exist, cannot be loaded due to "
            "missing permissions, or does not support this operation.",
            subcode=33,
        )
    if not_json is not None:
        return GraphProblem(100, "(#100) Invalid parameter", f"The request body is not JSON: {not_json}")
    return None


def _text_problem(text: Any) -> GraphProblem | None:
    if not isinstance(text, dict):
        return GraphProblem(100, "(#100) The parameter text is required.")
    for key in text:
        if key not in _TEXT_FIELDS:
            return GraphProblem(100, f'(#100) Unexpected key "{key}" on param "text".')
    body = text.get("body")
    if not isinstance(body, str) or not body:
        return GraphProblem(100, "(#100) The parameter text['body'] is required.")
    if len(body) > MAX_TEXT_CHARS:
        return GraphProblem(100, f"(#100) Param text['body'] must be at most {MAX_TEXT_CHARS} characters long.")
    if not isinstance(text.get("preview_url", False), bool):
        return GraphProblem(100, "(#100) Param text['preview_url'] must be a boolean.")
    return None


def _template_problem(template: Any) -> GraphProblem | None:
    if not isinstance(template, dict):
        return GraphProblem(100, "(#100) The parameter template is required.")
    if not isinstance(template.get("name"), str) or not template["name"]:
        return GraphProblem(100, "(#100) The parameter template['name'] is required.")
    language = template.get("language")
    if not isinstance(language, dict) or not isinstance(language.get("code"), str) or not language["code"]:
        return GraphProblem(100, "(#100) The parameter template['language']['code'] is required.")
    components = template.get("components", [])
    if not isinstance(components, list):
        return GraphProblem(100, "(#100) Param template['components'] must be an array.")
    for i, component in enumerate(components):
        where = f"template['components'][{i}]"
        if not isinstance(component, dict) or component.get("type") not in {"header", "body", "button", "footer"}:
            return GraphProblem(100, f"(#100) Param {where}['type'] must be one of {{HEADER, BODY, BUTTON, FOOTER}}.")
        parameters = component.get("parameters", [])
        if not isinstance(parameters, list) or not all(isinstance(p, dict) and "type" in p for p in parameters):
            return GraphProblem(100, f"(#100) Param {where}['parameters'] must be an array of typed parameters.")
        for j, parameter in enumerate(parameters):
            if parameter["type"] != "text":
                continue
            value = parameter.get("text")
            if not isinstance(value, str):
                return GraphProblem(100, f"(#100) The parameter {where}['parameters'][{j}]['text'] is required.")
            if _BAD_TEMPLATE_TEXT.search(value):
                return GraphProblem(
                    132018,
                    "(#132018) There was an issue with the parameters in your template.",
                    "Param text cannot have new-line/tab characters or more than 4 consecutive spaces",
                )
    return None


def _summary(message: dict[str, Any]) -> tuple[str | None, str | None]:
    """A title and text for people: the text body, or the template's name and its text parameters."""
    if message.get("type") == "template" and isinstance(message.get("template"), dict):
        template = message["template"]
        language = template.get("language")
        code = language.get("code") if isinstance(language, dict) else None
        texts = [
            str(parameter.get("text"))
            for component in template.get("components") or []
            if isinstance(component, dict)
            for parameter in component.get("parameters") or []
            if isinstance(parameter, dict) and parameter.get("type") == "text"
        ]
        return f"Template {template.get('name')} ({code})", " | ".join(texts) or None
    text = message.get("text")
    body = text.get("body") if isinstance(text, dict) else None
    return None, body if isinstance(body, str) else None
