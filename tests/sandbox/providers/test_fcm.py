"""The fake FCM HTTP v1 `messages:send`, over a real socket."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from metaconnect_sandbox import Sandbox
from tests.sandbox.conftest import FCM_TOKEN

pytestmark = pytest.mark.asyncio(loop_scope="module")

SEND = "/fcm/v1/projects/proj-1/messages:send"
AUTH = {"Authorization": f"Bearer {FCM_TOKEN}"}
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"


def fcm_error(response: httpx.Response) -> tuple[str, str | None]:
    """(status name, FCM errorCode) from Google's error body."""
    error = response.json()["error"]
    assert error["code"] == response.status_code
    details = error.get("details") or [{}]
    if details != [{}]:
        assert details[0]["@type"] == FCM_ERROR
    return error["status"], details[0].get("errorCode")


async def test_sends_and_records_a_notification(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    message = {
        "token": "device-1",
        "notification": {"title": "Your order", "body": "has shipped"},
        "data": {"order_id": "42"},
        "android": {"priority": "HIGH", "ttl": "3600s"},
        "apns": {"headers": {"apns-priority": "10"}, "payload": {"aps": {"sound": "default"}}},
    }
    response = await client.post(SEND, headers=AUTH, json={"message": message})
    assert response.status_code == 200
    name = response.json()["name"]
    assert re.fullmatch(r"projects/proj-1/messages/0:\d+%[0-9a-f]{16}", name)
    [received] = sandbox.messages("fcm")
    assert received.to == ["device-1"]
    assert received.payload == {"message": message}
    assert (received.title, received.text) == ("Your order", "has shipped")
    assert (received.status, received.message_id, received.auth_ok) == (200, name, True)


async def test_validate_only_answers_a_placeholder_name(client: httpx.AsyncClient) -> None:
    body = {"validate_only": True, "message": {"topic": "news", "data": {"k": "v"}}}
    response = await client.post(SEND, headers=AUTH, json=body)
    assert response.json() == {"name": "projects/proj-1/messages/fake_message_id"}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {FCM_TOKEN}"}])
async def test_refuses_missing_or_wrong_credentials(
    client: httpx.AsyncClient, sandbox: Sandbox, headers: dict[str, str]
) -> None:
    response = await client.post(SEND, headers=headers, json={"message": {"token": "t"}})
    assert response.status_code == 401
    assert fcm_error(response) == ("UNAUTHENTICATED", None)
    assert sandbox.messages("fcm")[0].auth_ok is False


async def test_refuses_another_project(client: httpx.AsyncClient) -> None:
    response = await client.post("/fcm/v1/projects/other/messages:send", headers=AUTH, json={"message": {"token": "t"}})
    assert response.status_code == 403
    assert fcm_error(response) == ("PERMISSION_DENIED", None)


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"message": {"token": "t", "data": {"n": 1}}}, "message.data[0].value' (TYPE_STRING), 1"),
        ({"message": {"token": "t", "data": {"from": "x"}}}, "reserved"),
        ({"message": {"token": "t", "notification": {"title": 3}}}, "message.notification.title"),
        ({"message": {"token": "t", "notification": {"subtitle": "x"}}}, 'Unknown name "subtitle"'),
        ({"message": {"token": "t", "colour": "red"}}, "Unknown name \"colour\" at 'message'"),
        ({"message": {"notification": {"title": "x"}}}, "Exactly one of"),
        ({"message": {"token": "t", "topic": "news"}}, "Exactly one of"),
        ({"message": {"token": ""}}, "message.token"),
        ({"message": {"token": "t", "android": {"ttl": "1h"}}}, "message.android.ttl"),
        ({"message": {"token": "t", "android": {"priority": "urgent"}}}, "message.android.priority"),
        ({"message": {"token": "t", "apns": {"headers": {"apns-priority": 10}}}}, "message.apns.headers[0].value"),
        ({"message": "hello"}, "Message object is required"),
        ({"msg": {}}, 'Unknown name "msg"'),
        ([1, 2], "Expected an object"),
    ],
)
async def test_refuses_invalid_messages_as_invalid_argument(
    client: httpx.AsyncClient, sandbox: Sandbox, body: Any, complaint: str
) -> None:
    response = await client.post(SEND, headers=AUTH, json=body)
    assert response.status_code == 400
    assert fcm_error(response) == ("INVALID_ARGUMENT", "INVALID_ARGUMENT")
    assert complaint in response.json()["error"]["message"]
    assert sandbox.messages("fcm")[0].error == response.json()["error"]["message"]


async def test_refuses_a_body_that_is_not_json(client: httpx.AsyncClient) -> None:
    response = await client.post(SEND, headers={**AUTH, "Content-Type": "application/json"}, content=b"{nope")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("Invalid JSON payload received.")


async def test_unregistered_tokens_answer_not_found(client: httpx.AsyncClient) -> None:
    configured = await client.post(SEND, headers=AUTH, json={"message": {"token": "dead-token"}})
    assert configured.status_code == 404
    assert fcm_error(configured) == ("NOT_FOUND", "UNREGISTERED")

    before = await client.post(SEND, headers=AUTH, json={"message": {"token": "uninstalled"}})
    added = await client.post("/_sandbox/fcm/unregistered-tokens", json={"tokens": ["uninstalled"]})
    after = await client.post(SEND, headers=AUTH, json={"message": {"token": "uninstalled"}})
    assert before.status_code == 200
    assert added.json() == {"unregistered": ["dead-token", "uninstalled"]}
    assert after.status_code == 404
    assert fcm_error(after) == ("NOT_FOUND", "UNREGISTERED")
