"""The router service: routes for marketing ops, decisions and bundles (port 8003)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from metaconnect_common.db import create_engine, ping, session_factory
from metaconnect_common.http import ReadinessCheck
from metaconnect_common.kafka.admin import ensure_topics
from metaconnect_common.kafka.consumer import ConsumerRunner, RetryPolicy
from metaconnect_common.kafka.producer import KafkaPublisher
from metaconnect_common.outbox import OutboxRelay
from metaconnect_common.service import service_app
from metaconnect_common.telemetry import setup_telemetry
from metaconnect_common.topics import DELIVERIES, PROFILED
from metaconnect_router.bundles.service import Flusher
from metaconnect_router.config import RouterSettings
from metaconnect_router.decisions.endpoints import router as decisions_router
from metaconnect_router.decisions.service import DecisionService
from metaconnect_router.models import OUTBOX
from metaconnect_router.reports.endpoints import router as reports_router
from metaconnect_router.routes.endpoints import router as routes_router
from metaconnect_router.routes.service import RouteService

SERVICE = "router"


def create_app(settings: RouterSettings | None = None) -> FastAPI:
    settings = settings or RouterSettings()
    common = settings.common
    setup_telemetry(SERVICE, common.telemetry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(common.database, application_name=f"metaconnect-{SERVICE}", pre_ping=False)
        sessions = session_factory(engine)
        publisher = KafkaPublisher(common.kafka, client_id=f"metaconnect-{SERVICE}")
        relay = OutboxRelay(sessions, publisher, OUTBOX)
        decisions = DecisionService(sessions)
        flusher = Flusher(sessions, interval_s=settings.flush_interval_s)
        runner = ConsumerRunner(
            common.kafka,
            group_id=settings.group_id,
            topics=[PROFILED],
            stage=SERVICE,
            handler=decisions.handle,
            batch_handler=decisions.handle_batch,
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
        app.state.decisions = decisions
        app.state.flusher = flusher
        app.state.routes = RouteService(sessions, on_change=decisions.catalog.invalidate)

        async def consume() -> None:
            if common.kafka.create_topics:
                await ensure_topics(common.kafka, [PROFILED, DELIVERIES])
            await runner.run()

        async def flush() -> None:
            while True:  # deliveries of flushed bundles go out with the relay, not waiting for a record
                await flusher.flush_due_once()
                with contextlib.suppress(Exception):
                    await relay.flush()
                await asyncio.sleep(settings.flush_interval_s)

        tasks = [
            asyncio.create_task(consume(), name="consumer"),
            asyncio.create_task(flush(), name="flusher"),
            asyncio.create_task(relay.run(), name="outbox"),
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
        summary="Routes for marketing ops; the next message, its tone and channel; meta-connect bundles.",
        lifespan=lifespan,
        checks=checks,
        gc_gen0_threshold=common.gc_gen0_threshold,
    )
    app.include_router(routes_router)
    app.include_router(decisions_router)
    app.include_router(reports_router)
    return app
