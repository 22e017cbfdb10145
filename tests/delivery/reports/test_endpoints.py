"""The providers report over REST against the real PostgreSQL: rows stored directly, numbers read back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from metaconnect_common.auth import Role
from metaconnect_delivery.models import Attempt, Base, DeliveryRow
from tests.router.conftest import operator

pytestmark = pytest.mark.timeout(120)
VIEWER = operator(Role.VIEWER)


def quiet_hour() -> datetime:
    """An hour long past that no other test writes to."""
    return datetime(2001, 1, 1, tzinfo=UTC) + timedelta(hours=uuid.uuid4().int % 200_000)


def delivered(at: datetime, status: str, provider: str | None, attempts: list[tuple[str | None, str]]) -> list[Base]:
    """A delivery that ended `status` with `provider`, after `attempts` of (provider, outcome)."""
    row = DeliveryRow(
        id=uuid.uuid4(),
        customer_id=uuid.uuid4(),
        status=status,
        channel="push" if provider else None,
        provider=provider,
        channels=["push", "sms"],
        urgent=False,
        items=[],
        created_at=at,
        updated_at=at,
    )
    return [
        row,
        *(
            Attempt(
                delivery_id=row.id,
                number=n,
                channel="push",
                provider=p,
                outcome=outcome,
                reason=outcome,
                response={},
                started_at=at,
            )
            for n, (p, outcome) in enumerate(attempts, start=1)
        ),
    ]


async def store(app: FastAPI, *histories: list[Base]) -> None:
    async with app.state.service.sessions() as session, session.begin():
        for rows in histories:
            session.add(rows[0])
            await session.flush()
            session.add_all(rows[1:])


async def providers(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/reports/providers", params=params, headers=VIEWER)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_deliveries_and_failures_by_provider(delivery_app: FastAPI, client: httpx.AsyncClient) -> None:
    hour, tag = quiet_hour(), uuid.uuid4().hex[:6]
    fcm, twilio = f"fcm-{tag}", f"twilio-{tag}"
    await store(
        delivery_app,
        delivered(hour, "sent", fcm, [(fcm, "sent")]),
        delivered(hour, "sent", fcm, [(fcm, "retry"), (fcm, "sent")]),
        delivered(hour, "failed", fcm, [(fcm, "permanent")]),
        delivered(hour, "sent", twilio, [(fcm, "unknown"), (twilio, "sent")]),  # failed over to SMS
        delivered(hour, "pending", twilio, [(twilio, "retry")]),
        delivered(hour, "failed", None, []),  # no address on any channel
        delivered(hour + timedelta(hours=2), "sent", fcm, [(fcm, "sent")]),  # after the window
    )

    body = await providers(client, since=hour.isoformat(), until=(hour + timedelta(hours=1)).isoformat())

    assert body["rows"] == [
        {"provider": fcm, "deliveries": 3, "sent": 2, "failed": 1, "pending": 0, "failure_rate": 1 / 3,
         "attempts": 5, "failed_attempts": 3},
        {"provider": twilio, "deliveries": 2, "sent": 1, "failed": 0, "pending": 1, "failure_rate": 0.0,
         "attempts": 2, "failed_attempts": 1},
        {"provider": None, "deliveries": 1, "sent": 0, "failed": 1, "pending": 0, "failure_rate": 1.0,
         "attempts": 0, "failed_attempts": 0},
    ]  # fmt: skip


async def test_a_day_is_read_whole_and_a_reversed_range_is_a_422(client: httpx.AsyncClient) -> None:
    body = await providers(client, since="2001-01-01", until="2001-01-01")
    assert (body["since"], body["until"]) == ("2001-01-01T00:00:00Z", "2001-01-02T00:00:00Z")
    assert body["rows"] == []

    response = await client.get(
        "/v1/reports/providers", params={"since": "2001-01-03", "until": "2001-01-01"}, headers=VIEWER
    )
    assert response.status_code == 422
    assert [(e["field"], e["rule"]) for e in response.json()["errors"]] == [("since", "range")]


async def test_the_report_needs_an_operator_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/reports/providers")
    assert response.status_code == 401


async def test_a_time_without_its_offset_is_a_422_naming_the_rule(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/reports/providers", params={"since": "2001-01-01T08:00:00"}, headers=VIEWER)
    assert response.status_code == 422
    assert [(e["field"], e["rule"]) for e in response.json()["errors"]] == [("query.since", "timezone_aware")]
