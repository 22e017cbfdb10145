"""The reports over REST against the real PostgreSQL: rows stored directly, numbers read back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from statsmodels.stats.proportion import confint_proportions_2indep

from metaconnect_common.auth import Role
from metaconnect_router.models import Base, Decision, Item
from metaconnect_router.reports.stats import stratified_difference
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
    customer_id: uuid.UUID | None = None,
) -> list[Base]:
    """A decision and, unless `item` is None, its item: `pending`, or in a delivery (on `sent_channel`, else
    `channel`) as `sent` (with a receipt if `delivered`, else none yet) or `failed` (a `message.failed`)."""
    at = at or datetime.now(UTC)
    customer_id = customer_id or uuid.uuid4()
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
    if item != "pending":
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
            delivery_id=uuid.uuid4() if item != "pending" else None,
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
        decided(route, engaged=True),  # receipt lost: the engagement proves a provider took it
        decided(route),  # in a delivery, no receipt yet: neither sent nor failed
        decided(route, item="failed"),
        decided(route, item="failed", delivered=True),  # accepted, then undelivered: not sent
        decided(route, item="pending"),
        decided(route, at=datetime.now(UTC) - timedelta(days=31), delivered=True),  # before the default window
    )

    body = await report(router_client, "decisions", route=route)

    assert (body["group_by"], body["route"]) == ("route", route)
    until = datetime.fromisoformat(body["until"])
    assert until - datetime.fromisoformat(body["since"]) == timedelta(days=30)
    assert abs(until - datetime.now(UTC)) < timedelta(minutes=1)
    row = {"group": route, "decisions": 7, "sent": 3, "failed": 2, "engaged": 2, "engagement_rate": 2 / 3}
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
        {"group": "bundled", "decisions": 3, "sent": 3, "failed": 0, "engaged": 0, "engagement_rate": 0.0},
        {"group": "dropped", "decisions": 2, "sent": 0, "failed": 0, "engaged": 0, "engagement_rate": None},
        {"group": "sent", "decisions": 1, "sent": 1, "failed": 0, "engaged": 1, "engagement_rate": 1.0},
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
        decided(route, channel="push", sent_channel="email"),  # no receipt yet
        decided(route, channel="push", sent_channel="email", item="failed"),
        decided(route, channel="push", item="pending"),
    )

    by_channel = await report(router_client, "engagement", group_by="channel", route=route)
    assert by_channel["rows"] == [
        {"group": "push", "sent": 4, "failed": 0, "engaged": 3, "engagement_rate": 0.75},
        {"group": "email", "sent": 1, "failed": 1, "engaged": 1, "engagement_rate": 1.0},
    ]
    by_route = await report(router_client, "engagement", route=route)
    assert (by_route["group_by"], by_route["rows"]) == (
        "route",
        [{"group": route, "sent": 5, "failed": 1, "engaged": 4, "engagement_rate": 0.8}],
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
    assert [(r["group"], r["sent"], r["engaged"]) for r in by_pattern["rows"]] == [("curious", 3, 2)]


def customer(count: int, route: str, *, engaged: int = 0, **kwargs: Any) -> list[list[Base]]:
    """`count` items of one customer on `route`, all sent, the first `engaged` of them engaged with."""
    who = uuid.uuid4()
    return [decided(route, customer_id=who, delivered=True, engaged=n < engaged, **kwargs) for n in range(count)]


def customers(count: int, route: str, **kwargs: Any) -> list[list[Base]]:
    return [rows for _ in range(count) for rows in customer(1, route, **kwargs)]


def newcombe(s1: int, n1: int, s2: int, n2: int) -> tuple[float, float]:
    low, high = confint_proportions_2indep(s1, n1, s2, n2, method="newcomb", compare="diff")
    return float(low), float(high)


async def test_uplift_per_route_counts_customers_and_the_overall_figure_is_stratified(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    at, route = quiet_hour(), route_name()
    large, small = f"{route}-a", f"{route}-b"  # listed by name
    await store(
        router_app,
        # Route a: 100 treated customers (60 engaged), 100 held out (40 engaged).
        *customers(59, large, at=at, engaged=1),
        *customer(12, large, at=at, engaged=12),  # one customer, twelve items engaged with: one engaged customer
        *customers(40, large, at=at),
        *customers(40, large, at=at, holdout=True, engaged=1),
        *customer(9, large, at=at, holdout=True),  # nine items ignored by one customer: one customer
        *customers(59, large, at=at, holdout=True),
        *many(5, large, at=at),  # in a delivery, no receipt yet: not reached
        *many(5, large, at=at, item="failed"),  # never reached
        # Route b: 50 treated (10 engaged), 10 held out (1 engaged): a different holdout share.
        *customers(10, small, at=at, engaged=1),
        *customers(40, small, at=at),
        *customer(3, small, at=at, holdout=True, engaged=2),
        *customers(9, small, at=at, holdout=True),
    )

    body = await report(router_client, "uplift", **window(at))

    assert body["confidence"] == 0.95
    first, second = body["routes"]
    assert first["route"] == large
    assert first["treated"] == {"customers": 100, "engaged": 60, "rate": 0.6}
    assert first["holdout"] == {"customers": 100, "engaged": 40, "rate": 0.4}
    assert first["uplift"] == pytest.approx(0.2)
    assert first["relative_lift"] == pytest.approx(0.5)
    assert (first["interval"]["low"], first["interval"]["high"]) == pytest.approx(newcombe(60, 100, 40, 100))

    assert second["route"] == small
    assert second["treated"] == {"customers": 50, "engaged": 10, "rate": 0.2}
    assert second["holdout"] == {"customers": 10, "engaged": 1, "rate": 0.1}
    assert (second["uplift"], second["relative_lift"]) == (pytest.approx(0.1), pytest.approx(1.0))
    assert (second["interval"]["low"], second["interval"]["high"]) == pytest.approx(newcombe(10, 50, 1, 10))

    overall = body["overall"]
    assert (overall["route"], overall["since"], overall["until"]) == (None, body["since"], body["until"])
    assert overall["routes_compared"] == 2
    # Weighted by customers, 200 and 60: standardised rates, not the pooled 70/150 and 41/110.
    treated, holdout = (200 * 0.6 + 60 * 0.2) / 260, (200 * 0.4 + 60 * 0.1) / 260
    assert overall["treated"] == {"customers": 150, "engaged": 70, "rate": pytest.approx(treated)}
    assert overall["holdout"] == {"customers": 110, "engaged": 41, "rate": pytest.approx(holdout)}
    assert overall["uplift"] == pytest.approx(treated - holdout)
    assert overall["relative_lift"] == pytest.approx((treated - holdout) / holdout)
    expected = stratified_difference([60, 10], [100, 50], [40, 1], [100, 10])
    assert (overall["interval"]["low"], overall["interval"]["high"]) == pytest.approx((expected.low, expected.high))

    only_small = await report(router_client, "uplift", route=small, **window(at))
    assert [r["route"] for r in only_small["routes"]] == [small]
    assert only_small["route"] == small
    # Finding 5: the overall figure of a report filtered by route said route null.
    assert only_small["overall"] == {
        **{k: v for k, v in second.items() if k != "route"},
        "route": small,
        "since": body["since"],
        "until": body["until"],
        "routes_compared": 1,
    }


async def test_a_customer_with_many_items_is_one_customer(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    """Finding 4: items of one customer are not independent; 200 ignored items of one held-out
    customer must not make the interval narrow."""
    route = route_name()
    await store(
        router_app,
        *customers(30, route, engaged=1),
        *customers(30, route),
        *customer(200, route, holdout=True),
    )

    [row] = (await report(router_client, "uplift", route=route))["routes"]

    assert row["treated"] == {"customers": 60, "engaged": 30, "rate": 0.5}
    assert row["holdout"] == {"customers": 1, "engaged": 0, "rate": 0.0}
    assert (row["interval"]["low"], row["interval"]["high"]) == pytest.approx(newcombe(30, 60, 0, 1))
    assert row["interval"]["low"] < 0  # one held-out customer proves nothing
    assert row["relative_lift"] is None  # the holdout rate is 0


async def test_zero_engaged_in_both_cohorts_has_an_interval_of_width(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    route = route_name()
    await store(router_app, *customers(30, route), *customers(30, route, holdout=True))

    [row] = (await report(router_client, "uplift", route=route))["routes"]

    assert (row["uplift"], row["relative_lift"]) == (0.0, None)
    assert (row["interval"]["low"], row["interval"]["high"]) == pytest.approx((-0.11351, 0.11351), abs=1e-5)


async def test_uplift_without_a_holdout_reports_no_comparison(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    route = route_name()
    await store(router_app, *customers(40, route, engaged=1))

    body = await report(router_client, "uplift", route=route)

    [row] = body["routes"]
    assert row["treated"] == {"customers": 40, "engaged": 40, "rate": 1.0}
    assert row["holdout"] == {"customers": 0, "engaged": 0, "rate": None}
    assert (row["uplift"], row["relative_lift"], row["interval"]) == (None, None, None)
    overall = body["overall"]
    assert (overall["routes_compared"], overall["route"]) == (0, route)
    assert (overall["uplift"], overall["interval"]) == (None, None)
    assert overall["treated"] == {"customers": 0, "engaged": 0, "rate": None}


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
