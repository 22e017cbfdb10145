"""A slow provider holds no one else's deliveries: retries and slow calls happen off the consumer
path, bounded per channel, so deliveries on other channels finish in their usual time; and a call
answered just inside its timeout is sent once.

Real Kafka (12 partitions) and PostgreSQL, the delivery app in process, the provider sandbox on loopback.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_common.kafka.admin import ensure_topics
from metaconnect_common.kafka.producer import KafkaPublisher, OutgoingRecord
from metaconnect_common.schemas import Channel
from metaconnect_common.schemas.delivery import Delivery
from metaconnect_common.settings import KafkaSettings
from metaconnect_common.topics import DELIVERIES
from metaconnect_delivery.app import create_app
from metaconnect_delivery.config import DeliverySettings
from metaconnect_sandbox.server import Sandbox
from tests.delivery.test_service import SANDBOX, delivery, providers
from tests.support import common_settings, start_group_at_end

pytestmark = pytest.mark.timeout(240)
PARTITIONS = 12
EACH = 250


@asynccontextmanager
async def running(
    database_url: str, bootstrap: str, sandbox: Sandbox, *, push_timeout_s: float, attempts: int = 3
) -> AsyncIterator[FastAPI]:
    group = f"delivery-slow-{uuid.uuid4().hex[:8]}"
    kafka = KafkaSettings(bootstrap=bootstrap, topic_partitions=PARTITIONS)
    await ensure_topics(kafka, [DELIVERIES])
    await start_group_at_end(bootstrap, group, [DELIVERIES])
    configured = [
        p.model_copy(update={"timeout_s": push_timeout_s}) if p.channel is Channel.PUSH else p
        for p in providers(sandbox)
    ]
    settings = DeliverySettings(
        common=common_settings(database_url, bootstrap),
        group_id=group,
        providers=configured,
        attempts=attempts,
        backoff_base_s=0.05,
        backoff_cap_s=0.2,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


async def publish(bootstrap: str, deliveries: Sequence[Delivery]) -> None:
    publisher = KafkaPublisher(KafkaSettings(bootstrap=bootstrap))
    try:
        await publisher.publish(
            [OutgoingRecord(DELIVERIES, d.kafka_key(), d.model_dump_json().encode()) for d in deliveries]
        )
    finally:
        await publisher.stop()


async def all_sent(engine: AsyncEngine, deliveries: Sequence[Delivery], *, timeout_s: float) -> float:
    """Seconds until every one of `deliveries` is sent."""
    ids = [d.id for d in deliveries]
    started = time.monotonic()
    async with asyncio.timeout(timeout_s):
        while True:
            async with engine.connect() as conn:
                sent = await conn.scalar(
                    text("SELECT count(*) FROM delivery.deliveries WHERE id = ANY(:ids) AND status = 'sent'"),
                    {"ids": ids},
                )
            if sent == len(ids):
                return time.monotonic() - started
            await asyncio.sleep(0.1)


async def test_a_slow_provider_holds_no_other_channels_deliveries(
    database_url: str, kafka_bootstrap: str, engine: AsyncEngine
) -> None:
    async with (
        Sandbox(SANDBOX) as sandbox,
        httpx.AsyncClient(base_url=f"{sandbox.http_url}/_sandbox") as control,
        running(database_url, kafka_bootstrap, sandbox, push_timeout_s=5.0),
    ):
        # Their usual time: SMS alone.
        alone = [delivery(Channel.SMS) for _ in range(EACH)]
        await publish(kafka_bootstrap, alone)
        usual = await all_sent(engine, alone, timeout_s=60)

        # The same again while every push takes 2 s: both share the customers' partitions.
        await control.post("/faults", json={"provider": "fcm", "responses": [{"delay_s": 2.0}] * EACH})
        slow = [delivery(Channel.PUSH) for _ in range(EACH)]
        beside = [delivery(Channel.SMS) for _ in range(EACH)]
        await publish(kafka_bootstrap, [d for pair in zip(slow, beside, strict=True) for d in pair])
        sms = await all_sent(engine, beside, timeout_s=60)
        push = await all_sent(engine, slow, timeout_s=120)

    figure = f"{EACH} SMS deliveries: {usual:.2f} s alone, {sms:.2f} s beside {EACH} pushes of 2 s ({push:.2f} s)"
    print("\n" + figure)  # noqa: T201  # the figure, shown with `pytest -s`
    # On the consumer path every partition would wait out its pushes: about 250 x 2 s / 12 = 42 s.
    assert sms < max(4 * usual, 8.0)
    assert push > sms


async def test_an_answer_just_inside_the_timeout_is_sent_once(
    database_url: str, kafka_bootstrap: str, engine: AsyncEngine
) -> None:
    async with (
        Sandbox(SANDBOX) as sandbox,
        httpx.AsyncClient(base_url=f"{sandbox.http_url}/_sandbox") as control,
        running(database_url, kafka_bootstrap, sandbox, push_timeout_s=5.0, attempts=1),
    ):
        await control.post("/faults", json={"provider": "fcm", "responses": [{"delay_s": 4.9}] * 3})
        patient = [delivery(Channel.PUSH) for _ in range(3)]
        await publish(kafka_bootstrap, patient)
        await all_sent(engine, patient, timeout_s=60)
        calls = (await control.get("/messages", params={"provider": "fcm"})).json()["messages"]
    per_delivery = [m["payload"]["message"]["data"]["delivery_id"] for m in calls]
    assert sorted(per_delivery) == sorted(str(d.id) for d in patient)  # one call each
    async with engine.connect() as conn:
        outcomes = list(
            await conn.scalars(
                text("SELECT outcome FROM delivery.attempts WHERE delivery_id = ANY(:ids)"),
                {"ids": [d.id for d in patient]},
            )
        )
    assert outcomes == ["sent"] * 3
