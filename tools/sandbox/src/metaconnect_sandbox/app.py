"""The sandbox's HTTP app: every fake provider under its path prefix, the control API, the page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from starlette.requests import ClientDisconnect

from metaconnect_sandbox import control, page
from metaconnect_sandbox.config import SandboxConfig
from metaconnect_sandbox.providers import fcm, twilio, webhook, whatsapp
from metaconnect_sandbox.state import SandboxState


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    """The app; its shared state (recordings, faults) is `app.state.sandbox`, a `SandboxState`."""
    state = SandboxState.create(config or SandboxConfig())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await state.notifier.start()
        try:
            yield
        finally:
            await state.notifier.stop()

    app = FastAPI(
        title="Metaconnect provider sandbox",
        version="1.0.0",
        summary="Fake FCM, Twilio, WhatsApp and webhook endpoints that record what they receive.",
        lifespan=lifespan,
    )
    app.state.sandbox = state
    app.add_exception_handler(ClientDisconnect, _client_gone)
    for router in (fcm.router, twilio.router, whatsapp.router, webhook.router, control.router, page.router):
        app.include_router(router)
    return app


async def _client_gone(request: Request, exc: Exception) -> Response:
    """A client that hung up before its body arrived (a delivery process killed mid-call) gets no
    answer and leaves no traceback: nothing was received, nothing is recorded."""
    return Response(status_code=499)
