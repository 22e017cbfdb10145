"""The delivery service end to end on real Kafka and PostgreSQL: deliveries in, provider calls
over real sockets to the sandbox, receipts out on `mc.interactions.v1`, deliveries over REST."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from metaconnect_common.auth import Role
from metaconnect_common.kafka.producer import KafkaPublisher, OutgoingRecord
from metaconnect_common.schemas import Channel, Interaction
from metaconnect_common.schemas.delivery import Delivery
from metaconnect_common.settings import KafkaSettings
from metaconnect_common.topics import DELIVERIES, INTERACTIONS
from metaconnect_sandbox.server import Sandbox
from tests.delivery.test_service import delivery
from tests.router.conftest import operator
from tests.support import read_topic

pytestmark = pytest.mark.timeout(120)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def receipts_for(bootstrap: str, delivery_id: uuid.UUID, *, count: int) -> list[Interaction]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        records = await read_topic(bootstrap, INTERACTIONS)
        found = [
            i
            for r in records
            if (i := Interaction.model_validate_json(r.value)).properties.get("delivery_id") == str(delivery_id)
        ]
        if len(found) >= count or loop.time() > deadline:
            return found
        await asyncio.sleep(0.3)


async def test_a_delivery_record_is_sent_once_and_its_receipt_flows_back(
    client: httpx.AsyncClient, sandbox: Sandbox, kafka_bootstrap: str
) -> None:
    d: Delivery = delivery(Channel.PUSH, Channel.EMAIL)
    record = OutgoingRecord(
        DELIVERIES, d.kafka_key(), d.model_dump_json().encode(), headers=[("traceparent", TRACEPARENT.encode())]
    )
    publisher = KafkaPublisher(KafkaSettings(bootstrap=kafka_bootstrap, linger_ms=0))
    try:
        await publisher.publish([record, record])  # the second is a redelivery: sent once
    finally:
        await publisher.stop()

    async with httpx.AsyncClient(base_url=f"{sandbox.http_url}/_sandbox", timeout=40) as control:
        waited = await control.get("/messages/wait", params={"provider": "fcm", "count": 1, "timeout_s": 30})
        assert waited.status_code == 200, waited.text
    [sent] = await receipts_for(kafka_bootstrap, d.id, count=1)
    assert (sent.type, sent.customer.metaconnect_id, sent.channel) == ("message.sent", d.customer_id, Channel.PUSH)

    response = await client.get(f"/v1/deliveries/{d.id}", headers=operator(Role.VIEWER))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["channel"], body["provider"]) == ("sent", "push", "fcm")
    assert body["trace_id"] == TRACEPARENT.split("-")[1]
    assert [(a["outcome"], a["reason"]) for a in body["attempts"]] == [("sent", "accepted")]
    assert "ada@example.com" not in response.text
    params = {"customer": str(d.customer_id)}
    listed = await client.get("/v1/deliveries", params=params, headers=operator(Role.VIEWER))
    assert [x["id"] for x in listed.json()] == [str(d.id)]

    await asyncio.sleep(1)
    async with httpx.AsyncClient(base_url=f"{sandbox.http_url}/_sandbox") as control:
        assert len((await control.get("/messages", params={"provider": "fcm"})).json()["messages"]) == 1


async def test_unknown_deliveries_are_404_and_reading_needs_a_token(client: httpx.AsyncClient) -> None:
    missing = await client.get(f"/v1/deliveries/{uuid.uuid4()}", headers=operator(Role.VIEWER))
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    assert (await client.get(f"/v1/deliveries/{uuid.uuid4()}")).status_code == 401
    bad = await client.get("/v1/deliveries", params={"customer": "nope"}, headers=operator(Role.VIEWER))
    assert bad.status_code == 422
    assert [(e["field"], e["rule"]) for e in bad.json()["errors"]] == [("query.customer", "customer_ref")]
