"""The Routes pages in a real Chromium against the real services: an editor creates a route
(an error shown at its field, then fixed), previews every tone, activates and pauses it, reads its
history and rolls back; simulates on a real customer; nothing a person wrote ever runs as script;
a viewer reads only."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, Dialog, Page, expect

from metaconnect_common.auth import Role
from tests.console.conftest import axe_violations, signed_in
from tests.console.stack import ConsoleStack

TONES = ("neutral", "red", "yellow", "green", "blue")
XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_ATTRIBUTE = '"><img src=x onerror="window.__xss=1">'


def _put_route(stack: ConsoleStack, spec: dict[str, Any]) -> None:
    response = httpx.put(
        f"{stack.url('router')}/v1/routes/{spec['name']}",
        json=spec,
        headers={"Authorization": f"Bearer {stack.token(Role.EDITOR)}"},
    )
    assert response.status_code in (200, 201), response.text


def _route(name: str, *, status: str = "active", category: str = "marketing") -> dict[str, Any]:
    return {
        "name": name,
        "status": status,
        "trigger": {"event_types": ["cart.abandoned"]},
        "messages": [
            {
                "id": "cart-left",
                "category": category,
                "channels": ["push"],
                "variants": {
                    tone: {"push": {"en": {"title": f"Your cart ({tone})", "body": "Your items are waiting."}}}
                    for tone in TONES
                },
            }
        ],
    }


def _field(page: Page, path: str) -> Any:
    return page.locator(f'[name="{path}"]')


def test_an_editor_creates_previews_activates_pauses_and_rolls_back_a_route(
    console_stack: ConsoleStack, page: Page
) -> None:
    console = console_stack.console
    page.on("dialog", lambda dialog: dialog.accept())
    signed_in(page, console, email="maria@example.com", role="editor")
    name = f"cart-{uuid.uuid4().hex[:6]}"

    page.goto(f"{console}/routes")
    expect(page.get_by_role("heading", name="Routes")).to_be_visible()
    page.get_by_role("link", name="New route").click()
    _field(page, "name").fill(name)
    _field(page, "trigger.event_types").fill("cart.abandoned")
    for tone in TONES[1:]:
        page.locator(f'input[name="messages.0.tones"][value="{tone}"]').check()
    page.locator('input[name="messages.0.channels"][value="sms"]').check()
    page.get_by_role("button", name="Update the text fields").first.click()
    # Five tones x two channels: each with its own inputs now.
    expect(_field(page, "messages.0.variants.blue.sms.en.body")).to_be_visible()
    for tone in TONES:
        _field(page, f"messages.0.variants.{tone}.push.en.title").fill(f"Your cart ({tone})")
        _field(page, f"messages.0.variants.{tone}.push.en.body").fill(f"{{{{ customer.first_name }}}}, {tone} waits.")
        _field(page, f"messages.0.variants.{tone}.sms.en.body").fill(f"Cart {tone}: {{{{ data.value }}}} EUR")
    _field(page, "messages.0.priority").fill("500")  # the router allows 1-100
    assert axe_violations(page) == []
    page.get_by_role("button", name="Save", exact=True).click()

    priority = page.locator("#f-messages-0-priority")
    expect(priority).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-messages-0-priority-err1")).to_contain_text("less_than_equal")
    expect(page.get_by_role("alert").first).to_contain_text("Nothing was saved")
    # Everything typed is still there.
    expect(_field(page, "messages.0.variants.blue.push.en.title")).to_have_value("Your cart (blue)")
    assert axe_violations(page) == []
    priority.fill("60")
    _field(page, "sample.data").fill('{"value": 42}')
    page.get_by_role("button", name="Preview every tone").click()
    expect(page.locator("#preview article.preview")).to_have_count(10)
    expect(page.locator("#preview")).to_contain_text("Cart red: 42 EUR")
    expect(page.locator("#preview")).to_contain_text("1 SMS segment")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page).to_have_url(f"{console}/routes/{name}")
    expect(page.get_by_role("heading", name=f"Route {name}")).to_be_visible()
    previews = page.locator("article.preview")
    expect(previews).to_have_count(10)
    for tone in TONES:
        expect(page.get_by_role("article", name=f"message-1: {tone} tone, push, en")).to_contain_text(
            f"Ada, {tone} waits."
        )
    expect(page.get_by_role("article", name="message-1: red tone, push, en")).to_contain_text("Title 15/65")
    # Without sample data the SMS template cannot render: the preview says so, naming the variable.
    expect(page.get_by_role("article", name="message-1: red tone, sms, en")).to_contain_text("data.value")
    assert axe_violations(page) == []

    page.get_by_role("button", name="Activate").click()
    expect(page.locator("main .badge").first).to_have_text("active")
    page.get_by_role("link", name="Edit").click()
    _field(page, "messages.0.variants.red.push.en.body").fill("Check out now, {{ customer.first_name }}.")
    page.get_by_role("button", name=re.compile("Show changes")).click()
    expect(page.locator(".diff .add")).to_contain_text("Check out now")
    expect(page.locator(".diff .del")).to_contain_text("red waits.")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("article", name="message-1: red tone, push, en")).to_contain_text("Check out now, Ada.")
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("main .badge").first).to_have_text("paused")

    page.get_by_role("link", name="History").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(4)  # created, activated, edited, paused
    rows.nth(1).get_by_text("Diff against version 2").click()
    expect(rows.nth(1).locator(".diff .add")).to_contain_text("Check out now")
    assert axe_violations(page) == []
    page.get_by_role("button", name="Roll back to version 2").click()
    expect(rows).to_have_count(5)
    page.get_by_role("link", name=name).click()
    expect(page.locator("main .badge").first).to_have_text("paused")  # the status stays
    expect(page.get_by_role("article", name="message-1: red tone, push, en")).to_contain_text("Ada, red waits.")

    page.goto(f"{console}/routes")
    row = page.get_by_role("row", name=re.compile(name))
    expect(row).to_contain_text("paused")
    expect(row).to_contain_text("maria@example.com")
    assert axe_violations(page) == []


def test_yaml_mode_shows_the_same_route_and_its_errors(console_stack: ConsoleStack, page: Page) -> None:
    console = console_stack.console
    signed_in(page, console, email="yusuf@example.com", role="editor")
    page.goto(f"{console}/routes/new")
    # The preview follows the typing (htmx posts the form as it is; nothing is saved).
    _field(page, "messages.0.variants.neutral.push.en.body").fill("Hello {{ customer.first_name }}")
    expect(page.get_by_role("article", name="message-1: neutral tone, push, en")).to_contain_text("Hello Ada")
    # Ticking a tone brings its inputs at once, and keeps what was typed.
    page.locator('input[name="messages.0.tones"][value="green"]').check()
    expect(_field(page, "messages.0.variants.green.push.en.body")).to_be_visible()
    expect(_field(page, "messages.0.variants.neutral.push.en.body")).to_have_value("Hello {{ customer.first_name }}")
    page.get_by_role("button", name="Edit as YAML").click()
    yaml_box = page.get_by_label("The route as YAML")
    expect(yaml_box).to_contain_text("Hello {{ customer.first_name }}")
    yaml_box.fill("name: [unclosed")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#f-spec_yaml")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-spec_yaml-err1")).to_contain_text("yaml_syntax")
    yaml_box.fill("name: yaml-route\ntrigger:\n  event_types: [Bad Type]\nmessages: []\n")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".field-error").filter(has_text="trigger.event_types.0")).to_have_count(1)
    page.get_by_role("button", name="Edit as a form").click()
    expect(_field(page, "name")).to_have_value("yaml-route")


def _customer(stack: ConsoleStack, cid: str, *, first_event: str = "app.opened") -> dict[str, str]:
    """A customer made the way a channel app makes one: an event posted to ingest. Answers the app's headers."""
    admin = {"Authorization": f"Bearer {stack.token(Role.ADMIN)}"}
    key = httpx.post(f"{stack.url('ingest')}/v1/api-keys", json={"name": "routes-test"}, headers=admin)
    assert key.status_code == 201, key.text
    app = {"Authorization": f"Bearer {key.json()['key']}"}
    _post_event(stack, app, cid, first_event, device_token=f"device-{uuid.uuid4().hex}")
    deadline = time.monotonic() + 60
    while httpx.get(f"{stack.url('profile')}/v1/profiles/cid:{cid}", headers=admin).status_code != 200:
        assert time.monotonic() < deadline, "the profile never appeared"
        time.sleep(0.3)
    return app


