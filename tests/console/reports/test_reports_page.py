"""The Reports page in a real Chromium against the real services: decisions made from events posted
through ingest, the charts, tables and CSVs carrying exactly the report APIs' numbers."""

from __future__ import annotations

import csv
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from metaconnect_common.auth import Role
from tests.console.conftest import axe_violations, signed_in
from tests.console.stack import ConsoleStack

pytestmark = pytest.mark.timeout(300)
CUSTOMERS = 6


def _wait(what: str, check: Callable[[], Any], timeout_s: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout_s} s: {what}")


@pytest.fixture(scope="module")
def decided(console_stack: ConsoleStack) -> str:
    """A transactional push route (half its customers held out) and orders from six customers, each
    decision sent through the sandbox's FCM and its receipt back at the router: the route's name."""
    stack = console_stack
    admin = {"Authorization": f"Bearer {stack.token(Role.ADMIN)}"}
    editor = {"Authorization": f"Bearer {stack.token(Role.EDITOR)}"}
    viewer = {"Authorization": f"Bearer {stack.token(Role.VIEWER)}"}
    name = f"order-{uuid.uuid4().hex[:6]}"
    with httpx.Client(timeout=15) as client:
        key = client.post(f"{stack.url('ingest')}/v1/api-keys", json={"name": "reports"}, headers=admin)
        assert key.status_code == 201, key.text
        app = {"Authorization": f"Bearer {key.json()['key']}"}
        route = {
            "name": name,
            "status": "active",
            "trigger": {"event_types": ["order.placed"]},
            "messages": [
                {
                    "id": "order-confirmation",
                    "priority": 100,
                    "category": "transactional",
                    "channels": ["push"],
                    "variants": {"neutral": {"push": {"en": {"title": "Order confirmed", "body": "Thank you."}}}},
                }
            ],
            "policy": {"holdout_share": 0.5},
        }
        put = client.put(f"{stack.url('router')}/v1/routes/{name}", json=route, headers=editor)
        assert put.status_code in (200, 201), put.text
        for i in range(CUSTOMERS):
            customer = {"customer_id": f"{name}-{i}", "device_token": f"device-{uuid.uuid4().hex}"}
            event = {"customer": customer, "type": "order.placed", "channel": "web", "properties": {"order": i}}
            posted = client.post(f"{stack.url('ingest')}/v1/events", json=event, headers=app)
            assert posted.status_code == 202, posted.text

        def all_sent() -> bool:
            body = client.get(
                f"{stack.url('router')}/v1/reports/decisions", params={"route": name}, headers=viewer
            ).json()
            return bool(body["total"]["decisions"] == CUSTOMERS and body["total"]["sent"] == CUSTOMERS)

        _wait("every decision made and its receipt back at the router", all_sent)
    return name


@pytest.fixture(scope="module")
def bundled(console_stack: ConsoleStack) -> str:
    """A marketing route bundling for two seconds, and two consenting customers' views (one views twice):
    two bundles flushed through the sandbox's FCM. The route's name."""
    stack = console_stack
    admin = {"Authorization": f"Bearer {stack.token(Role.ADMIN)}"}
    editor = {"Authorization": f"Bearer {stack.token(Role.EDITOR)}"}
    viewer = {"Authorization": f"Bearer {stack.token(Role.VIEWER)}"}
    name = f"news-{uuid.uuid4().hex[:6]}"
    with httpx.Client(timeout=15) as client:
        key = client.post(f"{stack.url('ingest')}/v1/api-keys", json={"name": "reports-news"}, headers=admin)
        assert key.status_code == 201, key.text
        app = {"Authorization": f"Bearer {key.json()['key']}"}
        route = {
            "name": name,
            "status": "active",
            "trigger": {"event_types": ["product.viewed"]},
            "messages": [
                {
                    "id": "news",
                    "priority": 40,
                    "category": "marketing",
                    "channels": ["push"],
                    "variants": {"neutral": {"push": {"en": {"title": "New in", "body": "Have a look."}}}},
                }
            ],
            "policy": {"bundle_window": "PT2S"},
        }
        put = client.put(f"{stack.url('router')}/v1/routes/{name}", json=route, headers=editor)
        assert put.status_code in (200, 201), put.text
        for i, views in enumerate((2, 1)):
            customer = {"customer_id": f"{name}-{i}", "device_token": f"device-{uuid.uuid4().hex}"}
            consent = {"purpose": "marketing", "granted": True, "channel": "push"}
            events = [{"type": "consent.changed", "properties": consent}]
            events += [{"type": "product.viewed", "properties": {"product": f"p{v}"}} for v in range(views)]
            for event in events:
                posted = client.post(
                    f"{stack.url('ingest')}/v1/events",
                    json={"customer": customer, "channel": "web", **event},
                    headers=app,
                )
                assert posted.status_code == 202, posted.text

        def flushed() -> bool:
            body = client.get(f"{stack.url('router')}/v1/reports/bundles", params={"route": name}, headers=viewer)
            return bool(body.json()["bundles"] == 2)

        _wait("both bundles flushed", flushed)
    return name


