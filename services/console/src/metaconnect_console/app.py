"""The console: web pages over the four services' APIs (port 8000)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from metaconnect_common.db import create_engine, session_factory
from metaconnect_common.service import service_app
from metaconnect_common.state import install
from metaconnect_common.telemetry import setup_telemetry
from metaconnect_console.admin.endpoints import router as admin_router
from metaconnect_console.api import Refused, Services, ServiceUnavailable
from metaconnect_console.auth.endpoints import router as auth_router
from metaconnect_console.auth.oidc import OidcClient
from metaconnect_console.auth.service import SignIns
from metaconnect_console.config import ConsoleSettings
from metaconnect_console.customers.endpoints import router as customers_router
from metaconnect_console.deps import ConsoleState, CsrfRejected, Forbidden, SignInRequired, console_state
from metaconnect_console.digest.endpoints import router as digest_router
from metaconnect_console.digest.schedule import DigestSchedule
from metaconnect_console.journeys.endpoints import router as journeys_router
from metaconnect_console.pages.home import router as home_router
from metaconnect_console.progress.endpoints import router as progress_router
from metaconnect_console.reports.endpoints import router as reports_router
from metaconnect_console.routes.endpoints import router as routes_router
from metaconnect_console.security import SecurityHeadersMiddleware
from metaconnect_console.timing import ServerTimingMiddleware
from metaconnect_console.web import page, templates

SERVICE = "console"


def create_app(settings: ConsoleSettings | None = None) -> FastAPI:
    settings = settings or ConsoleSettings()
    common = settings.common
    setup_telemetry(SERVICE, common.telemetry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(common.database, application_name=f"metaconnect-{SERVICE}")
        sessions = session_factory(engine)
        timeout = httpx.Timeout(settings.api_timeout_s, connect=min(settings.api_timeout_s, 5.0))
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as http:
            oidc = OidcClient(settings, http) if settings.oidc_issuer else None
            services = Services(settings, http)
            digest = DigestSchedule(
                sessions,
                services,
                poll_s=settings.digest_poll_s,
                catch_up_s=settings.digest_catch_up_s,
                lease_s=settings.digest_lease_s,
            )
            install(
                app,
                ConsoleState(
                    auth=common.auth,
                    settings=settings,
                    engine=engine,
                    sessions=sessions,
                    http=http,
                    services=services,
                    sign_ins=SignIns(settings, sessions, oidc),
                    templates=templates(),
                ),
            )
            schedule = asyncio.create_task(digest.run(), name="digest schedule")
            try:
                yield
            finally:
                schedule.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await schedule
                await engine.dispose()

    app = service_app(
        service=SERVICE,
        summary="Pages for marketing ops, support, management and admins over the four services' APIs.",
        lifespan=lifespan,
        max_body_bytes=1024 * 1024,
        gc_gen0_threshold=common.gc_gen0_threshold,
        api_docs=False,
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(ServerTimingMiddleware)
    app.mount("/static", StaticFiles(directory=str(files("metaconnect_console") / "static")), name="static")
    app.include_router(auth_router)
    app.include_router(home_router)
    app.include_router(admin_router)
    app.include_router(reports_router)
    app.include_router(customers_router)
    app.include_router(routes_router)
    app.include_router(journeys_router)
    app.include_router(progress_router)
    app.include_router(digest_router)
    _handle_page_errors(app)
    return app


def _handle_page_errors(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, exc: SignInRequired) -> Response:
        target = f"/sign-in?{urlencode({'next': exc.return_to})}"
        if request.headers.get("HX-Request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        person = await console_state(request).sign_ins.person(request.cookies.get(console_state(request).cookie_name))
        reason = f"This needs the {exc.needed.value} role; you are signed in as {exc.role.value}."
        return page(request, "error.html", person, status_code=403, title="Not allowed", reason=reason)

    @app.exception_handler(CsrfRejected)
    async def csrf_rejected(request: Request, exc: CsrfRejected) -> Response:
        reason = (
            "The form was not sent from this console page (its CSRF token is missing or wrong). Reload and try again."
        )
        return page(request, "error.html", None, status_code=403, title="Refused", reason=reason)

    @app.exception_handler(ServiceUnavailable)
    async def unavailable(request: Request, exc: ServiceUnavailable) -> Response:
        reason = f"The {exc.service} service did not answer properly ({exc.detail}). Try again in a moment."
        return page(request, "error.html", None, status_code=502, title="A service is unavailable", reason=reason)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        status = exc.status if exc.status in (403, 404, 409) else 400
        return page(request, "error.html", None, status_code=status, title="Refused", reason=exc.message)
