"""The fake Twilio Messages API and its signed status callbacks, over real sockets."""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qsl

import httpx
import pytest

from metaconnect_common.signatures import twilio_signature_valid
from metaconnect_sandbox import Sandbox
from tests.sandbox.conftest import TWILIO_SID, TWILIO_TOKEN, CallbackReceiver
from tests.support import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

MESSAGES = f"/twilio/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
AUTH = (TWILIO_SID, TWILIO_TOKEN)
SMS = {"To": "+447700900123", "From": "+15005550006", "Body": "Your code is 1234"}


async def both_callbacks_sent(sandbox: Sandbox) -> bool:
    return len(sandbox.state.recorder.callbacks()) == 2


def twilio_error(response: httpx.Response) -> int:
    body = response.json()
    assert body["status"] == response.status_code
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{body['code']}"
    assert body["message"]
    code: int = body["code"]
    return code


async def test_creates_a_message(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    response = await client.post(MESSAGES, auth=AUTH, data=SMS)
    assert response.status_code == 201
    body = response.json()
    assert re.fullmatch(r"SM[0-9a-f]{32}", body["sid"])
    assert body["status"] == "queued"
    assert (body["to"], body["from"], body["body"]) == (SMS["To"], SMS["From"], SMS["Body"])
    assert (body["account_sid"], body["api_version"], body["num_segments"]) == (TWILIO_SID, "2010-04-01", "1")
    assert body["uri"] == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/{body['sid']}.json"
    assert body["date_created"].endswith("+0000")
    [received] = sandbox.messages("twilio")
    assert (received.to, received.payload, received.status) == ([SMS["To"]], SMS, 201)
    assert (received.message_id, received.text, received.auth_ok) == (body["sid"], SMS["Body"], True)


async def test_a_messaging_service_message_is_accepted_without_from(client: httpx.AsyncClient) -> None:
    service = "MG" + "0" * 32
    response = await client.post(
        MESSAGES, auth=AUTH, data={"To": SMS["To"], "MessagingServiceSid": service, "Body": "x"}
    )
    assert response.status_code == 201
    assert (response.json()["status"], response.json()["from"]) == ("accepted", None)
    assert response.json()["messaging_service_sid"] == service


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic(TWILIO_SID, "wrong"),
        basic("AC" + "cd" * 16, TWILIO_TOKEN),
        {"Authorization": f"Bearer {TWILIO_TOKEN}"},
    ],
    ids=["none", "wrong-token", "wrong-sid", "bearer"],
)
async def test_refuses_bad_credentials(client: httpx.AsyncClient, sandbox: Sandbox, headers: dict[str, str]) -> None:
    response = await client.post(MESSAGES, headers=headers, data=SMS)
    assert response.status_code == 401
    assert twilio_error(response) == 20003
    assert response.headers["www-authenticate"].startswith("Basic")
    assert sandbox.messages("twilio")[0].auth_ok is False


async def test_another_account_in_the_path_is_not_found(client: httpx.AsyncClient) -> None:
    other = MESSAGES.replace(TWILIO_SID, "AC" + "cd" * 16)
    response = await client.post(other, auth=AUTH, data=SMS)
    assert response.status_code == 404
    assert twilio_error(response) == 20404


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"To": "07700900123"}, 21211),
        ({"To": "+0123"}, 21211),
        ({"To": ""}, 21604),
        ({"From": ""}, 21603),
        ({"From": "not a valid sender"}, 21212),
        ({"MessagingServiceSid": "MG123", "From": ""}, 21701),
        ({"Body": ""}, 21602),
        ({"Body": "x" * 1601}, 21617),
        ({"StatusCallback": "ftp://example.com/cb"}, 21609),
    ],
)
async def test_refuses_invalid_messages(client: httpx.AsyncClient, change: dict[str, str], code: int) -> None:
    response = await client.post(MESSAGES, auth=AUTH, data={**SMS, **change})
    assert response.status_code == 400
    assert twilio_error(response) == code


async def test_reads_form_parameters_only(client: httpx.AsyncClient) -> None:
    response = await client.post(MESSAGES, auth=AUTH, json=SMS)
    assert response.status_code == 400
    assert twilio_error(response) == 21604


@pytest.mark.parametrize(
    ("character", "count", "segments"),
    [
        ("a", 160, 1),
        ("a", 161, 2),
        ("a", 306, 2),
        ("a", 307, 3),
        ("€", 80, 1),  # GSM-7 extension characters take two septets
        ("€", 81, 2),
        ("é", 160, 1),  # in GSM-7's basic set
        ("ł", 70, 1),  # not in GSM-7: UCS-2
        ("ł", 71, 2),
        ("😀", 35, 1),  # two UTF-16 units each
        ("😀", 36, 2),
    ],
    ids=lambda value: value if isinstance(value, int) else f"U+{ord(value):04X}",
)
async def test_counts_segments_like_twilio(
    client: httpx.AsyncClient, character: str, count: int, segments: int
) -> None:
    response = await client.post(MESSAGES, auth=AUTH, data={**SMS, "Body": character * count})
    assert response.json()["num_segments"] == str(segments)


async def test_status_callbacks_arrive_signed(
    client: httpx.AsyncClient, sandbox: Sandbox, receiver: CallbackReceiver
) -> None:
    callback_url = f"{receiver.url}/twilio/status?tenant=t1"
    response = await client.post(MESSAGES, auth=AUTH, data={**SMS, "StatusCallback": callback_url})
    sid = response.json()["sid"]

    first, second = await receiver.wait(2)
    statuses = []
    for delivered in (first, second):
        params = parse_qsl(delivered.body.decode(), keep_blank_values=True)
        signature = delivered.headers["x-twilio-signature"]
        assert delivered.url == callback_url
        assert delivered.headers["content-type"] == "application/x-www-form-urlencoded"
        assert twilio_signature_valid(TWILIO_TOKEN, callback_url, params, signature)
        assert not twilio_signature_valid(TWILIO_TOKEN, callback_url, [*params, ("Extra", "1")], signature)
        assert not twilio_signature_valid("another-token", callback_url, params, signature)
        form = dict(params)
        assert (form["MessageSid"], form["To"], form["From"]) == (sid, SMS["To"], SMS["From"])
        assert (form["AccountSid"], form["ApiVersion"]) == (TWILIO_SID, "2010-04-01")
        statuses.append(form["MessageStatus"])
    assert statuses == ["sent", "delivered"]
    assert first.headers["i-twilio-idempotency-token"] != second.headers["i-twilio-idempotency-token"]

    await eventually(lambda: both_callbacks_sent(sandbox), timeout_s=5)
    recorded = sandbox.state.recorder.callbacks("twilio")
    assert [(c.event, c.status_code, c.message_id) for c in recorded] == [("sent", 204, sid), ("delivered", 204, sid)]


async def test_failed_callbacks_are_recorded_and_harmless(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    # Nothing listens on port 9 (discard) on loopback: the connection is refused.
    dead = "http://user:pw@127.0.0.1:9/status"
    response = await client.post(MESSAGES, auth=AUTH, data={**SMS, "StatusCallback": dead})
    assert response.status_code == 201

    await eventually(lambda: both_callbacks_sent(sandbox), timeout_s=5)
    assert (await client.get("/_sandbox/health")).status_code == 200
    listed = (await client.get("/_sandbox/callbacks")).json()["callbacks"]
    assert [c["event"] for c in listed] == ["sent", "delivered"]
    assert all(c["status_code"] is None and c["error"] for c in listed)
    assert listed[0]["url"] == "http://127.0.0.1:9/status"
