"""What every service's FastAPI app and entry point share."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from metaconnect_common.errors import install_error_handlers
from metaconnect_common.http import (
    NATIVE_TELEMETRY_OFF,
    BodySizeLimitMiddleware,
    HttpTelemetryMiddleware,
    add_operational_routes,
)
from metaconnect_common.kafka.admin import ensure_topics
from metaconnect_common.migrations import upgrade
from metaconnect_common.settings import DatabaseSettings, KafkaSettings
from metaconnect_common.state import ServiceState, state_of
from metaconnect_common.topics import ALL_TOPICS


def service_app(
    *,
    service: str,
    summary: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    max_body_bytes: int | None = None,
    gc_gen0_threshold: int = 0,
    api_docs: bool = True,
) -> FastAPI:
    """A service's app: shared error shape, `/healthz` `/readyz` `/metrics`, HTTP telemetry.

    The lifespan builds the service's typed state and `install`s it (`metaconnect_common.state`);
    `/readyz` runs the checks that state names, and answers 503 until it is installed.
    `max_body_bytes` refuses larger bodies with 413 (measured by the telemetry, which wraps
    everything). `gc_gen0_threshold` is applied once the lifespan has started (see
    `settle_heap`). `api_docs=False` serves no `/docs` or OpenAPI schema (the console's pages
    are no API). The caller adds its routers.
    """

    @asynccontextmanager
    async def started(app: FastAPI) -> AsyncIterator[None]:
        async with lifespan(app):
            settle_heap(gc_gen0_threshold)
            yield

    app = FastAPI(
        title=f"Metaconnect {service}",
        version="1.0.0",
        summary=summary,
        lifespan=started,
        telemetry=NATIVE_TELEMETRY_OFF,
        docs_url="/docs" if api_docs else None,
        redoc_url="/redoc" if api_docs else None,
        openapi_url="/openapi.json" if api_docs else None,
    )
    install_error_handlers(app)
    add_operational_routes(app, service=service, checks=lambda: state_of(app, ServiceState).readiness())
    if max_body_bytes is not None:
        app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(HttpTelemetryMiddleware, service=service)
    return app


def document_schemas(app: FastAPI, *models: type[BaseModel]) -> None:
    """Put `models` into the OpenAPI components, for routes that validate their raw body
    themselves and refer to the schema from `openapi_extra`."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = generate()
            _, defs = models_json_schema(
                [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
            )
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in defs.get("$defs", {}).items():
                schemas.setdefault(name, schema)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema


def settle_heap(gen0_threshold: int) -> None:
    """Once a service has started: keep the garbage collector off its long-lived objects.

    Everything alive after start-up (modules, the app, pools, caches) is moved out of the
    collector's reach (`gc.freeze`), so older-generation collections no longer walk it, and
    young collections run every `gen0_threshold` allocations instead of every 700: with
    the default, collections took a quarter of a busy ingest process's CPU. 0 leaves
    Python's thresholds as they are.
    """
    gc.collect()
    gc.freeze()
    if gen0_threshold:
        _, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(gen0_threshold, gen1, gen2)


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


COMMANDS = ("serve", "migrate", "topics")


def main(package: str, settings: Callable[[], Any], argv: Sequence[str] | None = None) -> None:
    """A service's `python -m <package> [serve | migrate | topics]`.

    `serve` (the default) runs the API and its consumer; `migrate` applies the service's
    migrations (`MC_DATABASE_URL`) and exits, for a migration job run before a rollout;
    `topics` creates every Metaconnect topic that is missing (`MC_KAFKA_*`) and exits, for a
    topic-creation job. `settings()` builds the service's settings (`host`, `port`) for `serve`
    only, so the jobs need no more configuration than they use.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "serve"
    if command not in COMMANDS or len(args) > 1:
        sys.exit(f"usage: python -m {package} [{' | '.join(COMMANDS)}]")
    if command == "migrate":
        upgrade(package, DatabaseSettings().url.get_secret_value())
    elif command == "topics":
        asyncio.run(ensure_topics(KafkaSettings(), ALL_TOPICS))
    else:
        chosen = settings()
        serve(f"{package}.app:create_app", host=chosen.host, port=chosen.port)
