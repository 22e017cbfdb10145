"""The delivery service: provider APIs, retries and fail-over, receipts (port 8004)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from metaconnect_common.service import service_app
from metaconnect_common.stage import Stage
from metaconnect_common.state import install
from metaconnect_common.telemetry import setup_telemetry
from metaconnect_common.topics import DELIVERIES, INTERACTIONS, dlq_topic
from metaconnect_delivery.config import DeliverySettings
from metaconnect_delivery.deps import DeliveryState
from metaconnect_delivery.endpoints import router as deliveries_router
from metaconnect_delivery.handlers import deliveries_handlers
from metaconnect_delivery.inbox.endpoints import router as inbox_router
from metaconnect_delivery.inbox.feed import InboxFeed
from metaconnect_delivery.inbox.service import InboxPresence
from metaconnect_delivery.models import OUTBOX
from metaconnect_delivery.notifications.endpoints import router as notifications_router
from metaconnect_delivery.notifications.service import Notifications
from metaconnect_delivery.preview.endpoints import router as preview_router
from metaconnect_delivery.providers.endpoints import router as providers_router
from metaconnect_delivery.providers.service import ProviderAccounts
from metaconnect_delivery.registry import Registry
from metaconnect_delivery.reports.endpoints import router as reports_router
from metaconnect_delivery.service import STAGE, DeliveryService
from metaconnect_delivery.worker import DeliveryWorkers

SERVICE = "delivery"


def create_app(settings: DeliverySettings | None = None) -> FastAPI:
    settings = settings or DeliverySettings()
    common = settings.common
    setup_telemetry(SERVICE, common.telemetry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stage = Stage(SERVICE, common, OUTBOX)
        # One client for every HTTP provider: pooled connections; each call sets its provider's timeout.
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        async with httpx.AsyncClient(limits=limits) as client:
            registry = Registry(settings, client)
            deliveries = DeliveryService(stage.sessions, registry, settings)
            feed = InboxFeed(common.database.url.get_secret_value())
            providers = ProviderAccounts(stage.sessions, registry, settings)
            workers = DeliveryWorkers(deliveries, settings)
            notifications = Notifications(stage.sessions, registry, settings)
            handle, handle_batch = deliveries_handlers(deliveries, workers.wake)
            async with stage.running(
                group_id=settings.group_id,
                topics=[DELIVERIES],
                produces=[INTERACTIONS, dlq_topic(STAGE)],
                handler=handle,
                batch_handler=handle_batch,
                max_records=settings.max_records,
                tasks=[feed.run, workers.run, notifications.run],
            ):
                install(
                    app,
                    DeliveryState(
                        auth=common.auth,
                        stage=stage,
                        deliveries=deliveries,
                        workers=workers,
                        providers=providers,
                        inbox_feed=feed,
                        inbox_presence=InboxPresence(stage.sessions),
                        notifications=notifications,
                    ),
                )
                yield
            await feed.stop()

    app = service_app(
        service=SERVICE,
        summary="Sends deliveries through provider APIs with retries and fail-over; receipts close the loop.",
        lifespan=lifespan,
        gc_gen0_threshold=common.gc_gen0_threshold,
    )
    app.include_router(deliveries_router)
    app.include_router(inbox_router)
    app.include_router(providers_router)
    app.include_router(reports_router)
    app.include_router(preview_router)
    app.include_router(notifications_router)
    return app
