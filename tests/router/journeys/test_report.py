"""A journey's report: its counts from stored walks, its intervals against statsmodels."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from statsmodels.stats.proportion import proportion_confint

from metaconnect_router.journeys.report import WalkCount, assemble, share
from metaconnect_router.journeys.spec import JourneySpec
from tests.router.conftest import operator
from tests.router.journeys.factory import entry_type, journey_spec, profiled, send

NOW = datetime(2026, 12, 7, tzinfo=UTC)


@pytest.mark.parametrize(("walks", "of"), [(0, 1), (1, 1), (3, 17), (40, 200), (999, 1000)])
def test_a_share_carries_the_wilson_interval_statsmodels_computes(walks: int, of: int) -> None:
    got = share(walks, of)
    low, high = proportion_confint(walks, of, alpha=0.05, method="wilson")
    assert got.low == pytest.approx(low, abs=1e-12)
    assert got.high == pytest.approx(high, abs=1e-12)
    assert share(0, 0).rate is None


def test_steps_count_their_own_runs_and_walks_their_ends() -> None:
    spec = JourneySpec.model_validate(
        journey_spec(
            "r",
            send("hello"),
            {"id": "pause", "type": "wait", "duration": "P1D"},
            {
                "id": "ab",
                "type": "split",
                "arms": [{"name": "a", "percent": 50, "next": "end"}, {"name": "b", "percent": 50, "next": "end"}],
            },
        )
    )
    walks = [
        WalkCount("completed", "completed", False, {"ab": "a"}, 3),
        WalkCount("converted", "signed", False, {"ab": "b"}, 2),
        WalkCount("converted", "signed", True, {}, 1),
        WalkCount("exited", "erased", True, {}, 1),
        WalkCount("active", None, False, {}, 4),
    ]
    runs = [
        ("hello", "send", "bundled", 8),
        ("hello", "send", "held_out", 2),
        ("pause", "wait", "waiting", 10),
        ("pause", "wait", "waited", 5),
        ("pause", "exit", "erased", 1),  # left while waiting: the walk's end, not the wait's
        ("ab", "split", "a", 3),
        ("ab", "split", "b", 2),
        ("ab", "end", "completed", 3),
    ]
    reached = [("hello", "send", 10), ("pause", "wait", 10), ("pause", "exit", 1), ("ab", "split", 5), ("ab", "end", 3)]
    out = assemble("r", spec, NOW - timedelta(days=30), NOW, walks, runs, reached, {"pause": 4})
    assert (out.entered, out.active, out.completed, out.exited) == (11, 4, 3, 1)
    assert (out.converted.walks, out.converted.of) == (3, 11)
    assert out.goals == {"signed": 3}
    assert out.exits == {"completed": 3, "erased": 1}
    assert [(s.step_id, s.kind, s.reached, s.resting, s.outcomes) for s in out.steps] == [
        ("hello", "send", 10, 0, {"bundled": 8, "held_out": 2}),
        ("pause", "wait", 10, 4, {"waiting": 10, "waited": 5}),
        ("ab", "split", 5, 0, {"a": 3, "b": 2}),
    ]
    assert [(a.arm, a.converted.walks, a.converted.of) for a in out.arms] == [("a", 0, 3), ("b", 2, 2)]
    assert (out.holdout.treated.walks, out.holdout.treated.of) == (2, 9)
    assert (out.holdout.holdout.walks, out.holdout.holdout.of) == (1, 2)
    assert out.holdout.uplift == pytest.approx(2 / 9 - 1 / 2)
    assert out.holdout.low is not None
    assert out.holdout.low < out.holdout.uplift < out.holdout.high  # type: ignore[operator]


async def test_the_report_reads_what_customers_did(router_app: FastAPI, router_client: httpx.AsyncClient) -> None:
    name = f"report-{uuid.uuid4().hex[:6]}"
    spec = journey_spec(
        name,
        send("hello"),
        {"id": "pause", "type": "wait", "duration": "P1D"},
        send("again"),
        goals=[{"name": "signed", "event_types": ["contract.signed"]}],
    )
    assert (await router_client.put(f"/v1/journeys/{name}", json=spec, headers=operator())).status_code == 201
    decisions = router_app.state.service.decisions
    decisions.journeys.invalidate()
    customers = [uuid.uuid4() for _ in range(5)]
    now = datetime.now(UTC)
    await decisions.apply_all([(profiled(c, entry_type(name)), None) for c in customers], now=now)
    await decisions.apply_all([(profiled(customers[0], "contract.signed"), None)], now=now + timedelta(minutes=1))
    await router_app.state.service.timers.fire_due(now + timedelta(days=1, seconds=1))
    body = (await router_client.get(f"/v1/reports/journeys/{name}", headers=operator())).json()
    assert (body["entered"], body["completed"], body["converted"]["walks"]) == (5, 4, 1)
    assert body["goals"] == {"signed": 1}
    steps = {s["step_id"]: s for s in body["steps"]}
    assert steps["hello"]["reached"] == 5
    assert steps["pause"]["outcomes"] == {"waiting": 5, "waited": 4}
    assert steps["again"]["reached"] == 4
    missing = await router_client.get("/v1/reports/journeys/no-such-journey", headers=operator())
    assert missing.status_code == 404
    bad = await router_client.get(f"/v1/reports/journeys/{name}", params={"since": "yesterday"}, headers=operator())
    assert bad.status_code == 422
