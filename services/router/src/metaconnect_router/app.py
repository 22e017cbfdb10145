"""The router service: routes and journeys for marketing ops, decisions and bundles (port 8003)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from metaconnect_common.service import service_app
from metaconnect_common.stage import Stage
from metaconnect_common.state import install
from metaconnect_common.telemetry import setup_telemetry
from metaconnect_common.topics import DELIVERIES, INTERACTIONS, PROFILED
from metaconnect_router.bundles.flusher import Flusher
from metaconnect_router.config import RouterSettings
from metaconnect_router.decisions import handlers
from metaconnect_router.decisions.endpoints import router as decisions_router
from metaconnect_router.decisions.ranking import TonePrior
from metaconnect_router.decisions.service import DecisionService
from metaconnect_router.deps import RouterState
from metaconnect_router.journeys.endpoints import router as journeys_router
from metaconnect_router.journeys.endpoints import walks_router
from metaconnect_router.journeys.service import JourneyService
from metaconnect_router.journeys.timers import JourneyTimers
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
        stage = Stage(SERVICE, common, OUTBOX)
        decisions = DecisionService(
            stage.sessions,
            tone_prior=TonePrior(
                base_rate=settings.tone_prior_base_rate,
                matched_lift=settings.tone_prior_matched_lift,
                strength=settings.tone_prior_strength,
            ),
            read_weight=settings.read_weight,
        )
        flusher = Flusher(stage.sessions, batch=settings.flush_batch, interval_s=settings.flush_interval_s)
        routes = RouteService(stage.sessions, on_change=decisions.catalog.invalidate)
        journeys = JourneyService(stage.sessions, on_change=decisions.journeys.invalidate)
        timers = JourneyTimers(
            stage.sessions, decisions, batch=settings.timer_batch, interval_s=settings.timer_interval_s
        )

        async def flush() -> None:
            await flusher.run(stage.relay.flush_enqueued)

        async def fire() -> None:
            await timers.run(stage.relay.flush_enqueued)

        async with stage.running(
            group_id=settings.group_id,
            topics=[PROFILED],
            produces=[DELIVERIES, INTERACTIONS],
            handler=partial(handlers.handle, decisions),
            batch_handler=partial(handlers.handle_batch, decisions),
            max_records=settings.max_records,
            tasks=[flush, fire],
        ):
            install(
                app,
                RouterState(
                    auth=common.auth,
                    stage=stage,
                    decisions=decisions,
                    routes=routes,
                    journeys=journeys,
                    flusher=flusher,
                    timers=timers,
                ),
            )
            yield

    app = service_app(
        service=SERVICE,
        summary="Routes for marketing ops; the next message, its tone and channel; meta-connect bundles.",
        lifespan=lifespan,
        gc_gen0_threshold=common.gc_gen0_threshold,
    )
    app.include_router(routes_router)
    app.include_router(journeys_router)
    app.include_router(walks_router)
    app.include_router(decisions_router)
    app.include_router(reports_router)
    return app
