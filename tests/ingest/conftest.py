"""The ingest app, in process, against the session's real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from metaconnect_common.auth import Role, issue_token
from metaconnect_common.settings import AuthSettings
from metaconnect_ingest.app import create_app
from metaconnect_ingest.config import IngestSettings
from tests.support import common_settings

MakeKey = Callable[..., Coroutine[Any, Any, str]]


def ingest_settings(database_url: str, bootstrap: str, **overrides: Any) -> IngestSettings:
    """Each app its own consumer group for `mc.customers.v1`, so tests never wait for a rebalance."""
    return IngestSettings(
        common=common_settings(database_url, bootstrap, publish_timeout_s=3.0),
        **{"group_id": f"ingest-test-{uuid.uuid4().hex[:8]}", **overrides},
    )


@pytest.fixture
def settings(database_url: str, kafka_bootstrap: str) -> IngestSettings:
    return ingest_settings(database_url, kafka_bootstrap)


async def wait_ready(client: httpx.AsyncClient, timeout_s: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while (await client.get("/readyz")).status_code != 200:
        if loop.time() > deadline:
            raise TimeoutError("ingest not ready")
        await asyncio.sleep(0.1)


@pytest.fixture
async def app(settings: IngestSettings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as c:
        await wait_ready(c)
        yield c


def operator_headers(role: Role = Role.ADMIN) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(AuthSettings(), subject='ops@test', role=role)}"}


@pytest.fixture
def make_key(client: httpx.AsyncClient) -> MakeKey:
    async def make(**body: Any) -> str:
        response = await client.post(
            "/v1/api-keys", json={"name": "test-app", **body}, headers=operator_headers(Role.ADMIN)
        )
        assert response.status_code == 201, response.text
        key: str = response.json()["key"]
        return key

    return make
