"""Notifications to staff over REST, sent through the sandbox's SMTP server and webhook receiver
(real PostgreSQL and Kafka): the text arrives, an id sends once, a retry is an attempt row, no
receipt reaches `mc.interactions.v1`, bad input is a 422 naming field and rule, only admins."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_common.auth import Role
from metaconnect_common.topics import INTERACTIONS
from metaconnect_sandbox.server import Sandbox
from tests.delivery.test_service import fault
from tests.router.conftest import operator
from tests.support import read_topic

pytestmark = pytest.mark.timeout(120)
ADMIN = operator(Role.ADMIN, subject="digest@metaconnect")


def email(**changes: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "channel": "email",
        "to": ["Ops.Lead@Example.com", "cfo@example.com"],
        "subject": "Metaconnect weekly digest",
        "text": "Lead: 12 now, 5 entered, 40.0% converted",
        "html": "<p>Lead: 12 now</p>",
    } | changes


async def settled(client: httpx.AsyncClient, notification_id: str) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        response = await client.get(f"/v1/notifications/{notification_id}", headers=ADMIN)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] != "pending":
            return body
        assert loop.time() < deadline, body
        await asyncio.sleep(0.1)


async def test_an_email_reaches_every_recipient_with_its_text_once_per_id(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    body = email()
    first = await client.post("/v1/notifications", json=body, headers=ADMIN)
    assert first.status_code == 202, first.text
    assert first.json()["id"] == body["id"]
    assert first.json()["recipients"] == 2
    assert "to" not in first.json()

    done = await settled(client, body["id"])
    assert done["status"] == "sent"
    assert done["provider"] == "mail"
    assert done["requested_by"] == "digest@metaconnect"
    assert [a["outcome"] for a in done["attempts"]] == ["sent"]

    [mail] = [m for m in sandbox.messages("smtp") if m.title == body["subject"]]
    assert sorted(mail.to) == ["cfo@example.com", "ops.lead@example.com"]
    assert "Lead: 12 now, 5 entered, 40.0% converted" in (mail.payload["text"] or "")
    assert "<p>Lead: 12 now</p>" in (mail.payload["html"] or "")

    again = await client.post("/v1/notifications", json=body, headers=ADMIN)
    assert again.status_code == 202
    assert again.json()["status"] == "sent"
    await asyncio.sleep(0.5)
    assert len([m for m in sandbox.messages("smtp") if m.title == body["subject"]]) == 1


async def test_a_webhook_notification_posts_its_json_and_a_failed_call_is_retried(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    async with httpx.AsyncClient(base_url=f"{sandbox.http_url}/_sandbox") as control:
        await fault(control, "webhook", {"status": 503})
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "channel": "webhook",
        "subject": "Metaconnect weekly digest",
        "text": "the digest as text",
        "data": {"funnel": [{"stage": "lead", "entered": 5}]},
    }
    assert (await client.post("/v1/notifications", json=body, headers=ADMIN)).status_code == 202

    done = await settled(client, body["id"])
    assert done["status"] == "sent"
    assert [a["outcome"] for a in done["attempts"]] == ["retry", "sent"]
    hooks = [m for m in sandbox.messages("webhook") if m.payload.get("notification_id") == body["id"]]
    assert len(hooks) == 2  # the refused call and the one taken
    assert hooks[-1].payload == {
        "type": "notification",
        "notification_id": body["id"],
        "subject": "Metaconnect weekly digest",
        "text": "the digest as text",
        "data": {"funnel": [{"stage": "lead", "entered": 5}]},
    }
    assert hooks[-1].headers.get("idempotency-key") == body["id"]


async def test_a_notification_is_no_customer_delivery_and_leaves_no_receipt(
    client: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    body = email()
    assert (await client.post("/v1/notifications", json=body, headers=ADMIN)).status_code == 202
    assert (await settled(client, body["id"]))["status"] == "sent"

    records = await read_topic(kafka_bootstrap, INTERACTIONS)
    assert not [r for r in records if body["id"].encode() in (r.value or b"")]
    assert (await client.get(f"/v1/deliveries/{body['id']}", headers=ADMIN)).status_code == 404


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"to": ["not-an-address"]}, "to.0", "email"),
        ({"to": []}, "to", "required"),
        ({"channel": "sms"}, "channel", "literal_error"),
        ({"subject": ""}, "subject", "string_too_short"),
        ({"id": "digest-1"}, "id", "uuid_parsing"),
        ({"channel": "webhook"}, "to", "email_only"),
        ({"data": {"a": 1}}, "data", "webhook_only"),
    ],
)
async def test_bad_input_is_a_422_naming_field_and_rule(
    client: httpx.AsyncClient, changes: dict[str, Any], field: str, rule: str
) -> None:
    response = await client.post("/v1/notifications", json=email(**changes), headers=ADMIN)
    assert response.status_code == 422, response.text
    named = [(e["field"], e["rule"]) for e in response.json()["errors"]]
    assert (field, rule) in named


async def test_an_id_reused_for_another_message_is_a_409(client: httpx.AsyncClient) -> None:
    body = email()
    assert (await client.post("/v1/notifications", json=body, headers=ADMIN)).status_code == 202
    other = await client.post("/v1/notifications", json=email(id=body["id"], subject="Another"), headers=ADMIN)
    assert other.status_code == 409
    assert other.json()["error"] == "id_reused"


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
async def test_only_admins_send_or_read_notifications(client: httpx.AsyncClient, role: Role) -> None:
    body = email()
    assert (await client.post("/v1/notifications", json=body, headers=operator(role))).status_code == 403
    assert (await client.post("/v1/notifications", json=body)).status_code == 401
    assert (await client.get(f"/v1/notifications/{body['id']}", headers=operator(role))).status_code == 403
    assert (await client.get(f"/v1/notifications/{body['id']}", headers=ADMIN)).status_code == 404


async def test_a_refused_mail_fails_for_good_and_its_addresses_and_text_are_dropped(
    client: httpx.AsyncClient, sandbox: Sandbox, engine: AsyncEngine
) -> None:
    async with httpx.AsyncClient(base_url=f"{sandbox.http_url}/_sandbox") as control:
        await fault(control, "smtp", {"smtp_code": 554})
    body = email()
    assert (await client.post("/v1/notifications", json=body, headers=ADMIN)).status_code == 202

    done = await settled(client, body["id"])
    assert (done["status"], done["reason"]) == ("failed", "smtp_554")
    assert [(a["outcome"], a["reason"]) for a in done["attempts"]] == [("permanent", "smtp_554")]
    async with engine.connect() as conn:
        content = await conn.scalar(
            text("SELECT content FROM delivery.notifications WHERE id = :id"), {"id": uuid.UUID(body["id"])}
        )
    assert content is None
