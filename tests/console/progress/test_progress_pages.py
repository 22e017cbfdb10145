"""Progress reports in a real Chromium against the real services: with a lifecycle applied and a
journey active, a customer walks stages through ingest events; support sees their progress and
what comes next on the customer page and exports it as one HTML page and one PDF page; the
Reports page shows the funnel as the profile service counts it, with its CSV; the Lifecycle page
lists the stages and their history; nothing a person wrote runs."""

from __future__ import annotations

import csv
import io
import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect
from pypdf import PdfReader

from metaconnect_common.auth import Role
from tests.console.conftest import axe_violations, signed_in
from tests.console.stack import ConsoleStack

pytestmark = pytest.mark.timeout(300)

XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_ATTRIBUTE = '"><img src=x onerror="window.__xss=1">'
STAGES = ["lead", "qualified", "sales"]


def _lifecycle(description: str = "") -> dict[str, Any]:
    return {
        "name": "test-builder",
        "description": f"From the first enquiry to a signed contract. {description}",
        "stages": [
            {"name": "lead", "description": f"Asked about a house. {XSS_SCRIPT}", "allow_back": True},
            {
                "name": "qualified",
                "description": XSS_ATTRIBUTE,
                "enter_on": [{"event_types": ["lead.qualified"], "condition": "event.properties.budget >= 250000"}],
            },
            {"name": "sales", "enter_on": [{"event_types": ["sales.assigned"]}]},
        ],
    }


def _message(message_id: str) -> dict[str, Any]:
    return {
        "id": message_id,
        "category": "transactional",
        "channels": ["push"],
        "variants": {"neutral": {"push": {"en": {"title": "News", "body": "About your house."}}}},
    }


JOURNEY = "qualified-welcome"
SPEC: dict[str, Any] = {
    "name": JOURNEY,
    "status": "active",
    "entry": {"stage": "qualified"},
    "steps": [
        {"id": "welcome", "type": "send", "message": _message("welcome")},
        {
            "id": "wait-visit",
            "type": "wait",
            "event": {"event_types": ["visit.booked"], "timeout": "P7D", "on_timeout": "nudge"},
        },
        {"id": "thank", "type": "send", "message": _message("thanks"), "next": "end"},
        {"id": "nudge", "type": "send", "message": _message("still-there")},
    ],
}


