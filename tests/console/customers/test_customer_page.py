"""Support finds a customer by an identifier and reads everything about them on one page; admins
export and erase. A real browser against the four services, the console and an OIDC provider."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import yaml
from playwright.sync_api import BrowserContext, Dialog, Page, expect

from metaconnect_common.auth import Role
from tests.console.conftest import axe_violations, signed_in
from tests.console.stack import ConsoleStack

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = "<script>window.__xss=1</script>"
ATTRIBUTE = '"><img src=x onerror="window.__xss=1">'
TRACES = "http://traces.example.test/trace/"

pytestmark = pytest.mark.timeout(300)


@dataclass(frozen=True)
class Customer:
    email: str
    route: str


def _post(stack: ConsoleStack, key: str, customer: dict[str, str], type_: str, **properties: object) -> None:
    event = {"customer": customer, "type": type_, "channel": "web", "properties": properties}
    response = httpx.post(
        f"{stack.url('ingest')}/v1/events", json=event, headers={"Authorization": f"Bearer {key}"}, timeout=15
    )
    assert response.status_code == 202, response.text


def _api_key(stack: ConsoleStack) -> str:
    admin = {"Authorization": f"Bearer {stack.token(Role.ADMIN)}"}
    created = httpx.post(f"{stack.url('ingest')}/v1/api-keys", json={"name": "shop"}, headers=admin, timeout=15)
    assert created.status_code == 201, created.text
    key: str = created.json()["key"]
    return key


@pytest.fixture(scope="module")
def app_key(console_stack: ConsoleStack) -> str:
    return _api_key(console_stack)


@pytest.fixture(scope="module")
def route(console_stack: ConsoleStack) -> str:
    """The example order confirmation (transactional; push first), applied as marketing ops would."""
    spec = yaml.safe_load((ROOT / "examples" / "routes" / "order-confirmation.yaml").read_text())
    editor = {"Authorization": f"Bearer {console_stack.token(Role.EDITOR)}"}
    applied = httpx.put(f"{console_stack.url('router')}/v1/routes/{spec['name']}", json=spec, headers=editor)
    assert applied.status_code in (200, 201), applied.text
    note = {
        "name": "account-note",
        "status": "active",
        "trigger": {"event_types": ["account.changed"]},
        "messages": [
            {
                "id": "account-note",
                "priority": 90,
                "category": "transactional",
                "channels": ["in_app"],
                "variants": {"neutral": {"in_app": {"en": {"title": "Account", "body": "Your address was changed."}}}},
            }
        ],
    }
    applied = httpx.put(f"{console_stack.url('router')}/v1/routes/account-note", json=note, headers=editor)
    assert applied.status_code in (200, 201), applied.text
    name: str = spec["name"]
    return name


@pytest.fixture(scope="module")
def ada(console_stack: ConsoleStack, app_key: str, route: str) -> Customer:
    """A customer with an e-mail address and a device, consent to marketing by push, traits carrying
    markup, and an order the example route confirms by push."""
    email = f"ada.{uuid.uuid4().hex[:8]}@example.com"
    who = {"email": email, "device_token": f"device-{uuid.uuid4().hex}"}
    _post(console_stack, app_key, who, "consent.changed", purpose="marketing", granted=True, channel="push")
    _post(console_stack, app_key, who, "profile.updated", traits={"note": SCRIPT, "nickname": ATTRIBUTE})
    _post(console_stack, app_key, who, "order.placed", order="A-1001")
    _post(console_stack, app_key, who, "account.changed")
    return Customer(email=email, route=route)


def _until(page: Page, check: Callable[[], None], *, seconds: float = 60) -> None:
    """Reload until `check` passes: what the services do reaches them a moment after the event."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            page.reload()


def _open(page: Page, console: str, email: str) -> str:
    """Search from the start page, as support would, until the customer's page opens; its URL."""
    page.goto(f"{console}/")
    page.get_by_label("Find a customer by any identifier").fill(email)
    page.get_by_role("button", name="Find").click()
    _until(page, lambda: expect(page).to_have_url(re.compile(r"/customers/[0-9a-f-]{36}$"), timeout=1000))
    return page.url