def _post_event(stack: ConsoleStack, app: dict[str, str], cid: str, type_: str, **who: str) -> None:
    event = {"customer": {"customer_id": cid, **who}, "type": type_, "channel": "in_app"}
    posted = httpx.post(f"{stack.url('ingest')}/v1/events", json=event, headers=app)
    assert posted.status_code == 202, posted.text


def test_the_list_counts_each_routes_decisions_of_the_last_day(console_stack: ConsoleStack, page: Page) -> None:
    console = console_stack.console
    name = f"count-{uuid.uuid4().hex[:6]}"
    event_type = f"basket.left_{uuid.uuid4().hex[:6]}"
    spec = _route(name, category="transactional")
    spec["trigger"]["event_types"] = [event_type]
    _put_route(console_stack, spec)
    cid = f"c-{uuid.uuid4().hex[:8]}"
    app = _customer(console_stack, cid)
    _post_event(console_stack, app, cid, event_type)
    _post_event(console_stack, app, cid, event_type)

    signed_in(page, console, email="lena@example.com", role="viewer")
    deadline = time.monotonic() + 60
    while True:  # the router decides as the events arrive through Kafka
        page.goto(f"{console}/routes")
        cells = page.get_by_role("row", name=re.compile(name)).get_by_role("cell")
        if cells.nth(5).inner_text() == "2":
            break
        assert time.monotonic() < deadline, f"decisions never counted: {cells.all_inner_texts()}"
        time.sleep(0.5)
    assert axe_violations(page) == []