def _put(stack: ConsoleStack, service: str, path: str, body: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {stack.token(Role.EDITOR)}"}
    response = httpx.put(f"{stack.url(service)}{path}", json=body, headers=headers, timeout=15)
    assert response.status_code in (200, 201), response.text


def _get(stack: ConsoleStack, service: str, path: str, **params: str) -> Any:
    headers = {"Authorization": f"Bearer {stack.token(Role.VIEWER)}"}
    response = httpx.get(f"{stack.url(service)}{path}", params=params, headers=headers, timeout=15)
    assert response.status_code == 200, response.text
    return response.json()


def _app(stack: ConsoleStack) -> dict[str, str]:
    admin = {"Authorization": f"Bearer {stack.token(Role.ADMIN)}"}
    key = httpx.post(f"{stack.url('ingest')}/v1/api-keys", json={"name": "progress-test"}, headers=admin, timeout=15)
    assert key.status_code == 201, key.text
    return {"Authorization": f"Bearer {key.json()['key']}"}


def _post(stack: ConsoleStack, app: dict[str, str], cid: str, type_: str, **properties: Any) -> None:
    event = {
        "customer": {"customer_id": cid, "email": f"{cid}@example.com", "device_token": f"device-{cid}"},
        "type": type_,
        "channel": "in_app",
        "properties": properties,
    }
    posted = httpx.post(f"{stack.url('ingest')}/v1/events", json=event, headers=app, timeout=15)
    assert posted.status_code == 202, posted.text


def _until(check: Any, what: str, timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.3)
    return found


@pytest.fixture(scope="module")
def walked(console_stack: ConsoleStack) -> dict[str, str]:
    """A customer who went lead -> qualified (entering the journey) -> sales, and waits for a visit."""
    _put(console_stack, "profile", "/v1/lifecycle", _lifecycle())
    _put(console_stack, "profile", "/v1/lifecycle", _lifecycle("Version two."))
    _put(console_stack, "router", f"/v1/journeys/{JOURNEY}", SPEC)
    time.sleep(2.5)  # the profile service looks the lifecycle up again at most every 2 s
    app = _app(console_stack)
    cid = f"c-{uuid.uuid4().hex[:8]}"
    _post(console_stack, app, cid, "app.opened")
    _post(console_stack, app, cid, "profile.updated", traits={"note": XSS_ATTRIBUTE, "plan": XSS_SCRIPT})
    _post(console_stack, app, cid, "lead.qualified", budget=120000)  # below the condition: stays a lead

    def stages() -> list[str]:
        response = httpx.get(
            f"{console_stack.url('profile')}/v1/profiles/cid:{cid}/stages",
            headers={"Authorization": f"Bearer {console_stack.token(Role.VIEWER)}"},
            timeout=15,
        )
        return [c["to_stage"] for c in response.json()] if response.status_code == 200 else []

    _until(lambda: stages() == ["lead"], "the customer never started as a lead")
    _post(console_stack, app, cid, "lead.qualified", budget=300000)
    _until(lambda: stages() == ["lead", "qualified"], "the customer never qualified")

    def waiting() -> bool:
        walks = _get(console_stack, "router", f"/v1/customers/cid:{cid}/journeys")["walks"]
        return any(w["journey"] == JOURNEY and w["step_id"] == "wait-visit" for w in walks)

    _until(waiting, "the walk never reached its wait")
    # A newer version without the step the walk waits at: the walk finishes on the version it started.
    wait_call = {
        "id": "wait-call",
        "type": "wait",
        "event": {"event_types": ["call.booked"], "timeout": "P7D", "on_timeout": "last-call"},
    }
    last_call = {"id": "last-call", "type": "send", "message": _message("last-call")}
    newer = {**SPEC, "steps": [SPEC["steps"][0], wait_call, SPEC["steps"][2], last_call]}
    _put(console_stack, "router", f"/v1/journeys/{JOURNEY}", newer)
    _post(console_stack, app, cid, "sales.assigned")
    _until(lambda: stages() == STAGES, f"the customer never reached sales: {stages()}")
    customer_id = _get(console_stack, "profile", f"/v1/profiles/cid:{cid}")["id"]
    return {"cid": cid, "customer_id": customer_id}


def test_support_sees_a_customers_progress_and_exports_it_as_one_page(
    console_stack: ConsoleStack, walked: dict[str, str], page: Page, tmp_path: Path
) -> None:
    console, customer_id = console_stack.console, walked["customer_id"]
    signed_in(page, console, email="sam@example.com", role="viewer")
    page.goto(f"{console}/customers/{customer_id}")
    progress = page.locator("#progress")
    expect(progress.get_by_role("heading", name="Progress")).to_be_visible()
    stays = progress.locator(".stage-timeline li")
    expect(stays).to_have_count(3)
    assert [s.get_attribute("data-stage") for s in stays.all()] == STAGES
    expect(stays.nth(1)).to_contain_text("on lead.qualified · lasted")
    expect(stays.nth(2)).to_contain_text("now")
    expect(stays.nth(2)).to_contain_text("so far")
    expect(progress.locator(".progress-walks")).to_contain_text(f"{JOURNEY}: active, entered")
    step = progress.locator(f'.next-step[data-journey="{JOURNEY}"]')
    expect(step).to_contain_text("at step wait-visit, waiting for visit.booked until")
    expect(step).to_contain_text(
        "then when it comes, step thank sends message thanks; if not by then, step nudge sends message still-there."
    )
    progress.get_by_text("Milestones").click()
    milestones = progress.locator(".milestones li")
    expect(milestones.first).to_contain_text("Started in lead (app.opened)")
    expect(progress.locator(".milestones")).to_contain_text("Moved from qualified to sales (sales.assigned)")
    expect(progress.locator(".milestones li.message")).to_contain_text(f"Journey {JOURNEY}: message welcome sent")
    expect(page.locator("#traits")).to_contain_text(XSS_SCRIPT)  # shown as text
    assert page.evaluate("window.__xss") is None
    assert axe_violations(page) == []

    with page.expect_download() as html_download:
        progress.get_by_role("link", name="Progress report (HTML)").click()
    saved = tmp_path / html_download.value.suggested_filename
    html_download.value.save_as(saved)
    html = saved.read_text()
    assert html_download.value.suggested_filename == f"metaconnect-progress-{customer_id}.html"
    assert "<script" not in html.lower()
    assert not re.search(r"\son[a-z]+=", html)
    assert "style=" not in html
    for stage in STAGES:
        assert f"<td>{stage}</td>" in html
    assert "at step wait-visit, waiting for visit.booked until" in html
    assert walked["cid"] not in html  # identities masked, as on the customer page
    assert f"{walked['cid'][0]}•••@example.com" in html
    assert "window.__xss" not in html  # traits are not in the report

    response = page.request.get(f"{console}/customers/{customer_id}/progress.html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self' 'sha256-" in policy
    # Opened on its own (its own policy inside), the embedded stylesheet applies and nothing runs.
    opened = "http://127.0.0.1:9/saved-progress-report.html"  # served as a file is: no headers, only its own
    page.route(opened, lambda route: route.fulfill(body=html, content_type="text/html; charset=utf-8"))
    page.goto(opened)
    assert page.evaluate("getComputedStyle(document.querySelector('h2')).borderBottomStyle") == "solid"
    assert page.evaluate("window.__xss") is None

    page.goto(f"{console}/customers/{customer_id}")
    with page.expect_download() as pdf_download:
        page.locator("#progress").get_by_role("link", name="Progress report (PDF)").click()
    pdf = Path(pdf_download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    for stage in STAGES:
        assert f"{stage}: entered" in text
    assert f"{JOURNEY}: at step wait-visit" in text
    assert walked["cid"] not in text

    for name in ("console", "profile", "router"):
        assert walked["cid"] not in console_stack.log_text(name), name
    assert "progress report exported" in console_stack.log_text("console")


def test_the_exports_need_a_session(console_stack: ConsoleStack, walked: dict[str, str]) -> None:
    for suffix in ("html", "pdf"):
        response = httpx.get(f"{console_stack.console}/customers/{walked['customer_id']}/progress.{suffix}")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/sign-in")
    response = httpx.get(f"{console_stack.console}/customers/{uuid.uuid4()}/progress.pdf")
    assert response.status_code == 303


def test_the_funnel_on_the_reports_page_is_the_profile_services_with_its_csv(
    console_stack: ConsoleStack, walked: dict[str, str], page: Page, tmp_path: Path
) -> None:
    console = console_stack.console
    signed_in(page, console, email="mia@example.com", role="viewer")
    page.goto(f"{console}/reports")
    page.get_by_label("Per", exact=True).select_option("week")
    page.get_by_label("Funnel cohorts").select_option("week")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"cohort=week"))
    section = page.locator("#report-funnel-stages")
    expect(section.get_by_role("heading")).to_contain_text("Lifecycle funnel by stage")
    body = _get(console_stack, "profile", "/v1/reports/funnel", interval="week", cohort="week")
    keys = ["stage", "customers_now", "entered", "converted", "conversion", "drop_off"]
    shown = [
        [row.locator(f'td[data-key="{k}"]').get_attribute("data-value") for k in keys]
        for row in section.locator("tbody tr").all()
    ]
    assert shown == [[None if s[k] is None else str(s[k]) for k in keys] for s in body["stages"]]
    assert [s["stage"] for s in body["stages"]] == STAGES
    assert body["stages"][1]["entered"] >= 1
    bars = section.locator("svg.funnel rect.bar")
    entered = [str(s["entered"]) for s in body["stages"] if s["entered"]]
    assert [b.get_attribute("data-value") for b in bars.all()] == entered
    with page.expect_download() as download:
        section.get_by_role("link", name=re.compile("Download CSV")).click()
    rows = list(csv.reader(Path(download.value.path()).read_text().splitlines()))
    assert rows[0][:5] == ["stage", "customers_now", "entered", "converted", "conversion"]
    assert [r[:3] for r in rows[1:]] == [
        [s["stage"], str(s["customers_now"]), str(s["entered"])] for s in body["stages"]
    ]
    cohorts = page.locator("#report-funnel-cohorts tbody tr")
    expect(cohorts).to_have_count(len(body["cohorts"]))
    expect(page.locator("#report-funnel-entries svg")).to_be_visible()
    assert axe_violations(page) == []

    page.goto(f"{console}/reports?cohort=month")
    expect(page.locator("#cohort-error")).to_be_visible()
    expect(page.get_by_label("Funnel cohorts")).to_have_attribute("aria-invalid", "true")


def test_the_lifecycle_page_lists_the_stages_and_their_history(
    console_stack: ConsoleStack, walked: dict[str, str], page: Page, context: BrowserContext
) -> None:
    console = console_stack.console
    signed_in(page, console, email="mia@example.com", role="viewer")
    page.goto(f"{console}/reports")
    page.get_by_role("link", name="Lifecycle").first.click()
    expect(page).to_have_url(f"{console}/lifecycle")
    expect(page.get_by_role("heading", name="Lifecycle", exact=True)).to_be_visible()
    expect(page.locator("main")).to_contain_text("metaconnect lifecycle apply")
    rows = page.locator("table.lifecycle-stages tbody tr")
    assert [r.get_attribute("data-stage") for r in rows.all()] == STAGES
    expect(rows.nth(0)).to_contain_text("allowed")
    expect(rows.nth(0)).to_contain_text(XSS_SCRIPT)  # a description shown as text
    expect(rows.nth(1)).to_contain_text("lead.qualified when event.properties.budget >= 250000")
    expect(rows.nth(2)).to_contain_text("sales.assigned")
    current = _get(console_stack, "profile", "/v1/lifecycle")
    expect(page.locator("main")).to_contain_text(f"version {current['version']}, by {current['author']}")
    history = page.locator("section", has=page.get_by_role("heading", name="Version history")).locator("tbody tr")
    expect(history).to_have_count(len(_get(console_stack, "profile", "/v1/lifecycle/versions")))
    history.first.get_by_text(re.compile("Diff against version")).click()
    expect(history.first.locator(".diff .add")).to_contain_text("Version two.")
    assert page.evaluate("window.__xss") is None
    assert axe_violations(page) == []
    expect(page.locator("main form")).to_have_count(0)  # nothing here changes the lifecycle