def test_support_finds_a_customer_by_email_and_reads_everything_on_one_page(
    console_stack: ConsoleStack, ada: Customer, page: Page
) -> None:
    console = console_stack.console
    signed_in(page, console, email="sam@example.com", role="viewer")
    page.goto(f"{console}/customers")
    assert axe_violations(page) == []
    _open(page, console, ada.email)

    local, _, domain = ada.email.partition("@")
    expect(page.locator("#identities")).to_contain_text(f"{local[0]}•••@{domain}")
    expect(page.locator("#identities")).to_contain_text("device")
    expect(page.locator("h1 + p")).to_contain_text("Stage")
    expect(page.locator("#consent")).to_contain_text("Marketing on push")
    expect(page.locator("#consent tr", has_text="Marketing on push")).to_contain_text("granted")
    expect(page.locator("#personality")).to_contain_text("Colour unknown")
    expect(page.locator("#personality")).to_contain_text("no questionnaire answered yet")

    def everything_arrived() -> None:
        expect(page.locator("#timeline")).to_contain_text("order.placed", timeout=1000)
        expect(page.locator("#decisions")).to_contain_text(f"order.placed: sent by {ada.route} v1", timeout=1000)
        expect(page.locator("#deliveries")).to_contain_text("sent on push via sandbox-fcm", timeout=1000)
        expect(page.locator("#inbox")).to_contain_text("Account: Your address was changed.", timeout=1000)

    _until(page, everything_arrived)
    decision = page.locator("#decisions article", has_text="order.placed")
    decision.get_by_text("Why").click()
    expect(decision).to_contain_text(f"matched routes: {ada.route} v1")
    expect(decision).to_contain_text("message order-confirmation/order-confirmation (priority 100): send on push")
    attempt = page.locator("#deliveries article", has_text="on push").locator("tbody tr").first
    expect(attempt).to_contain_text("sandbox-fcm")
    expect(attempt).to_contain_text("sent")
    # A trace link per decision and delivery, from MC_CONSOLE_TRACE_URL_TEMPLATE.
    for section in ("#decisions", "#deliveries"):
        href = page.locator(section).get_by_role("link", name=re.compile("^Trace")).first.get_attribute("href")
        assert href is not None
        assert re.fullmatch(re.escape(TRACES) + "[0-9a-f]{32}", href)
    expect(page.locator("#timeline").get_by_role("link", name=re.compile("^Trace"))).to_have_count(2)
    expect(page.locator("#inbox")).to_contain_text("1 unread")
    expect(page.locator("#inbox").get_by_role("link", name=re.compile("^Trace"))).to_have_count(1)

    # The address itself is nowhere in the page; the traits' markup is text, and never ran.
    assert ada.email not in page.content()
    expect(page.locator("#traits")).to_contain_text(SCRIPT)
    expect(page.locator("#traits")).to_contain_text(ATTRIBUTE)
    assert page.evaluate("window.__xss") is None
    expect(page.locator("#traits img")).to_have_count(0)
    assert axe_violations(page) == []

    # A viewer gets no export and no erase.
    expect(page.get_by_role("button", name="Erase customer")).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("Export"))).to_have_count(0)


def test_an_identifier_nobody_has_says_so_and_a_malformed_one_names_the_rule(
    console_stack: ConsoleStack, page: Page
) -> None:
    console = console_stack.console
    signed_in(page, console, email="sam@example.com", role="viewer")
    page.goto(f"{console}/customers?q=nobody%40example.com")
    expect(page.get_by_role("status")).to_contain_text("No customer matches email:n•••@example.com")
    page.goto(f"{console}/customers?q=phone%3A12")
    expect(page.locator("#q-error")).to_contain_text("phone")
    expect(page.locator("#q")).to_have_attribute("aria-invalid", "true")
    assert axe_violations(page) == []
    missing = page.goto(f"{console}/customers/{uuid.uuid4()}")
    assert missing is not None
    assert missing.status == 404
    # A cursor no service made is refused with its rule, never a server error.
    forged = page.goto(f"{console}/customers/{uuid.uuid4()}/timeline?before=not-a-cursor")
    assert forged is not None
    assert forged.status == 422
    expect(page.get_by_role("alert")).to_contain_text("cursor")


def _session(context: BrowserContext) -> str:
    return next(c["value"] for c in context.cookies() if c["name"] == "mc_console")


def test_a_forged_erase_from_a_viewer_is_refused_and_the_customer_stays(
    console_stack: ConsoleStack, ada: Customer, page: Page, context: BrowserContext
) -> None:
    console = console_stack.console
    signed_in(page, console, email="sam@example.com", role="viewer")
    url = _open(page, console, ada.email)
    csrf = page.locator("form[action='/sign-out'] input[name=csrf_token]").get_attribute("value")
    assert csrf
    with httpx.Client(base_url=console, cookies={"mc_console": _session(context)}) as client:
        forged = client.post(f"{url.removeprefix(console)}/erase", data={"csrf_token": csrf})
        assert forged.status_code == 403
        assert "admin" in forged.text
        exported = client.get(f"{url.removeprefix(console)}/export")
        assert exported.status_code == 403
        assert ada.email not in exported.text
    page.reload()
    expect(page.locator("#identities")).to_contain_text("@example.com")


