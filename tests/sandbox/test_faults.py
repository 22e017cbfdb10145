"""Scripted faults: each provider's error shape, consumed one per request, in order."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from metaconnect_sandbox import Sandbox
from metaconnect_sandbox.faults import Provider
from tests.sandbox.conftest import send

pytestmark = pytest.mark.asyncio(loop_scope="module")


def error_code(provider: str, body: dict[str, Any]) -> object:
    """The provider's own error code in its error body."""
    if provider == "fcm":
        return (body["error"]["status"], body["error"]["details"][0]["errorCode"])
    if provider == "twilio":
        return body["code"]
    if provider == "whatsapp":
        return body["error"]["code"]
    return body["error"]["status"]


SUCCESS = {"fcm": 200, "twilio": 201, "whatsapp": 200, "webhook": 200}
USUAL_CODES = {
    "fcm": [
        ("INTERNAL", "INTERNAL"),
        ("RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
        ("INVALID_ARGUMENT", "INVALID_ARGUMENT"),
    ],
    "twilio": [20500, 20429, 21211],
    "whatsapp": [131000, 130429, 100],
    "webhook": [500, 429, 400],
}


@pytest.mark.parametrize("provider", ["fcm", "twilio", "whatsapp", "webhook"])
async def test_errors_are_answered_in_order_in_the_providers_shape(
    client: httpx.AsyncClient, sandbox: Sandbox, provider: Provider
) -> None:
    script = {"provider": provider, "responses": [{"status": 500}, {"status": 429, "retry_after": 7}, {"status": 400}]}
    queued = await client.post("/_sandbox/faults", json=script)
    assert queued.status_code == 200
    assert len(queued.json()["pending"][provider]) == 3

    answers = [await send(client, provider) for _ in range(4)]

    assert [r.status_code for r in answers] == [500, 429, 400, SUCCESS[provider]]
    assert [r.headers.get("retry-after") for r in answers] == [None, "7", None, None]
    assert [error_code(provider, r.json()) for r in answers[:3]] == USUAL_CODES[provider]
    recorded = sandbox.messages(provider)
    assert [m.status for m in recorded] == [500, 429, 400, SUCCESS[provider]]
    assert [m.fault.status if m.fault else None for m in recorded] == [500, 429, 400, None]
    assert (await client.get("/_sandbox/faults")).json() == {"pending": {}}


@pytest.mark.parametrize(
    ("provider", "override", "expected"),
    [
        ("fcm", "SENDER_ID_MISMATCH", ("INVALID_ARGUMENT", "SENDER_ID_MISMATCH")),
        ("twilio", 21610, 21610),
        ("whatsapp", 131026, 131026),
    ],
)
async def test_a_fault_can_name_the_providers_error_code(
    client: httpx.AsyncClient, provider: str, override: object, expected: object
) -> None:
    script = {"provider": provider, "responses": [{"status": 400, "error_code": override, "message": "scripted"}]}
    await client.post("/_sandbox/faults", json=script)
    response = await send(client, provider)
    assert response.status_code == 400
    assert error_code(provider, response.json()) == expected
    assert "scripted" in response.text


async def test_a_delay_makes_a_client_time_out_then_answers_normally(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    await client.post("/_sandbox/faults", json={"provider": "fcm", "responses": [{"delay_s": 1.0}]})
    async with httpx.AsyncClient(base_url=sandbox.http_url, timeout=0.2) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            await send(impatient, "fcm")
    # The sandbox got it (as a real provider would have), and is still answering.
    [delayed] = sandbox.messages("fcm")
    assert delayed.fault is not None
    assert delayed.fault.delay_s == 1.0
    assert delayed.status is None
    assert (await send(client, "fcm")).status_code == 200


async def test_a_delay_can_precede_an_error(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/faults", json={"provider": "twilio", "responses": [{"delay_s": 0.1, "status": 503}]})
    response = await send(client, "twilio")
    assert response.status_code == 503
    assert response.json()["code"] == 20503


async def test_faults_are_per_provider_and_can_be_cleared(client: httpx.AsyncClient) -> None:
    for provider in ("fcm", "twilio", "smtp"):
        fault = {"smtp_code": 451} if provider == "smtp" else {"status": 500}
        await client.post("/_sandbox/faults", json={"provider": provider, "responses": [fault, fault]})
    assert (await send(client, "whatsapp")).status_code == 200

    assert (await client.delete("/_sandbox/faults", params={"provider": "fcm"})).status_code == 204
    pending = (await client.get("/_sandbox/faults")).json()["pending"]
    assert sorted(pending) == ["smtp", "twilio"]
    assert (await send(client, "fcm")).status_code == 200

    assert (await client.delete("/_sandbox/faults")).status_code == 204
    assert (await client.get("/_sandbox/faults")).json() == {"pending": {}}
    assert (await send(client, "twilio")).status_code == 201


@pytest.mark.parametrize(
    "script",
    [
        {"provider": "smtp", "responses": [{"status": 500}]},
        {"provider": "fcm", "responses": [{"smtp_code": 451}]},
        {"provider": "fcm", "responses": []},
        {"provider": "fcm", "responses": [{"retry_after": 3}]},
        {"provider": "fcm", "responses": [{"status": 200}]},
        {"provider": "fcm", "responses": [{"status": 500, "colour": "red"}]},
        {"provider": "apns", "responses": [{"status": 500}]},
    ],
)
async def test_refuses_scripts_that_cannot_be_played(client: httpx.AsyncClient, script: dict[str, Any]) -> None:
    response = await client.post("/_sandbox/faults", json=script)
    assert response.status_code == 422
    assert (await client.get("/_sandbox/faults")).json() == {"pending": {}}
