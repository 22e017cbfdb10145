"""What every service's FastAPI app and entry point share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager

import uvicorn
from fastapi import FastAPI

from metaconnect_common.errors import install_error_handlers
from metaconnect_common.http import (
    NATIVE_TELEMETRY_OFF,
    BodySizeLimitMiddleware,
    HttpTelemetryMiddleware,
    ReadinessCheck,
    add_operational_routes,
)


def service_app(
    *,
    service: str,
    summary: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    checks: Callable[[FastAPI], Mapping[str, ReadinessCheck]],
    max_body_bytes: int | None = None,
) -> FastAPI:
    """A service's app: shared error shape, `/healthz` `/readyz` `/metrics`, HTTP telemetry.

    `checks(app)` names the readiness checks (they read what the lifespan put on `app.state`).
    `max_body_bytes` refuses larger bodies with 413 (measured by the telemetry, which wraps
    everything). The caller adds its routers.
    """
    app = FastAPI(
        title=f"Metaconnect {service}",
        version="1.0.0",
        summary=summary,
        lifespan=lifespan,
        telemetry=NATIVE_TELEMETRY_OFF,
    )
    install_error_handlers(app)
    add_operational_routes(app, service=service, checks=checks(app))
    if max_body_bytes is not None:
        app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(HttpTelemetryMiddleware, service=service)
    return app


def serve(factory: str, *, host: str, port: int, graceful_s: int = 30) -> None:
    """Run `factory` (`package.app:create_app`) under uvicorn, as every service's `__main__` does."""
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        log_config=None,  # our JSON logging is set up by the app
        # Paths may hold identifiers (`/v1/profiles/email:...`); the telemetry middleware
        # records route templates instead.
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=graceful_s,
    )
