"""`POST /v1/preview` over the delivery app (real PostgreSQL and Kafka)."""

from __future__ import annotations

import httpx
import pytest

from metaconnect_common.auth import Role
from tests.router.conftest import operator

pytestmark = pytest.mark.timeout(120)


async def test_a_viewer_previews_texts_per_tone_and_channel(client: httpx.AsyncClient) -> None:
    body = {
        "data": {"price": 12},
        "texts": [
            {"tone": "red", "channel": "push", "content": {"title": "Now", "body": "{{ data.price }} EUR"}},
            {"tone": "green", "channel": "sms", "locale": "de", "content": {"body": "Nur {{ data.price }} EUR"}},
        ],
    }
    response = await client.post("/v1/preview", json=body, headers=operator(Role.VIEWER))
    assert response.status_code == 200, response.text
    previews = response.json()["previews"]
    assert [(p["tone"], p["channel"], p["locale"], p["body"]) for p in previews] == [
        ("red", "push", "en", "12 EUR"),
        ("green", "sms", "de", "Nur 12 EUR"),
    ]
    assert previews[1]["sms_segments"] == 1


async def test_a_preview_without_texts_is_refused_naming_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/preview", json={"texts": []}, headers=operator(Role.VIEWER))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["texts"]


async def test_a_preview_needs_an_operator_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/preview", json={"texts": []})
    assert response.status_code == 401
