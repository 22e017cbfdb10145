"""The Journeys pages in a real Chromium against the real services: an editor writes a journey
(the router's problem shown at its line, then fixed), activates it; a customer enters it through
ingest and the drawn journey counts them resting where they wait, as their customer page says;
simulate on a real customer; history and delete; a viewer reads only; nothing a person wrote runs."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import httpx
import pytest
import yaml
from playwright.sync_api import BrowserContext, Dialog, Page, expect

from metaconnect_common.auth import Role
from tests.console.conftest import axe_violations, signed_in
from tests.console.stack import ConsoleStack

pytestmark = pytest.mark.timeout(300)

XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_ATTRIBUTE = '"><img src=x onerror="window.__xss=1">'


def _message(message_id: str, title: str = "Welcome", body: str = "Book a visit in one tap.") -> dict[str, Any]:
    return {
        "id": message_id,
        "category": "transactional",
        "channels": ["push"],
        "variants": {"neutral": {"push": {"en": {"title": title, "body": body}}}},
    }


def _journey(name: str, entry_type: str, *, wait: str = "P7D", status: str = "draft", **changes: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": "Welcome new leads, remind them after a week.",
        "status": status,
        "entry": {"event_types": [entry_type]},
        "goals": [{"name": "visit-booked", "event_types": ["visit.booked"]}],
        "steps": [
            {"id": "welcome", "type": "send", "message": _message("welcome")},
            {"id": "wait-a-week", "type": "wait", "duration": wait},
            {"id": "remind", "type": "send", "message": _message("remind", "Still curious?", "Visit us.")},
        ],
        **changes,
    }


def _put_journey(stack: ConsoleStack, spec: dict[str, Any]) -> None:
    response = httpx.put(
        f"{stack.url('router')}/v1/journeys/{spec['name']}",
        json=spec,
        headers={"Authorization": f"Bearer {stack.token(Role.EDITOR)}"},
        timeout=15,
    )
    assert response.status_code in (200, 201), response.text


def _app(stack: ConsoleStack) -> dict[str, str]:
    admin = {"Authorization": f"Bearer {stack.token(Role.ADMIN)}"}
    key = httpx.post(f"{stack.url('ingest')}/v1/api-keys", json={"name": "journeys-test"}, headers=admin, timeout=15)
    assert key.status_code == 201, key.text
    return {"Authorization": f"Bearer {key.json()['key']}"}


def _post_event(stack: ConsoleStack, app: dict[str, str], cid: str, type_: str, **who: str) -> None:
    event = {"customer": {"customer_id": cid, **who}, "type": type_, "channel": "in_app"}
    posted = httpx.post(f"{stack.url('ingest')}/v1/events", json=event, headers=app, timeout=15)
    assert posted.status_code == 202, posted.text


def _customer(stack: ConsoleStack, app: dict[str, str], cid: str) -> str:
    """A customer made the way a channel app makes one; answers their Metaconnect id."""
    _post_event(stack, app, cid, "app.opened", device_token=f"device-{uuid.uuid4().hex}")
    admin = {"Authorization": f"Bearer {stack.token(Role.ADMIN)}"}
    deadline = time.monotonic() + 60
    while (found := httpx.get(f"{stack.url('profile')}/v1/profiles/cid:{cid}", headers=admin)).status_code != 200:
        assert time.monotonic() < deadline, "the profile never appeared"
        time.sleep(0.3)
    customer_id: str = found.json()["id"]
    return customer_id


def _yaml_box(page: Page) -> Any:
    return page.get_by_label("The journey as YAML")


def test_an_editor_writes_activates_and_watches_a_journey_a_customer_walks(
    console_stack: ConsoleStack, page: Page
) -> None:
    console = console_stack.console
    dialogs: list[str] = []

    def accept(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    signed_in(page, console, email="maria@example.com", role="editor")
    name = f"welcome-{uuid.uuid4().hex[:6]}"
    entry_type = f"lead.created_{uuid.uuid4().hex[:6]}"

    page.goto(f"{console}/journeys")
    expect(page.get_by_role("heading", name="Journeys")).to_be_visible()
    assert axe_violations(page) == []
    page.get_by_role("link", name="New journey").click()
    expect(_yaml_box(page)).to_contain_text("name: new-journey")  # a template to start from
    assert axe_violations(page) == []
    text = yaml.safe_dump(_journey(name, entry_type, wait="PT0S"), sort_keys=False)
    _yaml_box(page).fill(text)
    page.get_by_role("button", name="Show changes").click()
    # The plan checks as saving does: the wait of no time is named at its line.
    problem = page.locator(".yaml-lines li.has-problem")
    expect(problem).to_have_count(1)
    expect(problem).to_contain_text("duration: PT0S")
    expect(problem).to_contain_text("wait_duration at steps.1.duration")
    expect(_yaml_box(page)).to_have_attribute("aria-invalid", "true")
    assert axe_violations(page) == []
    _yaml_box(page).fill(text.replace("PT0S", "P7D"))
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(f"{console}/journeys/{name}")
    expect(page.locator("main .badge").first).to_have_text("draft")
    graph = page.locator("svg.journey-graph")
    expect(graph.locator("g.step")).to_have_count(4)  # three steps and the end
    expect(graph.locator('g.step[data-step="wait-a-week"]')).to_contain_text("for P7D")
    assert axe_violations(page) == []

    page.get_by_role("button", name="Activate").click()
    expect(page.locator("main .badge").first).to_have_text("active")
    assert f"Activate journey {name}?" in dialogs

    app = _app(console_stack)
    cid = f"c-{uuid.uuid4().hex[:8]}"
    customer_id = _customer(console_stack, app, cid)
    _post_event(console_stack, app, cid, entry_type)
    deadline = time.monotonic() + 60
    wait_box = graph.locator('g.step[data-step="wait-a-week"]')
    while True:  # the router walks the customer in as the event arrives through Kafka
        page.goto(f"{console}/journeys/{name}")
        if "resting now 1" in (wait_box.text_content() or ""):
            break
        assert time.monotonic() < deadline, f"the walk never showed: {wait_box.text_content()}"
        time.sleep(0.5)
    expect(wait_box).to_contain_text("reached 1")
    expect(graph.locator('g.step[data-step="welcome"]')).to_contain_text("reached 1")
    expect(page.locator(".journey-summary")).to_contain_text("1 entered: 1 active")
    steps = page.get_by_role("table").first
    expect(steps.get_by_role("row", name=re.compile("wait-a-week"))).to_contain_text("1")
    csv = page.request.get(f"{console}/journeys/{name}/steps.csv?window=7")
    assert csv.status == 200
    assert csv.text().splitlines()[0] == "step_id,kind,reached,resting,outcomes"
    assert re.search(r"^wait-a-week,wait,1,1,", csv.text(), re.MULTILINE), csv.text()
    page.get_by_label("Walks entered in the last").select_option("7")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"window=7"))
    expect(wait_box).to_contain_text("resting now 1")
    assert axe_violations(page) == []

    page.goto(f"{console}/journeys")
    row = page.get_by_role("row", name=re.compile(name))
    expect(row).to_contain_text("active")
    expect(row).to_contain_text("maria@example.com")
    expect(row.get_by_role("cell").nth(5)).to_have_text("1")  # entered in the last 30 days

    page.goto(f"{console}/customers/{customer_id}")
    walk = page.get_by_role("article", name=f"Walk through journey {name}")
    expect(walk).to_contain_text("active")
    expect(walk).to_contain_text("At step wait-a-week, waiting until")
    expect(walk).to_contain_text("welcome (send)")
    assert axe_violations(page) == []
    walk.get_by_role("link", name=name).click()
    expect(page).to_have_url(f"{console}/journeys/{name}")

    page.get_by_role("link", name="Simulate on a customer").click()
    page.get_by_label("Customer", exact=True).fill("cid:nobody-here")
    page.get_by_role("button", name="Simulate").click()
    expect(page.locator("#f-customer-err1")).to_contain_text("No customer has this identifier")
    page.get_by_label("Customer", exact=True).fill(cid)  # as support has it: the bare customer id
    page.get_by_label("Later events (optional, YAML)").fill("- {after: P2D, type: [not a type]}")
    page.get_by_role("button", name="Simulate").click()
    expect(page.locator("#f-events")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-events-err1")).to_contain_text("events.0.type")
    page.get_by_label("Later events (optional, YAML)").fill("")
    page.get_by_role("button", name="Simulate").click()
    outcome = page.locator(".outcome")
    expect(outcome.locator(".headline")).to_contain_text("would end completed")
    remind = outcome.get_by_role("row", name=re.compile("remind send"))
    expect(remind).to_contain_text("+7 d")
    expect(remind).to_contain_text("on push")
    assert axe_violations(page) == []
    page.get_by_label("Later events (optional, YAML)").fill("- {after: P2D, type: visit.booked}")
    page.get_by_role("button", name="Simulate").click()
    expect(outcome.locator(".headline")).to_contain_text("would end converted")
    expect(outcome.get_by_role("row", name=re.compile("remind send"))).to_have_count(0)

    page.goto(f"{console}/journeys/{name}/edit")
    _yaml_box(page).fill(_yaml_box(page).input_value().replace("Visit us.", "Visit us this weekend."))
    page.get_by_role("button", name=re.compile("Show changes")).click()
    expect(page.locator(".diff .add")).to_contain_text("Visit us this weekend.")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("link", name="History").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(3)  # created, activated, edited
    rows.first.get_by_text("Diff against version 2").click()
    expect(rows.first.locator(".diff .add")).to_contain_text("Visit us this weekend.")
    assert axe_violations(page) == []

    page.get_by_role("link", name=name).click()
    page.get_by_role("button", name="Delete").click()
    assert f"Delete journey {name}? It ends every walk in it now (1 active)" in " ".join(dialogs)
    expect(page).to_have_url(f"{console}/journeys")
    expect(page.get_by_role("link", name=name)).to_have_count(0)
    page.goto(f"{console}/customers/{customer_id}")
    expect(page.get_by_role("article", name=f"Walk through journey {name}")).to_contain_text("exited")


def test_a_viewer_reads_journeys_and_cannot_change_them(
    console_stack: ConsoleStack, page: Page, context: BrowserContext
) -> None:
    console = console_stack.console
    name = f"ro-{uuid.uuid4().hex[:6]}"
    _put_journey(console_stack, _journey(name, f"lead.ro_{uuid.uuid4().hex[:6]}", status="active"))
    signed_in(page, console, email="sam@example.com", role="viewer")
    page.goto(f"{console}/journeys")
    expect(page.get_by_role("link", name=name)).to_be_visible()
    expect(page.get_by_role("link", name="New journey")).to_have_count(0)
    page.get_by_role("link", name=name).click()
    expect(page.get_by_role("link", name="Edit", exact=True)).to_have_count(0)
    for control in ("Activate", "Pause", "Delete"):
        expect(page.get_by_role("button", name=control)).to_have_count(0)
    expect(page.get_by_role("link", name="Simulate on a customer")).to_be_visible()  # changes nothing

    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    cookie = next(c["value"] for c in context.cookies() if c["name"] == "mc_console")
    with httpx.Client(base_url=console, cookies={"mc_console": cookie}) as client:
        assert client.get("/journeys/new").status_code == 403
        assert client.get(f"/journeys/{name}/edit").status_code == 403
        forged = {"csrf_token": csrf, "status": "paused", "version": "1"}
        assert client.post(f"/journeys/{name}/status", data=forged).status_code == 403
        assert client.post(f"/journeys/{name}/delete", data={"csrf_token": csrf}).status_code == 403
        created = {"csrf_token": csrf, "spec_yaml": f"name: {name}-2", "action": "save"}
        assert client.post("/journeys/new", data=created).status_code == 403
        edited = {"csrf_token": csrf, "spec_yaml": "name: x", "action": "save", "version": "1"}
        assert client.post(f"/journeys/{name}/edit", data=edited).status_code == 403
    page.goto(f"{console}/journeys/{name}")
    expect(page.locator("main .badge").first).to_have_text("active")  # nothing changed


def test_nothing_a_person_wrote_runs_as_script(console_stack: ConsoleStack, page: Page) -> None:
    console = console_stack.console
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    name = f"xss-{uuid.uuid4().hex[:6]}"
    entry_type = f"lead.xss_{uuid.uuid4().hex[:6]}"
    spec = _journey(name, entry_type, description=f"{XSS_SCRIPT} {XSS_ATTRIBUTE}", status="active")
    spec["steps"][0]["message"] = _message("welcome", XSS_ATTRIBUTE, XSS_SCRIPT)
    spec["steps"][1]["id"] = "wait"
    spec["goals"][0]["name"] = "booked"
    signed_in(page, console, email="maria@example.com", role="editor")
    page.goto(f"{console}/journeys/new")
    _yaml_box(page).fill(yaml.safe_dump(spec, sort_keys=False))
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(f"{console}/journeys/{name}")

    app = _app(console_stack)
    cid = f"c-{uuid.uuid4().hex[:8]}"
    customer_id = _customer(console_stack, app, cid)
    _post_event(console_stack, app, cid, entry_type)
    for path in ("/journeys", f"/journeys/{name}", f"/journeys/{name}/edit", f"/journeys/{name}/history"):
        page.goto(f"{console}{path}")
        expect(page.locator("main")).to_contain_text("window.__xss=1")  # shown as text
        assert page.evaluate("window.__xss") is None, path
    page.goto(f"{console}/journeys/{name}/simulate")
    page.get_by_label("Customer", exact=True).fill(f"cid:{cid}")
    page.get_by_label("Entry event properties (JSON)").fill(json.dumps({"note": XSS_ATTRIBUTE}))
    page.get_by_label("Later events (optional, YAML)").fill(f"- {{after: P1D, type: {XSS_SCRIPT}}}")
    page.get_by_role("button", name="Simulate").click()
    assert page.evaluate("window.__xss") is None
    page.goto(f"{console}/customers/{customer_id}")
    assert page.evaluate("window.__xss") is None
    # A YAML the router refuses, echoed back at its lines as text.
    page.goto(f"{console}/journeys/new")
    _yaml_box(page).fill(f"name: {name}-b\ndescription: '{XSS_ATTRIBUTE}'\nentry: {{stage: '{XSS_SCRIPT}'}}\n")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".yaml-lines")).to_contain_text(XSS_SCRIPT)
    assert page.evaluate("window.__xss") is None
    assert dialogs == []


def test_the_list_pages_with_the_routers_cursor(console_stack: ConsoleStack, page: Page) -> None:
    prefix = f"page-{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}-{n:02d}" for n in range(27)]
    for name in names:
        _put_journey(console_stack, _journey(name, f"lead.{name.replace('-', '_')}"))
    signed_in(page, console_stack.console, email="sam@example.com", role="viewer")
    page.goto(f"{console_stack.console}/journeys?after={prefix}")  # the cursor: the last name seen
    first = page.locator("tbody tr td:first-child a").all_inner_texts()
    assert first == names[:25]
    page.get_by_role("link", name="Next journeys").click()
    expect(page).to_have_url(re.compile(f"after={prefix}-24"))
    second = page.locator("tbody tr td:first-child a").all_inner_texts()
    assert second[:2] == names[25:]
    assert not set(first) & set(second)


def test_an_edit_never_overwrites_a_change_made_meanwhile(console_stack: ConsoleStack, page: Page) -> None:
    console = console_stack.console
    name = f"race-{uuid.uuid4().hex[:6]}"
    spec = _journey(name, f"lead.race_{uuid.uuid4().hex[:6]}")
    _put_journey(console_stack, spec)
    signed_in(page, console, email="maria@example.com", role="editor")
    page.goto(f"{console}/journeys/{name}/edit")
    mine = _yaml_box(page).input_value().replace("Visit us.", "Mine.")
    _yaml_box(page).fill(mine)
    _put_journey(console_stack, {**spec, "description": "Theirs."})  # version 2, written while the page was open
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("alert").first).to_contain_text("Someone changed this journey meanwhile")
    expect(_yaml_box(page)).to_have_value(mine)
    page.goto(f"{console}/journeys/{name}")
    expect(page.locator("main")).to_contain_text("Theirs.")
