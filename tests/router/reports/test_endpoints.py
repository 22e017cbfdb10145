"""The reports over REST against the real PostgreSQL: rows stored directly, numbers read back."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from metaconnect_common.auth import Role
from metaconnect_router.models import Base, Decision, Item
from tests.router.conftest import operator

VIEWER = operator(Role.VIEWER)


def route_name() -> str:
    return f"report-{uuid.uuid4().hex[:8]}"


def quiet_hour() -> datetime:
    """An hour long past that no other test writes to: reports over it see only this test's rows."""
    return datetime(2001, 1, 1, tzinfo=UTC) + timedelta(hours=uuid.uuid4().int % 200_000)


def decided(
    route: str | None,
    *,
    at: datetime | None = None,
    outcome: str = "bundled",
    holdout: bool = False,
    channel: str | None = "push",
    tone: str | None = "neutral",
    pattern: str = "steady",
    item: str | None = "sent",
    delivered: bool = False,
    engaged: bool = False,
    sent_channel: str | None = None,
) -> list[Base]:
    """A decision and, unless `item` is None, its item: `pending` or `sent` (on `sent_channel`, else `channel`)."""
    at = at or datetime.now(UTC)
    customer_id = uuid.uuid4()
    decision = Decision(
        id=uuid.uuid4(),
        customer_id=customer_id,
        event_id=uuid.uuid4(),
        event_type="cart.abandoned",
        outcome=outcome,
        route=route,
        route_version=1 if route else None,
        message_id="cart-left" if route else None,
        tone=tone,
        channel=channel,
        pattern=pattern,
        holdout=holdout,
        explored=False,
        propensity=None,
        explanation={},
        created_at=at,
    )
    if item is None:
        return [decision]
    assert route is not None
    payload: dict[str, Any] = {"arm": {"pattern": pattern, "tone": tone}}
    if item == "sent":
        payload["sent_channel"] = sent_channel or channel
    return [
        decision,
        Item(
            id=uuid.uuid4(),
            decision_id=decision.id,
            customer_id=customer_id,
            state=item,
            route=route,
            message_id="cart-left",
            priority=60,
            category="marketing",
            created_at=at,
            payload=payload,
            delivery_id=uuid.uuid4() if item == "sent" else None,
            delivered_at=at + timedelta(seconds=5) if delivered else None,
            engaged_at=at + timedelta(minutes=1) if engaged else None,
        ),
    ]


async def store(app: FastAPI, *histories: list[Base]) -> None:
    async with app.state.service.sessions() as session, session.begin():
        session.add_all([row for rows in histories for row in rows])


def many(count: int, route: str | None, **kwargs: Any) -> list[list[Base]]:
    return [decided(route, **kwargs) for _ in range(count)]


async def report(client: httpx.AsyncClient, name: str, **params: Any) -> dict[str, Any]:
    response = await client.get(f"/v1/reports/{name}", params=params, headers=VIEWER)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def window(at: datetime) -> dict[str, str]:
    return {"since": at.isoformat(), "until": (at + timedelta(hours=1)).isoformat()}


async def test_decisions_by_route_over_the_last_30_days(router_app: FastAPI, router_client: httpx.AsyncClient) -> None:
    route = route_name()
    await store(
        router_app,
        decided(route, outcome="sent", delivered=True, engaged=True),
        decided(route, delivered=True),
        decided(route, engaged=True),  # receipt lost: the engagement proves delivery
        decided(route, item="pending"),
        decided(route, at=datetime.now(UTC) - timedelta(days=31), delivered=True),  # before the default window
    )

    body = await report(router_client, "decisions", route=route)

    assert (body["group_by"], body["route"]) == ("route", route)
    until = datetime.fromisoformat(body["until"])
    assert until - datetime.fromisoformat(body["since"]) == timedelta(days=30)
    assert abs(until - datetime.now(UTC)) < timedelta(minutes=1)
    row = {"group": route, "decisions": 4, "sent": 3, "delivered": 3, "engaged": 2, "engagement_rate": 2 / 3}
    assert body["rows"] == [row]
    assert body["total"] == {**row, "group": None}