def test_a_route_is_simulated_on_a_real_customer_and_explained(console_stack: ConsoleStack, page: Page) -> None:
    console = console_stack.console
    name = f"sim-{uuid.uuid4().hex[:6]}"
    _put_route(console_stack, _route(name, status="paused", category="transactional"))
    cid = f"c-{uuid.uuid4().hex[:8]}"
    _customer(console_stack, cid)

    signed_in(page, console, email="lena@example.com", role="viewer")  # simulating changes nothing
    page.goto(f"{console}/routes/{name}")
    page.get_by_role("link", name="Simulate on a customer").click()
    page.get_by_label("Customer").fill("cid:nobody-here")
    page.get_by_role("button", name="Simulate").click()
    expect(page.locator("#f-customer")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-customer-err1")).to_contain_text("No customer has this identifier")

    page.get_by_label("Customer").fill(f"cid:{cid}")
    expect(page.get_by_label("Event type")).to_have_value("cart.abandoned")
    page.get_by_role("button", name="Simulate").click()
    outcome = page.locator(".outcome")
    expect(outcome.locator(".headline")).to_contain_text(f"Message “cart-left” of route “{name}” would go out")
    expect(outcome.locator(".headline")).to_contain_text("on push")
    expect(outcome).to_contain_text("The event is “cart.abandoned”")
    expect(outcome).to_contain_text(f"“{name}” (as if active)")
    expect(outcome).to_contain_text("The channel is push")
    assert axe_violations(page) == []

    page.get_by_label(re.compile("This route as if it were active")).uncheck()
    page.get_by_role("button", name="Simulate").click()
    expect(page.locator(".outcome .headline")).to_contain_text("would go out")
    expect(page.locator(".outcome .headline")).not_to_contain_text(name)  # it is paused: it does not decide


def test_nothing_a_person_wrote_runs_as_script(console_stack: ConsoleStack, page: Page) -> None:
    console = console_stack.console
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    signed_in(page, console, email="maria@example.com", role="editor")
    name = f"xss-{uuid.uuid4().hex[:6]}"
    page.goto(f"{console}/routes/new")
    _field(page, "name").fill(name)
    _field(page, "description").fill(f"{XSS_SCRIPT} {XSS_ATTRIBUTE}")
    _field(page, "trigger.event_types").fill("cart.abandoned")
    _field(page, "messages.0.collapse_key").fill(XSS_ATTRIBUTE)
    _field(page, "messages.0.variants.neutral.push.en.title").fill(XSS_ATTRIBUTE)
    _field(page, "messages.0.variants.neutral.push.en.body").fill(XSS_SCRIPT)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(f"{console}/routes/{name}")

    for path in ("/routes", f"/routes/{name}", f"/routes/{name}/edit", f"/routes/{name}/history"):
        page.goto(f"{console}{path}")
        expect(page.locator("main")).to_contain_text("window.__xss=1")  # shown as text
        assert page.evaluate("window.__xss") is None, path
    # The preview shows the rendered text as text, too.
    page.goto(f"{console}/routes/{name}")
    expect(page.get_by_role("article", name="message-1: neutral tone, push, en")).to_contain_text(XSS_SCRIPT)
    # A name that is no slug is refused at its field; the page does not echo it as markup.
    page.goto(f"{console}/routes/new")
    _field(page, "name").fill(XSS_ATTRIBUTE)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#f-name")).to_have_attribute("aria-invalid", "true")
    assert page.evaluate("window.__xss") is None
    assert dialogs == []


def test_a_viewer_reads_routes_and_cannot_change_them(
    console_stack: ConsoleStack, page: Page, context: BrowserContext
) -> None:
    console = console_stack.console
    name = f"ro-{uuid.uuid4().hex[:6]}"
    _put_route(console_stack, _route(name))
    signed_in(page, console, email="sam@example.com", role="viewer")
    page.goto(f"{console}/routes")
    expect(page.get_by_role("link", name=name)).to_be_visible()
    expect(page.get_by_role("link", name="New route")).to_have_count(0)
    page.get_by_role("link", name=name).click()
    for control in ("Edit",):
        expect(page.get_by_role("link", name=control, exact=True)).to_have_count(0)
    for control in ("Activate", "Pause"):
        expect(page.get_by_role("button", name=control)).to_have_count(0)
    page.get_by_role("link", name="History").click()
    expect(page.get_by_role("button", name=re.compile("Roll back"))).to_have_count(0)

    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    cookie = next(c["value"] for c in context.cookies() if c["name"] == "mc_console")
    with httpx.Client(base_url=console, cookies={"mc_console": cookie}) as client:
        assert client.get("/routes/new").status_code == 403
        forged = client.post(f"/routes/{name}/status", data={"csrf_token": csrf, "status": "paused", "version": "1"})
        assert forged.status_code == 403
        created = client.post("/routes/new", data={"csrf_token": csrf, "name": "forged", "action": "save"})
        assert created.status_code == 403
        rolled = client.post(f"/routes/{name}/rollback", data={"csrf_token": csrf, "version": "1", "current": "1"})
        assert rolled.status_code == 403
    page.goto(f"{console}/routes/{name}")
    expect(page.locator("main .badge").first).to_have_text("active")  # nothing changed


def test_an_edit_never_overwrites_a_change_made_meanwhile(console_stack: ConsoleStack, page: Page) -> None:
    console = console_stack.console
    name = f"race-{uuid.uuid4().hex[:6]}"
    _put_route(console_stack, _route(name))
    signed_in(page, console, email="maria@example.com", role="editor")
    page.goto(f"{console}/routes/{name}/edit")
    _field(page, "messages.0.variants.red.push.en.body").fill("Mine")
    theirs = _route(name)
    theirs["messages"][0]["variants"]["red"]["push"]["en"]["body"] = "Theirs"
    _put_route(console_stack, theirs)  # version 2, written while the page was open

    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("alert").first).to_contain_text("Someone changed this route meanwhile")
    expect(_field(page, "messages.0.variants.red.push.en.body")).to_have_value("Mine")
    page.goto(f"{console}/routes/{name}")
    expect(page.get_by_role("article", name="cart-left: red tone, push, en")).to_contain_text("Theirs")
    # A status change from a page showing an older version is refused the same way.
    page.on("dialog", lambda dialog: dialog.accept())
    _put_route(console_stack, _route(name))  # version 3
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("alert")).to_contain_text("Someone changed route")
