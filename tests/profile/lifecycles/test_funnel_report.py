"""The funnel report over the real topic and tables: interactions move customers through the
profile service, and the report's counts, conversions and times equal the ones computed by hand.

The events happen in March 2021, a window no other test's customers enter (the module's app
also applies the session's earlier events, at their own times)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_common.auth import Role
from metaconnect_common.schemas import Interaction
from tests.profile.conftest import applied, interaction, operator

Publish = Callable[[Interaction], Coroutine[Any, Any, None]]
VIEWER, EDITOR = operator(Role.VIEWER), operator(Role.EDITOR)
T0 = datetime(2021, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def _spec(tag: str) -> dict[str, Any]:
    # Stage names of this test's own (but the first, where everyone's new customers start).
    return {
        "name": "funnel-test",
        "stages": [
            {"name": "lead", "allow_back": True},
            {
                "name": f"qualified-{tag}",
                "enter_on": [{"event_types": [f"q{tag}.qualified"], "condition": "event.properties.budget >= 100"}],
            },
            {"name": f"sales-{tag}", "enter_on": [{"event_types": [f"q{tag}.assigned"]}]},
            {"name": f"won-{tag}", "enter_on": [{"event_types": [f"q{tag}.won"]}]},
        ],
    }


def _at(who: str, days: int, type_: str, **properties: Any) -> Interaction:
    event = interaction({"customer_id": who}, type_, "web")
    return event.model_copy(update={"properties": properties, "occurred_at": T0 + days * DAY})


async def test_the_report_equals_the_hand_computed_funnel(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine
) -> None:
    tag = uuid.uuid4().hex[:6]
    put = await profile_client.put("/v1/lifecycle", json=_spec(tag), headers=EDITOR)
    assert put.status_code == 200, put.text
    q, sales, won = f"qualified-{tag}", f"sales-{tag}", f"won-{tag}"
    a, b, c, d = (f"f{tag}-{name}" for name in "abcd")
    histories = [
        [_at(a, 0, "app.opened"), _at(a, 1, f"q{tag}.qualified", budget=200), _at(a, 3, f"q{tag}.assigned"),
         _at(a, 4, f"q{tag}.won")],
        [_at(b, 0, "app.opened"), _at(b, 2, f"q{tag}.qualified", budget=50)],  # the condition fails
        [_at(c, 1, "app.opened"), _at(c, 2, f"q{tag}.qualified", budget=150),
         _at(c, 5, "lifecycle.moved", stage="lead"),
         _at(c, 6, "lifecycle.moved", stage="nowhere")],  # refused: no stage of that name
        [_at(d, 7, f"q{tag}.qualified", budget=300)],  # a new customer qualified by its first event
    ]  # fmt: skip
    for history in histories:
        for event in history:
            await publish(event)
    for history in histories:
        await applied(engine, history[-1].event_id)

    response = await profile_client.get(
        "/v1/reports/funnel",
        params={"since": "2021-03-01", "until": "2021-03-14", "cohort": "week"},
        headers=VIEWER,
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["lifecycle_version"] == put.json()["version"]
    by = {s["stage"]: s for s in report["stages"]}
    assert list(by) == ["lead", q, sales, won]
    # lead: A, B, C, D entered; all but B went on.  qualified: A, C, D; only A went on (C went back).
    assert [(s["entered"], s["converted"]) for s in report["stages"]] == [(4, 3), (3, 1), (1, 1), (1, 0)]
    assert by["lead"]["conversion"] == 0.75
    assert by["lead"]["drop_off"] == 0.25
    assert by["lead"]["conversion_interval"] == {
        "low": pytest.approx(0.3006, abs=1e-4),
        "high": pytest.approx(0.9544, abs=1e-4),
    }
    assert by[q]["conversion"] == pytest.approx(1 / 3)
    # Stays in lead: A 1 day, C 1 day, D 0 s, B and C's second stay still open (censored).
    assert by["lead"]["time_in_stage"] == {"stays": 5, "open_stays": 2, "median_s": DAY.total_seconds(), "p90_s": None}
    # In qualified: A 2 days, C 3 days, D still there.
    assert by[q]["time_in_stage"] == {"stays": 3, "open_stays": 1, "median_s": 3 * DAY.total_seconds(), "p90_s": None}
    assert by[sales]["time_in_stage"]["median_s"] == by[sales]["time_in_stage"]["p90_s"] == DAY.total_seconds()
    assert by[won]["time_in_stage"]["median_s"] is None
    assert [by[s]["customers_now"] for s in (q, sales, won)] == [1, 0, 1]
    assert by["lead"]["customers_now"] >= 2  # B and C, and whoever other tests left in the first stage

    assert report["cohorts"] == [
        {"week": "2021-03-01", "customers": 3, "reached": {"lead": 3, q: 2, sales: 1, won: 1}},
        {"week": "2021-03-08", "customers": 1, "reached": {"lead": 1, q: 1, sales: 0, won: 0}},
    ]
    per_day = {p["start"]: {s: n for s, n in p["entered"].items() if n} for p in report["over_time"]}
    assert per_day == {
        "2021-03-01": {"lead": 2},
        "2021-03-02": {"lead": 1, q: 1},
        "2021-03-03": {q: 1},
        "2021-03-04": {sales: 1},
        "2021-03-05": {won: 1},
        "2021-03-06": {"lead": 1},
        "2021-03-08": {"lead": 1, q: 1},
    }


async def test_the_window_and_parameters_are_checked(profile_client: httpx.AsyncClient) -> None:
    for params, field, rule in (
        ({"since": "2021-03-10", "until": "2021-03-01"}, "since", "range"),
        ({"cohort": "month"}, "query.cohort", "literal_error"),
        ({"since": "yesterday"}, "query.since", "date_or_datetime"),
        ({"weeks": "2"}, "query.weeks", "unknown_parameter"),
    ):
        response = await profile_client.get("/v1/reports/funnel", params=params, headers=VIEWER)
        assert response.status_code == 422, response.text
        assert [(e["field"], e["rule"]) for e in response.json()["errors"]] == [(field, rule)]
    assert (await profile_client.get("/v1/reports/funnel")).status_code == 401
