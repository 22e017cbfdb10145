"""The router app, in process, against the session's real PostgreSQL (and Kafka)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from metaconnect_common.auth import Role, issue_token
from metaconnect_common.settings import AuthSettings
from metaconnect_router.app import create_app
from metaconnect_router.config import RouterSettings
from tests.support import common_settings


def router_settings(database_url: str, bootstrap: str, **overrides: Any) -> RouterSettings:
    return RouterSettings(
        common=common_settings(database_url, bootstrap), group_id=f"router-test-{uuid.uuid4().hex[:8]}", **overrides
    )


@pytest.fixture
async def router_app(database_url: str, kafka_bootstrap: str) -> AsyncIterator[FastAPI]:
    application = create_app(router_settings(database_url, kafka_bootstrap))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def router_client(router_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=router_app), base_url="http://router") as c:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while (await c.get("/readyz")).status_code != 200:
            if loop.time() > deadline:
                raise TimeoutError("router not ready")
            await asyncio.sleep(0.2)
        yield c


def operator(role: Role = Role.EDITOR, subject: str = "ops@test") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(AuthSettings(), subject=subject, role=role)}"}


def route_spec(name: str | None = None, **changes: Any) -> dict[str, Any]:
    """A valid route as marketing ops would post it."""
    spec: dict[str, Any] = {
        "name": name or f"route-{uuid.uuid4().hex[:8]}",
        "status": "active",
        "trigger": {"event_types": ["cart.abandoned"], "condition": "event.properties.value >= 20"},
        "messages": [
            {
                "id": "cart-left",
                "priority": 60,
                "collapse_key": "cart",
                "expires_after": "P1D",
                "channels": ["push", "email"],
                "variants": {
                    "neutral": {
                        "push": {"en": {"title": "Your cart", "body": "Your items are waiting."}},
                        "email": {"en": {"subject": "Your cart", "body": "Your items are waiting."}},
                    },
                    "red": {
                        "push": {"en": {"title": "One tap", "body": "Check out now."}},
                        "email": {"en": {"subject": "Finish", "body": "Check out now."}},
                    },
                },
            }
        ],
        "policy": {"bundle_window": "PT30M", "quiet_hours": {"start": "21:00", "end": "08:00"}},
    }
    spec.update(changes)
    return spec