def api(stack: ConsoleStack, service: str, path: str, **params: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {stack.token(Role.VIEWER)}"}
    response = httpx.get(f"{stack.url(service)}{path}", params=params, headers=headers, timeout=15)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def shown_rows(section: Locator, keys: list[str]) -> list[list[str | None]]:
    """The table's cells by the API's field names: the exact value (`data-value`), None where empty."""
    rows = []
    for tr in section.locator("tbody tr").all():
        rows.append([tr.locator(f'td[data-key="{k}"]').get_attribute("data-value") for k in keys])
    return rows


def as_text(value: Any) -> str | None:
    """A JSON value as the page's `data-value` or a CSV cell carries it."""
    return None if value is None else str(value)


def downloaded(page: Page, section: Locator, tmp_path: Path) -> tuple[str, list[list[str]]]:
    with page.expect_download() as info:
        section.get_by_role("link", name="Download CSV").click()
    download = info.value
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    with path.open(newline="", encoding="utf-8") as f:
        return download.suggested_filename, list(csv.reader(f))


def test_a_manager_sees_decisions_engagement_uplift_and_deliveries_as_the_apis_report_them(
    console_stack: ConsoleStack, decided: str, page: Page, tmp_path: Path
) -> None:
    stack, route = console_stack, decided
    today = datetime.now(UTC).date().isoformat()
    signed_in(page, stack.console, email="manager@example.com", role="viewer")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    page.get_by_label("Route", exact=True).fill(route)
    page.get_by_label("From (UTC day)").fill(today)
    page.get_by_label("To (UTC day, included)").fill(today)
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", name="Reports", exact=True)).to_be_visible()
    window = {"since": today, "until": today, "route": route}

    # Decisions by outcome per day: one bar (today, every decision sent), the table and CSV as the API.
    decisions = api(stack, "router", "/v1/reports/decisions/over-time", group_by="outcome", period="day", **window)
    assert [(r["period"], r["group"], r["decisions"]) for r in decisions["rows"]] == [(today, "sent", CUSTOMERS)]
    section = page.locator("#report-decisions")
    expect(section.locator("svg[role=img] rect.bar")).to_have_count(1)
    assert section.locator("svg rect.bar").get_attribute("data-value") == str(CUSTOMERS)
    keys = ["period", "group", "decisions", "sent", "failed", "engaged", "engagement_rate"]
    expected = [[as_text(r[k]) for k in keys] for r in decisions["rows"]]
    assert shown_rows(section, keys) == expected
    filename, rows = downloaded(page, section, tmp_path)
    assert filename == f"metaconnect-decisions-{route}-day-{today}-{today}.csv"
    assert rows == [keys, *[[v or "" for v in row] for row in expected]]

    # Engagement by route per day: a point where the rate is known.
    engagement = api(stack, "router", "/v1/reports/engagement/over-time", group_by="route", period="day", **window)
    section = page.locator("#report-engagement")
    points = [r for r in engagement["rows"] if r["engagement_rate"] is not None]
    expect(section.locator("svg circle.point")).to_have_count(len(points))
    keys = ["period", "group", "sent", "failed", "engaged", "engagement_rate"]
    expected = [[as_text(r[k]) for k in keys] for r in engagement["rows"]]
    assert shown_rows(section, keys) == expected
    _, rows = downloaded(page, section, tmp_path)
    assert rows == [keys, *[[v or "" for v in row] for row in expected]]

    # Uplift: the route's row and the stratified one, each interval drawn as the API has it.
    uplift = api(stack, "router", "/v1/reports/uplift", **window)
    [only] = uplift["routes"]
    section = page.locator("#report-uplift")
    estimable = [u for u in (only, uplift["overall"]) if u["interval"] is not None]
    expect(section.locator("svg g.interval")).to_have_count(len(estimable))
    expect(section.locator("svg line.zero")).to_have_count(1 if estimable else 0)
    shown = shown_rows(section, ["treated_customers", "holdout_customers", "uplift", "low", "high"])
    for row, u in zip(shown, [only, uplift["overall"]], strict=True):
        interval = u["interval"] or {}
        assert row == [
            as_text(u["treated"]["customers"]),
            as_text(u["holdout"]["customers"]),
            as_text(u["uplift"]),
            as_text(interval.get("low")),
            as_text(interval.get("high")),
        ]
    assert only["treated"]["customers"] + only["holdout"]["customers"] == CUSTOMERS
    _, rows = downloaded(page, section, tmp_path)
    assert rows[0][:2] == ["route", "treated_customers"]
    assert rows[1][:2] == [route, str(only["treated"]["customers"])]

    # Bundles: a transactional route bundles nothing; the charts say so rather than draw empty axes.
    bundles = api(stack, "router", "/v1/reports/bundles", **window)
    assert bundles["bundles"] == 0
    expect(page.locator("#report-bundle-sizes svg")).to_contain_text("No data")
    expect(page.locator("#report-time-in-bundle svg")).to_contain_text("No data")

    # Deliveries by provider (every route: deliveries are not kept by route).
    providers = api(stack, "delivery", "/v1/reports/providers", since=today, until=today)
    fcm = next(r for r in providers["rows"] if r["provider"] == "sandbox-fcm")
    assert fcm["sent"] >= CUSTOMERS
    section = page.locator("#report-providers")
    segments = sum(1 for r in providers["rows"] for k in ("sent", "failed", "pending") if r[k])
    expect(section.locator("svg rect.bar")).to_have_count(segments)
    keys = ["provider", "deliveries", "sent", "failed", "pending", "failure_rate", "attempts", "failed_attempts"]
    expected = [[as_text(r[k]) for k in keys] for r in providers["rows"]]
    assert shown_rows(section, keys) == expected
    _, rows = downloaded(page, section, tmp_path)
    assert rows == [keys, *[[v or "" for v in row] for row in expected]]

    assert axe_violations(page) == []


def test_bundle_sizes_and_time_in_bundle_as_the_router_reports_them(
    console_stack: ConsoleStack, bundled: str, page: Page, tmp_path: Path
) -> None:
    stack, route = console_stack, bundled
    today = datetime.now(UTC).date().isoformat()
    signed_in(page, stack.console, email="manager@example.com", role="viewer")
    page.goto(f"{stack.console}/reports?period=week&route={route}&since={today}&until={today}")
    window = {"since": today, "until": today, "route": route}
    bundles = api(stack, "router", "/v1/reports/bundles", **window)
    assert bundles["bundles"] == 2

    section = page.locator("#report-bundle-sizes")
    expect(section.locator("svg rect.bar")).to_have_count(len(bundles["sizes"]))
    assert shown_rows(section, ["size", "bundles"]) == [[str(r["size"]), str(r["bundles"])] for r in bundles["sizes"]]
    expect(section.locator(".report-summary")).to_contain_text(f"Bundles flushed{bundles['bundles']}")
    filename, rows = downloaded(page, section, tmp_path)
    assert filename == f"metaconnect-bundle-sizes-{route}-{today}-{today}.csv"
    assert rows == [["size", "bundles"], *[[str(r["size"]), str(r["bundles"])] for r in bundles["sizes"]]]

    section = page.locator("#report-time-in-bundle")
    keys = ["at_least_seconds", "under_seconds", "bundles"]
    expected = [[as_text(r[k]) for k in keys] for r in bundles["time_in_bundle"]]
    assert shown_rows(section, keys) == expected
    expect(section.locator("svg rect.bar")).to_have_count(len([r for r in bundles["time_in_bundle"] if r["bundles"]]))
    _, rows = downloaded(page, section, tmp_path)
    assert [row[1:] for row in rows] == [keys, *[[v or "" for v in row] for row in expected]]

    # Per week: the decisions' period is the week's Monday, as the router buckets it.
    decisions = api(stack, "router", "/v1/reports/decisions/over-time", group_by="outcome", period="week", **window)
    assert decisions["rows"]
    section = page.locator("#report-decisions")
    assert shown_rows(section, ["period", "group", "decisions"]) == [
        [r["period"], r["group"], str(r["decisions"])] for r in decisions["rows"]
    ]
    assert axe_violations(page) == []


def test_a_reversed_range_is_shown_at_the_field_with_the_rule(console_stack: ConsoleStack, page: Page) -> None:
    signed_in(page, console_stack.console, email="manager@example.com", role="viewer")
    response = page.goto(f"{console_stack.console}/reports?since=2026-12-07&until=2026-12-01")
    assert response is not None
    assert response.status == 422
    expect(page.locator("#since-error")).to_contain_text("since must not be after until (range)")
    expect(page.get_by_label("From (UTC day)")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("section.report")).to_have_count(0)
    assert axe_violations(page) == []


def test_a_csv_is_an_attachment_of_a_report_there_is_and_needs_a_session(
    console_stack: ConsoleStack, page: Page
) -> None:
    signed_in(page, console_stack.console, email="manager@example.com", role="viewer")
    csv_file = page.request.get(f"{console_stack.console}/reports/providers.csv?since=2026-12-01&until=2026-12-01")
    assert csv_file.status == 200
    assert csv_file.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = csv_file.headers["content-disposition"]
    assert disposition == 'attachment; filename="metaconnect-providers-2026-12-01-2026-12-01.csv"'
    assert csv_file.text().splitlines()[0].startswith("provider,deliveries,sent,failed")
    assert page.request.get(f"{console_stack.console}/reports/nothing.csv").status == 404

    anonymous = httpx.get(f"{console_stack.console}/reports/decisions.csv", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/sign-in")
