"""The delivery service's schema, migrated once per session on the real PostgreSQL, and a
delivery app wired to a provider sandbox on loopback."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from metaconnect_common.kafka.admin import ensure_topics
from metaconnect_common.settings import KafkaSettings
from metaconnect_common.topics import DELIVERIES
from metaconnect_delivery.app import create_app
from metaconnect_delivery.config import DeliverySettings
from metaconnect_sandbox.server import Sandbox
from tests.delivery.test_service import SANDBOX, providers
from tests.support import common_settings, start_group_at_end


@pytest.fixture
async def delivery_group(kafka_bootstrap: str) -> str:
    """A consumer group for a delivery app that reads only what the test publishes, not the
    deliveries earlier tests left on the shared topic."""
    group = f"delivery-test-{uuid.uuid4().hex[:8]}"
    await ensure_topics(KafkaSettings(bootstrap=kafka_bootstrap, topic_partitions=3), [DELIVERIES])
    await start_group_at_end(kafka_bootstrap, group, [DELIVERIES])
    return group


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(SANDBOX) as sb:
        yield sb


@pytest.fixture
def delivery_settings(
    database_url: str, kafka_bootstrap: str, delivery_group: str, sandbox: Sandbox
) -> DeliverySettings:
    """Every channel at the sandbox; short backoffs so retries take milliseconds."""
    return DeliverySettings(
        common=common_settings(database_url, kafka_bootstrap),
        group_id=delivery_group,
        providers=providers(sandbox),
        backoff_base_s=0.01,
        backoff_cap_s=0.05,
    )


@pytest.fixture
async def delivery_app(delivery_settings: DeliverySettings) -> AsyncIterator[FastAPI]:
    """The app with its lifespan running (consumer, relay, inbox feed)."""
    application = create_app(delivery_settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(delivery_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app over ASGI, once it is ready."""
    transport = httpx.ASGITransport(app=delivery_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://delivery") as c:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while (await c.get("/readyz")).status_code != 200:
            assert loop.time() < deadline, "delivery not ready"
            await asyncio.sleep(0.2)
        yield c
