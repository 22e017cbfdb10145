"""The delivery service: provider APIs, retries and fail-over, receipts (port 8004)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from metaconnect_common.db import create_engine, ping, session_factory
from metaconnect_common.http import ReadinessCheck
from metaconnect_common.kafka.admin import ensure_topics
from metaconnect_common.kafka.consumer import ConsumerRunner, RetryPolicy
from metaconnect_common.kafka.producer import KafkaPublisher
from metaconnect_common.outbox import OutboxRelay
from metaconnect_common.service import service_app
from metaconnect_common.telemetry import setup_telemetry
from metaconnect_common.topics import DELIVERIES, INTERACTIONS, dlq_topic
from metaconnect_delivery.config import DeliverySettings
from metaconnect_delivery.endpoints import router as deliveries_router
from metaconnect_delivery.inbox.endpoints import router as inbox_router
from metaconnect_delivery.inbox.feed import InboxFeed
from metaconnect_delivery.models import OUTBOX
from metaconnect_delivery.providers.endpoints import router as providers_router
from metaconnect_delivery.registry import Registry
from metaconnect_delivery.service import STAGE, DeliveryService

SERVICE = "delivery"


def create_app(settings: DeliverySettings | None = None) -> FastAPI:
    settings = settings or DeliverySettings()
    common = settings.common
    setup_telemetry(SERVICE, common.telemetry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(common.database, application_name=f"metaconnect-{SERVICE}", pre_ping=False)
        sessions = session_factory(engine)
        publisher = KafkaPublisher(common.kafka, client_id=f"metaconnect-{SERVICE}")
        relay = OutboxRelay(sessions, publisher, OUTBOX)
        # One client for every HTTP provider: pooled connections; each call sets its provider's timeout.
        client = httpx.AsyncClient(limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))
        registry = Registry(settings, client)
        deliveries = DeliveryService(sessions, registry, settings)
        feed = InboxFeed(common.database.url.get_secret_value())
        runner = ConsumerRunner(
            common.kafka,
            group_id=settings.group_id,
            topics=[DELIVERIES],
            stage=SERVICE,
            handler=deliveries.handle,
            retry=RetryPolicy(attempts=8, base_delay_s=0.2, max_delay_s=5.0),
            max_records=settings.max_records,
            dead_letters=publisher,
            client_id=f"metaconnect-{SERVICE}",
            before_commit=relay.flush,
        )
        app.state.auth_settings = common.auth
        app.state.engine = engine
        app.state.sessions = sessions
        app.state.publisher = publisher
        app.state.runner = runner
        app.state.deliveries = deliveries
        app.state.registry = registry
        app.state.settings = settings
        app.state.inbox_feed = feed

        async def consume() -> None:
            if common.kafka.create_topics:
                await ensure_topics(common.kafka, [DELIVERIES, INTERACTIONS, dlq_topic(STAGE)])
            await runner.run()

        tasks = [
            asyncio.create_task(consume(), name="consumer"),
            asyncio.create_task(relay.run(), name="outbox"),
            asyncio.create_task(feed.run(), name="inbox-feed"),
        ]
        try:
            yield
        finally:
            runner.stop()
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(tasks[0], 30)
            for task in tasks[1:]:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await feed.stop()
            await client.aclose()
            await publisher.stop()
            await engine.dispose()

    def checks(app: FastAPI) -> dict[str, ReadinessCheck]:
        async def kafka() -> None:
            await app.state.publisher.ping()
            if not app.state.runner.ready:
                raise RuntimeError("consumer not running")

        async def database() -> None:
            await ping(app.state.engine)

        return {"kafka": kafka, "database": database}

    app = service_app(
        service=SERVICE,
        summary="Sends deliveries through provider APIs with retries and fail-over; receipts close the loop.",
        lifespan=lifespan,
        checks=checks,
        gc_gen0_threshold=common.gc_gen0_threshold,
    )
    app.include_router(deliveries_router)
    app.include_router(inbox_router)
    app.include_router(providers_router)
    return app