def test_an_admin_exports_a_customer_and_erases_them_after_confirming(
    console_stack: ConsoleStack, app_key: str, page: Page, context: BrowserContext
) -> None:
    console = console_stack.console
    email = f"bo.{uuid.uuid4().hex[:8]}@example.com"
    _post(console_stack, app_key, {"email": email}, "profile.updated", traits={"plan": "gold"})
    signed_in(page, console, email="ana@example.com", role="admin")
    url = _open(page, console, email)

    with page.expect_download() as download:
        page.get_by_role("link", name="Export everything held (JSON)").click()
    document = json.loads(Path(download.value.path()).read_text())
    assert email in [i["value"] for i in document["identities"]]  # the export holds it in full
    assert download.value.suggested_filename.endswith(".json")

    questions: list[str] = []

    def decline(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", decline)
    page.get_by_role("button", name="Erase customer").click()
    assert len(questions) == 1
    assert questions[0].startswith("Erase this customer?")
    expect(page).to_have_url(url)  # declined: nothing happened
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Erase customer").click()
    expect(page.get_by_role("status")).to_contain_text("The customer was erased")

    admin = {"Authorization": f"Bearer {console_stack.token(Role.ADMIN)}"}
    gone = httpx.get(f"{console_stack.url('profile')}/v1/profiles/email:{email}", headers=admin)
    assert gone.status_code == 404
    page.goto(f"{console}/customers?q={email}")
    expect(page.get_by_role("status")).to_contain_text("No customer matches")
    assert axe_violations(page) == []
    # Erasing again finds nobody: the page says so, no server error.
    csrf = page.locator("form[action='/sign-out'] input[name=csrf_token]").get_attribute("value")
    assert csrf
    with httpx.Client(base_url=console, cookies={"mc_console": _session(context)}) as client:
        again = client.post(f"{url.removeprefix(console)}/erase", data={"csrf_token": csrf})
        assert again.status_code == 404
        assert "No such customer" in again.text


def _until_in_timeline(stack: ConsoleStack, email: str, entries: int, seconds: float = 90) -> None:
    viewer = {"Authorization": f"Bearer {stack.token(Role.VIEWER)}"}
    url = f"{stack.url('profile')}/v1/profiles/{quote('email:' + email)}/timeline"
    deadline = time.monotonic() + seconds
    while True:
        answer = httpx.get(url, params={"limit": 100}, headers=viewer, timeout=10)
        if answer.status_code == 200 and len(answer.json()["items"]) >= entries:
            return
        assert time.monotonic() < deadline, f"{entries} timeline entries not there: {answer.text[:300]}"
        time.sleep(0.5)


def test_long_lists_page_on_in_place_and_each_page_has_its_own_address(
    console_stack: ConsoleStack, route: str, app_key: str, page: Page
) -> None:
    console = console_stack.console
    email = f"cy.{uuid.uuid4().hex[:8]}@example.com"
    who = {"email": email, "device_token": f"device-{uuid.uuid4().hex}"}
    orders = [
        {"customer": who, "type": "order.placed", "channel": "web", "properties": {"order": f"B-{n}"}}
        for n in range(12)
    ]
    posted = httpx.post(
        f"{console_stack.url('ingest')}/v1/events/batch",
        json={"events": orders},
        headers={"Authorization": f"Bearer {app_key}"},
        timeout=15,
    )
    assert posted.status_code == 202, posted.text
    # Every order and its `message.sent` receipt in the timeline before any page is read: a
    # page's cursor is where that page ended when it was drawn.
    _until_in_timeline(console_stack, email, 2 * len(orders))
    signed_in(page, console, email="sam@example.com", role="viewer")
    _open(page, console, email)

    def all_sent() -> None:
        expect(page.locator("#deliveries").get_by_role("link", name="Older deliveries")).to_be_visible(timeout=1000)
        expect(page.locator("#decisions").get_by_role("link", name="Older decisions")).to_be_visible(timeout=1000)
        expect(page.locator("#timeline").get_by_role("link", name="Older entries")).to_be_visible(timeout=1000)

    _until(page, all_sent)
    expect(page.locator("#decisions article")).to_have_count(10)
    expect(page.locator("#timeline tbody tr")).to_have_count(20)
    newest = page.locator("#decisions article time").first.inner_text()

    # htmx swaps the section alone: the rest of the page stays as it was.
    page.locator("#decisions").get_by_role("link", name="Older decisions").click()
    expect(page.locator("#decisions article")).to_have_count(2)
    expect(page.locator("#decisions").get_by_role("link", name="Newest")).to_be_visible()
    expect(page.locator("#decisions").get_by_role("link", name="Older decisions")).to_have_count(0)
    assert newest not in page.locator("#decisions").inner_text()
    expect(page.locator("#identities")).to_be_visible()
    page.locator("#decisions").get_by_role("link", name="Newest").click()
    expect(page.locator("#decisions article")).to_have_count(10)

    page.locator("#deliveries").get_by_role("link", name="Older deliveries").click()
    expect(page.locator("#deliveries article")).to_have_count(2)

    # A page of its own, as a link opened in a new tab gets it.
    older = page.locator("#timeline").get_by_role("link", name="Older entries").get_attribute("href")
    assert older is not None
    page.goto(f"{console}{older}")
    expect(page.get_by_role("heading", name="Timeline", exact=True)).to_be_visible()
    expect(page.locator("#timeline tbody tr")).to_have_count(4)
    expect(page.get_by_role("link", name="Back to the customer")).to_be_visible()
    assert axe_violations(page) == []
