"""The ingest service: channel apps' front door (port 8001)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from metaconnect_common.db import create_engine, session_factory
from metaconnect_common.kafka.admin import ensure_topics
from metaconnect_common.kafka.consumer import ConsumerRunner
from metaconnect_common.kafka.producer import KafkaPublisher
from metaconnect_common.schemas import InteractionFields
from metaconnect_common.service import document_schemas, service_app
from metaconnect_common.state import install
from metaconnect_common.telemetry import setup_telemetry
from metaconnect_common.topics import CUSTOMERS, INTERACTIONS
from metaconnect_ingest.config import IngestSettings
from metaconnect_ingest.customers.endpoints import router as inbox_router
from metaconnect_ingest.customers.handlers import customer_refs_handlers
from metaconnect_ingest.customers.service import InboxTokens
from metaconnect_ingest.deps import IngestState
from metaconnect_ingest.events.endpoints import router as events_router
from metaconnect_ingest.events.service import EventService, Window
from metaconnect_ingest.keys.endpoints import router as keys_router
from metaconnect_ingest.keys.ratelimit import RateLimiter
from metaconnect_ingest.keys.service import KeyService
from metaconnect_ingest.webhooks.endpoints import router as webhooks_router
from metaconnect_ingest.webhooks.schemas import TwilioInboundMessage, TwilioStatusCallback, WhatsAppWebhook
from metaconnect_ingest.webhooks.service import WebhookService

SERVICE = "ingest"
log = logging.getLogger(__name__)


async def _keep_topics(publisher: KafkaPublisher, settings: IngestSettings) -> None:
    """Create/verify the topic, retrying while the broker is away (the service still serves 503s)."""
    kafka = settings.common.kafka
    while True:
        try:
            if kafka.create_topics:
                await ensure_topics(kafka, [INTERACTIONS])
            await publisher.start()
            return
        except Exception as exc:  # the broker may come later; readiness says so meanwhile
            log.warning("Kafka not ready yet, retrying in 2s: %s", type(exc).__name__)
            await asyncio.sleep(2)


async def _keep_consuming(runner: ConsumerRunner) -> None:
    """Run the consumer, starting it again while the broker is away at start."""
    while True:
        try:
            await runner.run()
            return  # stopped
        except Exception as exc:  # readiness says so meanwhile
            log.warning("mc.customers.v1 consumer stopped, restarting in 2s: %s", type(exc).__name__)
            await asyncio.sleep(2)


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or IngestSettings()
    common = settings.common
    setup_telemetry(SERVICE, common.telemetry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(common.database, application_name=f"metaconnect-{SERVICE}")
        sessions = session_factory(engine)
        publisher = KafkaPublisher(common.kafka, client_id=f"metaconnect-{SERVICE}")
        keys = KeyService(
            sessions,
            cache_ttl_s=settings.key_cache_ttl_s,
            default_rate_per_s=settings.default_rate_per_s,
            default_burst=settings.default_burst,
        )
        events = EventService(
            publisher,
            RateLimiter(),
            window=Window(
                max_future=timedelta(seconds=settings.max_future_skew_s),
                max_age=timedelta(seconds=settings.max_age_s),
            ),
            retry_after_s=settings.broker_retry_after_s,
        )
        webhooks = WebhookService(
            events,
            twilio_auth_token=settings.twilio_auth_token,
            whatsapp_app_secret=settings.whatsapp_app_secret,
            whatsapp_verify_token=settings.whatsapp_verify_token,
            public_url=settings.public_url,
        )
        log.info("provider webhooks enabled: %s", webhooks.enabled)
        handle, handle_batch = customer_refs_handlers(sessions)
        customer_refs = ConsumerRunner(
            common.kafka,
            group_id=settings.group_id,
            topics=[CUSTOMERS],
            stage=SERVICE,
            handler=handle,
            batch_handler=handle_batch,
            max_records=settings.max_records,
            dead_letters=publisher,
            client_id=f"metaconnect-{SERVICE}",
        )
        kafka_ready = asyncio.create_task(_keep_topics(publisher, settings))
        consuming = asyncio.create_task(_keep_consuming(customer_refs))
        install(
            app,
            IngestState(
                auth=common.auth,
                engine=engine,
                publisher=publisher,
                keys=keys,
                events=events,
                webhooks=webhooks,
                inbox_tokens=InboxTokens(sessions, common.auth),
                kafka_ready=kafka_ready,
                customer_refs=customer_refs,
            ),
        )
        try:
            yield
        finally:
            customer_refs.stop()
            with contextlib.suppress(TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(consuming), 30)
            for task in (kafka_ready, consuming):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await publisher.stop()
            await engine.dispose()

    app = service_app(
        service=SERVICE,
        summary=(
            "Channel apps post customer interactions and mint inbox tokens; providers report outcomes; "
            "operators manage API keys."
        ),
        lifespan=lifespan,
        max_body_bytes=settings.max_body_bytes,
        gc_gen0_threshold=common.gc_gen0_threshold,
    )
    app.include_router(events_router)
    app.include_router(keys_router)
    app.include_router(webhooks_router)
    app.include_router(inbox_router)
    document_schemas(app, InteractionFields, TwilioStatusCallback, TwilioInboundMessage, WhatsAppWebhook)
    return app