async def test_decisions_by_outcome_count_dropped_decisions_too(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    at, route = quiet_hour(), route_name()
    await store(
        router_app,
        *many(2, None, at=at, outcome="dropped", channel=None, tone=None, item=None),
        *many(3, route, at=at, outcome="bundled", delivered=True),
        decided(route, at=at, outcome="sent", delivered=True, engaged=True),
    )

    body = await report(router_client, "decisions", group_by="outcome", **window(at))

    assert body["rows"] == [
        {"group": "bundled", "decisions": 3, "sent": 3, "delivered": 3, "engaged": 0, "engagement_rate": 0.0},
        {"group": "dropped", "decisions": 2, "sent": 0, "delivered": 0, "engaged": 0, "engagement_rate": None},
        {"group": "sent", "decisions": 1, "sent": 1, "delivered": 1, "engaged": 1, "engagement_rate": 1.0},
    ]
    assert body["total"]["decisions"] == 6
    assert body["total"]["engagement_rate"] == 0.25
    by_route = await report(router_client, "decisions", **window(at))
    assert [(r["group"], r["decisions"]) for r in by_route["rows"]] == [(route, 4), (None, 2)]


@pytest.mark.parametrize(
    ("group_by", "values"),
    [
        ("channel", [{"channel": "push"}, {"channel": "email"}]),
        ("tone", [{"tone": "red"}, {"tone": "neutral"}]),
        ("pattern", [{"pattern": "curious"}, {"pattern": "steady"}]),
    ],
)
async def test_decisions_by_channel_tone_and_pattern(
    router_app: FastAPI, router_client: httpx.AsyncClient, group_by: str, values: list[dict[str, Any]]
) -> None:
    route = route_name()
    first, second = values
    await store(
        router_app,
        *many(2, route, **first, delivered=True, engaged=True),
        decided(route, **first, delivered=True),
        decided(route, **second, delivered=True),
    )

    body = await report(router_client, "decisions", group_by=group_by, route=route)

    assert [(r["group"], r["decisions"], r["engaged"], r["engagement_rate"]) for r in body["rows"]] == [
        (first[group_by], 3, 2, pytest.approx(2 / 3)),
        (second[group_by], 1, 0, 0.0),
    ]


async def test_engagement_counts_sent_items_by_the_channel_they_went_on(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    route = route_name()
    await store(
        router_app,
        *many(3, route, channel="push", delivered=True, engaged=True),
        decided(route, channel="push", delivered=True),
        # Decided for push, but its bundle went out by email.
        decided(route, channel="push", sent_channel="email", delivered=True, engaged=True),
        decided(route, channel="push", sent_channel="email"),
        decided(route, channel="push", item="pending"),
    )

    by_channel = await report(router_client, "engagement", group_by="channel", route=route)
    assert by_channel["rows"] == [
        {"group": "push", "sent": 4, "delivered": 4, "engaged": 3, "engagement_rate": 0.75},
        {"group": "email", "sent": 2, "delivered": 1, "engaged": 1, "engagement_rate": 1.0},
    ]
    by_route = await report(router_client, "engagement", route=route)
    assert (by_route["group_by"], by_route["rows"]) == (
        "route",
        [{"group": route, "sent": 6, "delivered": 5, "engaged": 4, "engagement_rate": 0.8}],
    )


async def test_engagement_by_tone_and_pattern(router_app: FastAPI, router_client: httpx.AsyncClient) -> None:
    route = route_name()
    await store(
        router_app,
        *many(2, route, tone="red", pattern="curious", delivered=True, engaged=True),
        decided(route, tone="neutral", pattern="curious", delivered=True),
    )

    by_tone = await report(router_client, "engagement", group_by="tone", route=route)
    assert [(r["group"], r["engagement_rate"]) for r in by_tone["rows"]] == [("red", 1.0), ("neutral", 0.0)]
    by_pattern = await report(router_client, "engagement", group_by="pattern", route=route)
    assert [(r["group"], r["delivered"], r["engaged"]) for r in by_pattern["rows"]] == [("curious", 3, 2)]


def wald(s1: int, n1: int, s2: int, n2: int) -> tuple[float, float]:
    p1, p2 = s1 / n1, s2 / n2
    margin = 1.959964 * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return p1 - p2 - margin, p1 - p2 + margin


async def test_uplift_of_treated_over_holdout_overall_and_per_route(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    at, route = quiet_hour(), route_name()
    large, small = f"{route}-a", f"{route}-b"  # listed by name
    await store(
        router_app,
        *many(60, large, at=at, delivered=True, engaged=True),
        *many(40, large, at=at, delivered=True),
        *many(40, large, at=at, holdout=True, delivered=True, engaged=True),
        *many(60, large, at=at, holdout=True, delivered=True),
        *many(5, large, at=at),  # sent, never delivered: not counted
        *many(5, small, at=at, delivered=True, engaged=True),
        *many(5, small, at=at, delivered=True),
        decided(small, at=at, holdout=True, delivered=True, engaged=True),
        *many(3, small, at=at, holdout=True, delivered=True),
    )

    body = await report(router_client, "uplift", **window(at))

    assert (body["confidence"], body["min_delivered"]) == (0.95, 30)
    first, second = body["routes"]
    assert first["route"] == large
    assert first["treated"] == {"delivered": 100, "engaged": 60, "rate": 0.6}
    assert first["holdout"] == {"delivered": 100, "engaged": 40, "rate": 0.4}
    assert first["uplift"] == pytest.approx(0.2)
    assert first["relative_lift"] == pytest.approx(1.5)
    assert first["enough_data"] is True
    assert (first["interval"]["low"], first["interval"]["high"]) == pytest.approx((0.0642, 0.3358), abs=1e-4)

    assert second["route"] == small
    assert (second["treated"]["rate"], second["holdout"]["rate"]) == (0.5, 0.25)
    assert (second["uplift"], second["relative_lift"]) == (pytest.approx(0.25), pytest.approx(2.0))
    assert (second["enough_data"], second["interval"]) == (False, None)

    overall = body["overall"]
    assert overall["route"] is None
    assert overall["treated"] == {"delivered": 110, "engaged": 65, "rate": pytest.approx(65 / 110)}
    assert overall["holdout"] == {"delivered": 104, "engaged": 41, "rate": pytest.approx(41 / 104)}
    assert overall["enough_data"] is True
    assert (overall["interval"]["low"], overall["interval"]["high"]) == pytest.approx(wald(65, 110, 41, 104), abs=1e-5)

    only_small = await report(router_client, "uplift", route=small, **window(at))
    assert [r["route"] for r in only_small["routes"]] == [small]
    assert only_small["overall"] == {**second, "route": None}


async def test_uplift_without_a_holdout_reports_no_comparison(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    route = route_name()
    await store(router_app, *many(40, route, delivered=True, engaged=True))

    [row] = (await report(router_client, "uplift", route=route))["routes"]

    assert row["holdout"] == {"delivered": 0, "engaged": 0, "rate": None}
    assert (row["uplift"], row["relative_lift"], row["interval"], row["enough_data"]) == (None, None, None, False)


async def test_since_and_until_bound_the_decisions(router_app: FastAPI, router_client: httpx.AsyncClient) -> None:
    at, route = quiet_hour(), route_name()
    await store(router_app, *(decided(route, at=at + timedelta(minutes=m), delivered=True) for m in (0, 30, 60, 90)))

    async def decisions(since: datetime, until: datetime) -> int:
        body = await report(router_client, "decisions", route=route, since=since.isoformat(), until=until.isoformat())
        return int(body["total"]["decisions"])

    assert await decisions(at, at + timedelta(minutes=90)) == 3  # until is exclusive
    assert await decisions(at + timedelta(minutes=30), at + timedelta(minutes=31)) == 1
    assert await decisions(at + timedelta(hours=2), at + timedelta(hours=3)) == 0
    # The same instant in another zone.
    assert await decisions(at.astimezone(timezone(timedelta(hours=2))), at + timedelta(minutes=1)) == 1
    assert await decisions(at, at) == 0
    only_until = await report(router_client, "engagement", route=route, until=(at + timedelta(hours=2)).isoformat())
    assert only_until["since"] == (at + timedelta(hours=2) - timedelta(days=30)).isoformat().replace("+00:00", "Z")
    assert only_until["rows"][0]["sent"] == 4


async def test_days_bound_a_report_from_the_start_of_since_to_the_end_of_until(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    day, route = quiet_hour().replace(hour=0, minute=0, second=0, microsecond=0), route_name()
    first, last = day + timedelta(minutes=5), day + timedelta(hours=23, minutes=55)
    await store(
        router_app, decided(route, at=first), decided(route, at=last), decided(route, at=day + timedelta(days=1))
    )

    body = await report(
        router_client, "decisions", route=route, since=day.date().isoformat(), until=day.date().isoformat()
    )

    assert body["total"]["decisions"] == 2
    assert (body["since"], body["until"]) == (
        day.isoformat().replace("+00:00", "Z"),
        (day + timedelta(days=1)).isoformat().replace("+00:00", "Z"),
    )


@pytest.mark.parametrize(
    ("path", "params", "field", "rule"),
    [
        ("decisions", {"group_by": "colour"}, "query.group_by", "enum"),
        ("engagement", {"group_by": "outcome"}, "query.group_by", "enum"),
        ("uplift", {"since": "2026-01-01T00:00:00"}, "query.since", "timezone_aware"),
        ("decisions", {"until": "yesterday"}, "query.until", "date_or_datetime"),
        ("decisions", {"until": "2026-12-07T10:00"}, "query.until", "timezone_aware"),
        ("decisions", {"since": "2026-12-08", "until": "2026-12-06"}, "since", "range"),
        ("engagement", {"route": "r" * 64}, "query.route", "string_too_long"),
        ("uplift", {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since", "range"),
        ("decisions", {"since": datetime.now(UTC).isoformat(), "until": "2000-01-01T00:00:00Z"}, "since", "range"),
    ],
)
async def test_invalid_queries_are_422_naming_the_field(
    router_client: httpx.AsyncClient, path: str, params: dict[str, str], field: str, rule: str
) -> None:
    response = await router_client.get(f"/v1/reports/{path}", params=params, headers=VIEWER)

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_failed"
    assert [(e["field"], e["rule"]) for e in body["errors"]] == [(field, rule)]


@pytest.mark.parametrize("path", ["decisions", "engagement", "uplift"])
async def test_viewers_read_reports_and_a_missing_token_is_401(router_client: httpx.AsyncClient, path: str) -> None:
    url = f"/v1/reports/{path}"
    assert (await router_client.get(url, params={"route": route_name()}, headers=VIEWER)).status_code == 200
    missing = await router_client.get(url)
    assert (missing.status_code, missing.json()["error"]) == (401, "unauthorized")
    forged = await router_client.get(url, headers={"Authorization": "Bearer not-a-token"})
    assert forged.status_code == 401
