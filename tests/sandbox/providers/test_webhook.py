"""The generic webhook receiver and its `X-Metaconnect-Signature` check."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from metaconnect_common.signatures import metaconnect_signature
from metaconnect_sandbox import Sandbox
from tests.sandbox.conftest import WEBHOOK_SECRET

pytestmark = pytest.mark.asyncio(loop_scope="module")

BODY = json.dumps({"type": "delivery.sent", "delivery_id": "d-1"}).encode()
JSON = {"Content-Type": "application/json"}


async def test_accepts_any_json_when_no_secret_is_set(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    response = await client.post("/webhook/open", json=[1, "two", {"three": None}])
    assert response.status_code == 200
    assert response.json() == {"received": True}
    [received] = sandbox.messages("webhook", to="open")
    assert (received.payload, received.signature, received.auth_ok) == ([1, "two", {"three": None}], None, True)


async def test_accepts_a_good_signature(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    signature = metaconnect_signature(WEBHOOK_SECRET, BODY, int(time.time()))
    response = await client.post(
        "/webhook/signed", content=BODY, headers={**JSON, "X-Metaconnect-Signature": signature}
    )
    assert response.status_code == 200
    [received] = sandbox.messages("webhook")
    assert (received.signature, received.auth_ok, received.title) == ("valid", True, "delivery.sent")
    assert received.payload == json.loads(BODY)
    assert received.headers["x-metaconnect-signature"] == signature


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, "missing"),
        ("t=1,v2=abc", "malformed"),
        (metaconnect_signature("another secret", BODY, int(time.time())), "mismatch"),
        (metaconnect_signature(WEBHOOK_SECRET, BODY + b" ", int(time.time())), "mismatch"),
        (metaconnect_signature(WEBHOOK_SECRET, BODY, int(time.time()) - 301), "stale"),
    ],
    ids=["missing", "malformed", "other-secret", "other-body", "stale"],  # the same in every worker
)
async def test_refuses_bad_signatures_and_records_why(
    client: httpx.AsyncClient, sandbox: Sandbox, signature: str | None, reason: str
) -> None:
    headers = JSON if signature is None else {**JSON, "X-Metaconnect-Signature": signature}
    response = await client.post("/webhook/signed", content=BODY, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": {"status": 401, "message": f"X-Metaconnect-Signature: {reason}"}}
    [received] = sandbox.messages("webhook")
    assert (received.signature, received.auth_ok, received.status) == (reason, False, 401)
    assert received.payload == json.loads(BODY)


async def test_refuses_a_body_that_is_not_json(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    response = await client.post("/webhook/open", content=b"<xml/>")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("body is not JSON")
    assert sandbox.messages("webhook")[0].payload == "<xml/>"
