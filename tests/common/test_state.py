"""A service's typed state: installed by its lifespan, read by its dependencies and /readyz."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from metaconnect_common.service import service_app
from metaconnect_common.settings import AuthSettings
from metaconnect_common.state import NotStarted, ServiceState, install, state_dependency, state_of


@dataclass(frozen=True, kw_only=True)
class _State(ServiceState):
    greeting: str


def _app() -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install(app, _State(auth=AuthSettings(), greeting="hello"))
        yield

    app = service_app(service="t", summary="t", lifespan=lifespan)

    @app.get("/greeting")
    async def greeting(state: Annotated[_State, Depends(state_dependency(_State))]) -> str:
        return state.greeting

    return app


async def _get(app: FastAPI, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.get(path)


async def test_before_its_lifespan_the_app_is_starting_not_ready() -> None:
    app = _app()
    with pytest.raises(NotStarted):
        state_of(app, _State)
    response = await _get(app, "/readyz")
    assert (response.status_code, response.json()) == (503, {"ready": False, "checks": {"service": "starting"}})


async def test_the_lifespan_installs_the_state_its_dependencies_read() -> None:
    app = _app()
    async with app.router.lifespan_context(app):
        assert state_of(app, _State).greeting == "hello"
        assert (await _get(app, "/greeting")).json() == "hello"
        assert (await _get(app, "/readyz")).json() == {"ready": True, "checks": {}}
