"""The profile service (port 8002): consumes interactions, keeps profiles, publishes `mc.profiled.v1`."""

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
from metaconnect_common.topics import INTERACTIONS, PROFILED
from metaconnect_profile.config import ProfileSettings
from metaconnect_profile.models import OUTBOX
from metaconnect_profile.profiles.endpoints import router as profiles_router
from metaconnect_profile.profiles.service import ProfileService
from metaconnect_profile.profiles.state import ProfilePolicy
from metaconnect_profile.questionnaires.endpoints import router as questionnaires_router

SERVICE = "profile"


def create_app(settings: ProfileSettings | None = None) -> FastAPI:
    settings = settings or ProfileSettings()
    common = settings.common
    setup_telemetry(SERVICE, common.telemetry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(common.database, application_name=f"metaconnect-{SERVICE}", pre_ping=False)
        sessions = session_factory(engine)
        publisher = KafkaPublisher(common.kafka, client_id=f"metaconnect-{SERVICE}")
        relay = OutboxRelay(sessions, publisher, OUTBOX)
        policy = ProfilePolicy.from_settings(settings)
        service = ProfileService(sessions, policy)
        runner = ConsumerRunner(
            common.kafka,
            group_id=settings.group_id,
            topics=[INTERACTIONS],
            stage=SERVICE,
            handler=service.handle,
            batch_handler=service.handle_batch,
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
        app.state.relay = relay
        app.state.policy = policy
        app.state.runner = runner

        async def consume() -> None:
            if common.kafka.create_topics:
                await ensure_topics(common.kafka, [INTERACTIONS, PROFILED])
            await runner.run()

        tasks = [asyncio.create_task(consume(), name="consumer"), asyncio.create_task(relay.run(), name="outbox")]
        try:
            yield
        finally:
            runner.stop()
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(tasks[0], 30)
            tasks[1].cancel()
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
        summary="One profile per customer: identities, consent, engagement, personality.",
        lifespan=lifespan,
        checks=checks,
        gc_gen0_threshold=common.gc_gen0_threshold,
    )
    app.include_router(questionnaires_router)
    app.include_router(profiles_router)
    return app
