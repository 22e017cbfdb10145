"""Firebase Cloud Messaging HTTP v1: `projects.messages.send`.

https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from metaconnect_sandbox.faults import Fault
from metaconnect_sandbox.providers.common import bearer_token, compact_json, parse_json, same_secret
from metaconnect_sandbox.state import ProviderAnswer, SandboxState, StateDep, answer

router = APIRouter(prefix="/fcm", tags=["fcm"])

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"

# Google's canonical status per HTTP status, FCM's errorCode, and the usual message.
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_ERROR_CODE = {
    400: "INVALID_ARGUMENT",
    403: "SENDER_ID_MISMATCH",
    404: "UNREGISTERED",
    429: "QUOTA_EXCEEDED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_MESSAGE = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
    "or other valid authentication credential.",
    403: "SenderId mismatch",
    404: "Requested entity was not found.",
    429: "Quota exceeded for quota metric 'Send requests' of service 'fcm.googleapis.com'.",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
}

_MESSAGE_FIELDS = frozenset(
    {"name", "data", "notification", "android", "webpush", "apns", "fcm_options", "token", "topic", "condition"}
)
_NOTIFICATION_FIELDS = frozenset({"title", "body", "image"})
_ANDROID_FIELDS = frozenset(
    {
        "collapse_key",
        "priority",
        "ttl",
        "restricted_package_name",
        "data",
        "notification",
        "fcm_options",
        "direct_boot_ok",
    }
)
_APNS_FIELDS = frozenset({"headers", "payload", "fcm_options", "live_activity_token"})
_RESERVED_DATA_KEYS = frozenset({"from", "notification", "message_type"})
_DURATION = re.compile(r"^\d+(\.\d{1,9})?s$")
_TOPIC = re.compile(r"^[a-zA-Z0-9\-_.~%]+$")


def google_error(status: int, message: str, error_code: str | None) -> dict[str, Any]:
    """Google's error body; FCM adds an `FcmError` detail naming its own error code."""
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": _STATUS.get(status, "UNKNOWN" if status >= 500 else "FAILED_PRECONDITION"),
    }
    if error_code is not None:
        error["details"] = [{"@type": FCM_ERROR_TYPE, "errorCode": error_code}]
    return {"error": error}


def fault_body(fault: Fault) -> dict[str, Any]:
    status = fault.status or 500
    code = str(fault.error_code) if fault.error_code is not None else _ERROR_CODE.get(status)
    return google_error(status, fault.message or _MESSAGE.get(status, "Scripted sandbox error."), code)


def send_request_problem(body: Any) -> str | None:
    """Why `body` is not a valid `messages:send` request body, or None."""
    if not isinstance(body, dict):
        return "Invalid JSON payload received. Expected an object."
    if problem := _unknown_field(body, frozenset({"message", "validate_only"}), ""):
        return problem
    if "validate_only" in body and not isinstance(body["validate_only"], bool):
        return _invalid("validate_only", "TYPE_BOOL", body["validate_only"])
    message = body.get("message")
    if not isinstance(message, dict):
        return "Invalid value at 'message': a Message object is required."
    return _message_problem(message)


def recipient(message: dict[str, Any]) -> str:
    if "token" in message:
        return str(message["token"])
    if "topic" in message:
        return f"/topics/{message['topic']}"
    return str(message.get("condition", ""))


@router.post("/v1/projects/{project_id}/messages:send")
async def send_message(project_id: str, request: Request, state: StateDep) -> JSONResponse:
    body, not_json = parse_json(await request.body())
    verdict = _verdict(state, project_id, request.headers.get("authorization"), body, not_json)
    return await answer(state, request, "fcm", verdict, fault_body)


def _verdict(
    state: SandboxState, project_id: str, authorization: str | None, body: Any, not_json: str | None
) -> ProviderAnswer:
    message = body.get("message") if isinstance(body, dict) else None
    message = message if isinstance(message, dict) else {}
    to = [recipient(message)] if message else []
    auth_ok = same_secret(bearer_token(authorization), state.config.fcm_access_token.get_secret_value())
    notification = message.get("notification")
    notification = notification if isinstance(notification, dict) else {}
    title = notification.get("title")
    text = notification.get("body") or (compact_json(message["data"]) if "data" in message else None)
    verdict = ProviderAnswer(200, {}, to, body, auth_ok, title=_text_or_none(title), text=_text_or_none(text))
    if refusal := _refusal(state, project_id, auth_ok, body, not_json):
        status, reason, error_code = refusal
        return replace(verdict, status=status, error=reason, body=google_error(status, reason, error_code))
    # validate_only answers with a placeholder id, as FCM does.
    message_id = (
        "fake_message_id" if body.get("validate_only") else f"0:{time.time_ns() // 1000}%{secrets.token_hex(8)}"
    )
    name = f"projects/{project_id}/messages/{message_id}"
    return replace(verdict, message_id=name, body={"name": name})


