"""Reports over time (day, week) and the bundles report, against the real PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI

from metaconnect_router.models import Base, Bundle, Item
from tests.router.reports.test_endpoints import VIEWER, decided, quiet_hour, report, route_name, store


def quiet_week() -> datetime:
    """A Monday 00:00 UTC long past that no other test writes to."""
    return datetime(1990, 1, 1, tzinfo=UTC) + timedelta(weeks=uuid.uuid4().int % 500)  # 1990-01-01 is a Monday


async def test_decisions_over_time_count_each_day_and_group(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    route, monday = route_name(), quiet_week()
    await store(
        router_app,
        decided(route, at=monday + timedelta(hours=1), outcome="sent", delivered=True, engaged=True),
        decided(route, at=monday + timedelta(hours=23, minutes=59), outcome="sent", delivered=True),
        decided(route, at=monday + timedelta(hours=2), outcome="dropped", item=None),
        decided(route, at=monday + timedelta(days=2), outcome="bundled", item="pending"),
    )
    window = {"since": monday.date().isoformat(), "until": (monday + timedelta(days=6)).date().isoformat()}

    body = await report(router_client, "decisions/over-time", route=route, period="day", **window)

    assert (body["group_by"], body["period"]) == ("outcome", "day")
    day0, day2 = monday.date().isoformat(), (monday + timedelta(days=2)).date().isoformat()
    assert [(r["period"], r["group"], r["decisions"], r["sent"], r["engaged"]) for r in body["rows"]] == [
        (day0, "sent", 2, 2, 1),
        (day0, "dropped", 1, 0, 0),
        (day2, "bundled", 1, 0, 0),
    ]
    assert body["rows"][0]["engagement_rate"] == 0.5

    weekly = await report(router_client, "decisions/over-time", route=route, period="week", **window)
    assert [(r["period"], r["group"], r["decisions"]) for r in weekly["rows"]] == [
        (day0, "sent", 2),
        (day0, "bundled", 1),
        (day0, "dropped", 1),
    ]


async def test_engagement_over_time_buckets_weeks_from_monday_utc(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    route, monday = route_name(), quiet_week()
    await store(
        router_app,
        decided(route, at=monday - timedelta(minutes=1), tone="red", delivered=True, engaged=True),  # the Sunday
        decided(route, at=monday, tone="red", delivered=True),
        decided(route, at=monday + timedelta(days=6), tone="blue", delivered=True, engaged=True),
        decided(route, at=monday + timedelta(days=6), tone="blue", item="failed"),
    )
    window = {
        "since": (monday - timedelta(days=7)).date().isoformat(),
        "until": (monday + timedelta(days=7)).date().isoformat(),
    }

    body = await report(router_client, "engagement/over-time", route=route, group_by="tone", period="week", **window)

    before, this = (monday - timedelta(days=7)).date().isoformat(), monday.date().isoformat()
    assert [(r["period"], r["group"], r["sent"], r["failed"], r["engaged"]) for r in body["rows"]] == [
        (before, "red", 1, 0, 1),
        (this, "blue", 1, 1, 1),
        (this, "red", 1, 0, 0),
    ]


async def test_a_period_other_than_day_or_week_is_a_422_naming_it(router_client: httpx.AsyncClient) -> None:
    response = await router_client.get("/v1/reports/engagement/over-time", params={"period": "month"}, headers=VIEWER)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["query.period"]


def bundle(opened: datetime, open_for: timedelta, *, sent: int, route: str, left: int = 0) -> list[Base]:
    """A flushed bundle whose delivery carried `sent` items of `route`, and `left` items that did not go."""
    customer = uuid.uuid4()
    row = Bundle(
        id=uuid.uuid4(),
        customer_id=customer,
        status="flushed",
        opened_at=opened,
        due_at=opened + open_for,
        max_items=10,
        policy={},
        flushed_at=opened + open_for,
        delivery_id=uuid.uuid4(),
    )
    items: list[Base] = []
    for i in range(sent + left):
        [decision, item] = decided(route, at=opened, customer_id=customer)
        assert isinstance(item, Item)
        item.bundle_id = row.id
        if i >= sent:
            item.state, item.delivery_id = "superseded", None
        items += [decision, item]
    return [row, *items]


async def test_bundles_by_size_and_time_in_bundle(router_app: FastAPI, router_client: httpx.AsyncClient) -> None:
    route, hour = route_name(), quiet_hour()
    await store(
        router_app,
        bundle(hour, timedelta(seconds=30), sent=1, route=route),
        bundle(hour, timedelta(minutes=5), sent=3, route=route, left=2),  # 300 s: the 300-900 bucket
        bundle(hour, timedelta(minutes=10), sent=3, route=route),
        bundle(hour, timedelta(days=2), sent=2, route=route),
        bundle(hour, timedelta(minutes=1), sent=5, route=route_name()),  # another route's
    )
    window = {"since": hour.isoformat(), "until": (hour + timedelta(days=3)).isoformat()}

    body = await report(router_client, "bundles", route=route, **window)

    assert (body["bundles"], body["items"], body["mean_size"]) == (4, 9, 9 / 4)
    assert body["sizes"] == [{"size": 1, "bundles": 1}, {"size": 2, "bundles": 1}, {"size": 3, "bundles": 2}]
    counts = {(r["at_least_seconds"], r["under_seconds"]): r["bundles"] for r in body["time_in_bundle"]}
    assert counts[(0, 60)] == 1
    assert counts[(300, 900)] == 2
    assert counts[(86400, None)] == 1
    assert sum(counts.values()) == 4
    assert body["median_seconds"] == 450.0  # between 300 and 600
    every = await report(router_client, "bundles", **window)
    assert every["bundles"] == 5


async def test_no_bundles_is_an_empty_report(router_client: httpx.AsyncClient) -> None:
    hour = quiet_hour()
    body = await report(
        router_client, "bundles", since=hour.isoformat(), until=(hour + timedelta(minutes=1)).isoformat()
    )
    assert (body["bundles"], body["mean_size"], body["median_seconds"], body["sizes"]) == (0, None, None, [])
    assert len(body["time_in_bundle"]) == 9
