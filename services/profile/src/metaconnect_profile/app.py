"""The profile service (port 8002): consumes interactions, keeps profiles, publishes `mc.profiled.v1`
and `mc.customers.v1`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from metaconnect_common.service import service_app
from metaconnect_common.stage import Stage
from metaconnect_common.state import install
from metaconnect_common.telemetry import setup_telemetry
from metaconnect_common.topics import CUSTOMERS, INTERACTIONS, PROFILED
from metaconnect_profile.config import ProfileSettings
from metaconnect_profile.deps import ProfileState
from metaconnect_profile.lifecycles.endpoints import router as lifecycle_router
from metaconnect_profile.lifecycles.reports import router as reports_router
from metaconnect_profile.lifecycles.service import LifecycleCatalog, LifecycleService
from metaconnect_profile.lifecycles.spec import DEFAULT_LIFECYCLE, Lifecycle
from metaconnect_profile.models import OUTBOX
from metaconnect_profile.profiles import handlers
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
        stage = Stage(SERVICE, common, OUTBOX)
        # The lifecycle each batch moves customers by is the stored one (`catalog`), looked up per batch.
        policy = ProfilePolicy.from_settings(settings, Lifecycle.compile(DEFAULT_LIFECYCLE, 0))
        catalog = LifecycleCatalog(ttl_s=settings.lifecycle_reload_s)
        service = ProfileService(stage.sessions, policy, catalog)
        async with stage.running(
            group_id=settings.group_id,
            topics=[INTERACTIONS],
            produces=[PROFILED, CUSTOMERS],
            handler=partial(handlers.handle, service),
            batch_handler=partial(handlers.handle_batch, service),
            max_records=settings.max_records,
        ):
            lifecycles = LifecycleService(stage.sessions, catalog)
            install(
                app,
                ProfileState(auth=common.auth, stage=stage, policy=policy, lifecycles=lifecycles, catalog=catalog),
            )
            yield

    app = service_app(
        service=SERVICE,
        summary="One profile per customer: identities, consent, engagement, personality, lifecycle stage.",
        lifespan=lifespan,
        gc_gen0_threshold=common.gc_gen0_threshold,
    )
    app.include_router(questionnaires_router)
    app.include_router(profiles_router)
    app.include_router(lifecycle_router)
    app.include_router(reports_router)
    return app