def _refusal(
    state: SandboxState, project_id: str, auth_ok: bool, body: Any, not_json: str | None
) -> tuple[int, str, str | None] | None:
    """(HTTP status, message, FCM errorCode) when FCM would refuse the request."""
    if not auth_ok:
        return 401, _MESSAGE[401], None
    if project_id != state.config.fcm_project_id:
        return (
            403,
            f"Permission 'cloudmessaging.messages.create' denied on resource "
            f"'//cloudresourcemanager.googleapis.com/projects/{project_id}' (or it may not exist).",
            None,
        )
    if not_json is not None:
        return 400, f"Invalid JSON payload received. {not_json}", "INVALID_ARGUMENT"
    if problem := send_request_problem(body):
        return 400, problem, "INVALID_ARGUMENT"
    if body["message"].get("token") in state.fcm_unregistered:
        return 404, _MESSAGE[404], "UNREGISTERED"
    return None


def _message_problem(message: dict[str, Any]) -> str | None:
    if problem := _unknown_field(message, _MESSAGE_FIELDS, "message"):
        return problem
    targets = [key for key in ("token", "topic", "condition") if key in message]
    if len(targets) != 1:
        return "Exactly one of message.token, message.topic or message.condition must be set."
    target = targets[0]
    if not isinstance(message[target], str) or not message[target]:
        return _invalid(f"message.{target}", "TYPE_STRING", message[target])
    if target == "topic" and not _TOPIC.match(message["topic"].removeprefix("/topics/")):
        return f"Invalid topic name: {message['topic']}"
    if "data" in message and (problem := _data_problem(message["data"], "message.data")):
        return problem
    if "notification" in message and (problem := _notification_problem(message["notification"])):
        return problem
    if "android" in message and (problem := _android_problem(message["android"])):
        return problem
    if "apns" in message and (problem := _apns_problem(message["apns"])):
        return problem
    if "webpush" in message and not isinstance(message["webpush"], dict):
        return "Invalid value at 'message.webpush': a WebpushConfig object is required."
    return None


def _data_problem(data: Any, where: str) -> str | None:
    if problem := _string_map_problem(data, where):
        return problem
    for key in data:
        if key in _RESERVED_DATA_KEYS or key.startswith(("google.", "gcm.")):
            return f"Invalid data payload key: {key!r} is reserved."
    return None


def _notification_problem(notification: Any) -> str | None:
    where = "message.notification"
    return _strings_problem(notification, where) or _unknown_field(notification, _NOTIFICATION_FIELDS, where)


def _android_problem(android: Any) -> str | None:
    if not isinstance(android, dict):
        return "Invalid value at 'message.android': an AndroidConfig object is required."
    if problem := _unknown_field(android, _ANDROID_FIELDS, "message.android"):
        return problem
    priority = android.get("priority", "NORMAL")
    if not isinstance(priority, str) or priority.upper() not in {"NORMAL", "HIGH"}:
        return _invalid("message.android.priority", "TYPE_ENUM", priority)
    ttl = android.get("ttl", "0s")
    if not isinstance(ttl, str) or not _DURATION.match(ttl):
        return f"Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), {ttl!r}"
    if "data" in android and (problem := _data_problem(android["data"], "message.android.data")):
        return problem
    if "notification" in android and not isinstance(android["notification"], dict):
        return "Invalid value at 'message.android.notification': an AndroidNotification object is required."
    return None


def _apns_problem(apns: Any) -> str | None:
    if not isinstance(apns, dict):
        return "Invalid value at 'message.apns': an ApnsConfig object is required."
    if problem := _unknown_field(apns, _APNS_FIELDS, "message.apns"):
        return problem
    if "headers" in apns and (problem := _string_map_problem(apns["headers"], "message.apns.headers")):
        return problem
    if "payload" in apns and not isinstance(apns["payload"], dict):
        return "Invalid value at 'message.apns.payload' (type.googleapis.com/google.protobuf.Struct)"
    return None


def _string_map_problem(value: Any, where: str) -> str | None:
    if not isinstance(value, dict):
        return f"Invalid value at '{where}': a map of strings to strings is required."
    for i, item in enumerate(value.values()):
        if not isinstance(item, str):
            return _invalid(f"{where}[{i}].value", "TYPE_STRING", item)
    return None


def _strings_problem(value: Any, where: str) -> str | None:
    if not isinstance(value, dict):
        return f"Invalid value at '{where}': an object is required."
    for key, item in value.items():
        if not isinstance(item, str):
            return _invalid(f"{where}.{key}", "TYPE_STRING", item)
    return None


def _unknown_field(value: dict[str, Any], allowed: frozenset[str], where: str) -> str | None:
    for key in value:
        if key not in allowed:
            at = f" at '{where}'" if where else ""
            return f'Invalid JSON payload received. Unknown name "{key}"{at}: Cannot find field.'
    return None


def _invalid(where: str, expected: str, value: Any) -> str:
    return f"Invalid value at '{where}' ({expected}), {json.dumps(value)}"


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
