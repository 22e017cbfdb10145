"""The profile service in process: its consumer on the session's real Kafka, its tables in
the session's real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_common.auth import Role, issue_token
from metaconnect_common.kafka.producer import KafkaPublisher
from metaconnect_common.schemas import Interaction
from metaconnect_common.settings import AuthSettings, KafkaSettings
from metaconnect_common.topics import INTERACTIONS, PROFILED
from metaconnect_ingest.events.service import to_record
from metaconnect_profile.app import create_app
from metaconnect_profile.config import ProfileSettings
from tests.support import common_settings, read_topic

Post = Callable[..., Coroutine[Any, Any, Interaction]]


def profile_settings(database_url: str, bootstrap: str, **overrides: Any) -> ProfileSettings:
    # Every test app consumes as its own group from the start of the topic: events of
    # earlier tests are applied once (their ids are remembered) and skipped after that.
    return ProfileSettings(
        common=common_settings(database_url, bootstrap), group_id=f"profile-test-{uuid.uuid4().hex[:8]}", **overrides
    )


@pytest.fixture
async def profile_app(database_url: str, kafka_bootstrap: str) -> AsyncIterator[FastAPI]:
    application = create_app(profile_settings(database_url, kafka_bootstrap))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def profile_client(profile_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=profile_app), base_url="http://profile") as c:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while (await c.get("/readyz")).status_code != 200:
            if loop.time() > deadline:
                raise TimeoutError("profile service not ready")
            await asyncio.sleep(0.2)
        yield c


def operator(role: Role = Role.VIEWER) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(AuthSettings(), subject='ops@test', role=role)}"}


def interaction(
    customer: dict[str, Any], type_: str = "app.opened", channel: str = "in_app", **properties: Any
) -> Interaction:
    now = datetime.now(UTC)
    return Interaction.model_validate(
        {
            "event_id": str(uuid.uuid4()),
            "customer": customer,
            "type": type_,
            "channel": channel,
            "occurred_at": now,
            "received_at": now,
            "source": "test-key",
            "properties": properties,
        }
    )


@pytest.fixture
async def publish(kafka_bootstrap: str) -> AsyncIterator[Callable[[Interaction], Coroutine[Any, Any, None]]]:
    """Put interactions on the real `mc.interactions.v1`, exactly as ingest does."""
    publisher = KafkaPublisher(KafkaSettings(bootstrap=kafka_bootstrap, linger_ms=0))

    async def send(event: Interaction) -> None:
        await publisher.publish([to_record(event)])

    try:
        yield send
    finally:
        await publisher.stop()


async def profiled_for(bootstrap: str, event_id: uuid.UUID, *, timeout_s: float = 30.0) -> list[dict[str, Any]]:
    """The `mc.profiled.v1` records reporting `event_id` (waits until at least one exists)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            records = await read_topic(bootstrap, PROFILED)
        except TimeoutError:
            records = []
        found = [
            v
            for r in records
            if (v := json.loads(r.value))["interaction"] and v["interaction"]["event_id"] == str(event_id)
        ]
        if found:
            return found
        if loop.time() > deadline:
            raise AssertionError(f"no mc.profiled.v1 record for {event_id} within {timeout_s}s")
        await asyncio.sleep(0.3)


async def applied(engine: AsyncEngine, event_id: uuid.UUID, *, timeout_s: float = 30.0) -> uuid.UUID:
    """Wait until the profile service applied `event_id`; returns the customer it landed on."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        async with engine.connect() as conn:
            customer = await conn.scalar(
                text("SELECT customer_id FROM profile.processed_events WHERE event_id = :e"), {"e": event_id}
            )
        if customer is not None:
            return customer  # type: ignore[no-any-return]
        if loop.time() > deadline:
            raise AssertionError(f"event {event_id} not applied within {timeout_s}s")
        await asyncio.sleep(0.1)


__all__ = ["INTERACTIONS", "Post", "applied", "interaction", "operator", "profile_settings", "profiled_for"]
