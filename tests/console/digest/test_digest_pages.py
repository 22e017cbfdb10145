"""The Digest admin page in a real Chromium against the real services: an admin sets recipients,
previews this week's digest and sends it now; the sandbox's SMTP server receives it with the
funnel's numbers as the profile service answers them. Two schedules racing for a due period send
it once. Viewers and editors get no digest page and cannot change it."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Dialog, Page, expect
from sqlalchemy.ext.asyncio import create_async_engine

from metaconnect_common.auth import Role
from metaconnect_common.db import session_factory
from metaconnect_common.settings import CommonSettings
from metaconnect_console.api import Services
from metaconnect_console.config import ConsoleSettings
from metaconnect_console.digest import repository
from metaconnect_console.digest.cadence import Cadence, last_due, notification_id, period_ending
from metaconnect_console.digest.form import DigestConfig
from metaconnect_console.digest.schedule import DigestSchedule, Outcome
from tests.console.conftest import axe_violations, signed_in
from tests.console.stack import ConsoleStack
from tests.router.journeys.factory import journey_spec, send

pytestmark = pytest.mark.timeout(300)
CUSTOMERS = 3


def _wait(what: str, check: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def _mails(stack: ConsoleStack, to: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{stack.url('sandbox')}/_sandbox/messages", params={"provider": "smtp"}, timeout=10)
    return [m for m in answer.json()["messages"] if to in m["to"]]


@pytest.fixture(scope="module")
def journey(console_stack: ConsoleStack) -> str:
    """An active journey that qualified leads enter: its name."""
    stack = console_stack
    editor = {"Authorization": f"Bearer {stack.token(Role.EDITOR)}"}
    name = f"qualified-{uuid.uuid4().hex[:6]}"
    spec = journey_spec(name, send("welcome"), entry={"event_types": ["lead.qualified"]})
    put = httpx.put(f"{stack.url('router')}/v1/journeys/{name}", json=spec, headers=editor, timeout=15)
    assert put.status_code in (200, 201), put.text
    return name


@pytest.fixture(scope="module")
def funnel(console_stack: ConsoleStack, journey: str) -> list[dict[str, Any]]:
    """Customers in the default lifecycle (two of three qualified, entering the journey), through
    ingest: the funnel's stages as the profile service reports them once every event is in."""
    stack = console_stack
    admin = {"Authorization": f"Bearer {stack.token(Role.ADMIN)}"}
    viewer = {"Authorization": f"Bearer {stack.token(Role.VIEWER)}"}
    tag = uuid.uuid4().hex[:6]
    with httpx.Client(timeout=15) as client:
        key = client.post(f"{stack.url('ingest')}/v1/api-keys", json={"name": "digest"}, headers=admin)
        assert key.status_code == 201, key.text
        app = {"Authorization": f"Bearer {key.json()['key']}"}
        for i in range(CUSTOMERS):
            types = ["app.opened", "lead.qualified"] if i < 2 else ["app.opened"]
            for event_type in types:
                event = {"customer": {"customer_id": f"{tag}-{i}"}, "type": event_type, "channel": "web"}
                posted = client.post(f"{stack.url('ingest')}/v1/events", json=event, headers=app)
                assert posted.status_code == 202, posted.text

        def stages() -> list[dict[str, Any]] | None:
            report = client.get(f"{stack.url('profile')}/v1/reports/funnel", headers=viewer).json()
            now = {s["stage"]: s["customers_now"] for s in report["stages"]}
            walks = client.get(f"{stack.url('router')}/v1/reports/journeys/{journey}", headers=viewer).json()
            settled = sum(now.values()) == CUSTOMERS and now.get("qualified") == 2 and walks["entered"] == 2
            return list(report["stages"]) if settled else None

        found: list[dict[str, Any]] = _wait("every customer in the funnel", stages)
    return found


def test_an_admin_sets_recipients_and_sends_the_digest_now(
    page: Page, console_stack: ConsoleStack, funnel: list[dict[str, Any]], journey: str
) -> None:
    stack = console_stack
    signed_in(page, stack.console, email="first-admin@example.com", role="admin")
    page.goto(f"{stack.console}/admin")
    page.get_by_role("link", name="Digest").first.click()
    expect(page.get_by_role("heading", name="Digest", exact=True)).to_be_visible()
    assert axe_violations(page) == []

    page.get_by_label("Recipients").fill("not-an-address")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#recipients-error")).to_contain_text("email: not an e-mail address: not-an-address")
    assert axe_violations(page) == []

    page.get_by_label("Recipients").fill("CFO@Example.com\nops-lead@example.com")
    page.get_by_label("Send the digest on its schedule").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(page.locator("textarea#digest-recipients")).to_have_value("cfo@example.com\nops-lead@example.com")
    newest_change = page.locator(".digest-changes tbody tr").first
    expect(newest_change).to_contain_text("first-admin@example.com")
    expect(newest_change).to_contain_text("on, Monday 08:00 Europe/Berlin, 2 recipients")

    page.get_by_role("link", name="Preview this week's digest and send it now").click()
    lead = next(s for s in funnel if s["stage"] == "qualified")
    expect(page.locator(".digest-text")).to_contain_text(f"qualified: {lead['customers_now']} now")
    assert axe_violations(page) == []

    fields = ("csrf_token", "send_key", "since", "until")
    sent_form: dict[str, str | float | bool] = {
        f: page.locator(f"form[action='/admin/digest/send'] input[name={f}]").input_value() for f in fields
    }
    questions: list[str] = []

    def accept(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name="Send now").click()
    expect(page.get_by_role("heading", name="Digest sent")).to_be_visible()
    assert questions == ["Send this digest now?"]
    expect(page.locator(".digest-notification")).to_contain_text("email")

    [mail] = _wait("the digest in the sandbox's mailbox", lambda: _mails(stack, "cfo@example.com"))
    assert sorted(mail["to"]) == ["cfo@example.com", "ops-lead@example.com"]
    assert mail["title"].startswith("Metaconnect digest: the week to ")
    text = mail["payload"]["text"]
    for stage in funnel:
        counts = f"{stage['customers_now']} now, {stage['entered']} entered, {stage['converted']} converted"
        line = f"{stage['stage']}: {counts}"
        assert line in text, (line, text)
    assert f"  {journey}: 2 entered, 0 converted (0.0% (95% CI " in text
    assert "<td>qualified</td>" in mail["payload"]["html"]
    for service in ("console", "delivery"):  # the addresses went to the provider, never to a log
        assert "cfo@example.com" not in stack.log_text(service).lower()

    # The same preview's form sent again (pressed twice, or resent by the browser) sends nothing more.
    again = page.request.post(f"{stack.console}/admin/digest/send", form=sent_form)
    assert again.status == 200
    time.sleep(1.5)
    assert len(_mails(stack, "cfo@example.com")) == 1


def test_two_schedules_racing_for_a_due_period_send_it_once(
    console_stack: ConsoleStack, database_url: str, funnel: list[dict[str, Any]]
) -> None:
    stack = console_stack
    now = datetime.now(UTC).replace(microsecond=0)
    cadence = Cadence(weekday=now.weekday(), at=(now - timedelta(minutes=1)).time().replace(second=0), zone="UTC")
    if cadence.at > now.time():  # just after midnight: yesterday's time would be a week ago
        cadence = Cadence(weekday=now.weekday(), at=now.time().replace(second=0, microsecond=0), zone="UTC")
    recipient = f"race-{uuid.uuid4().hex[:6]}@example.com"

    async def race() -> list[Outcome | None]:
        engine = create_async_engine(database_url)
        sessions = session_factory(engine)
        settings = ConsoleSettings(
            ingest_url=stack.url("ingest"),
            profile_url=stack.url("profile"),
            router_url=stack.url("router"),
            delivery_url=stack.url("delivery"),
            common=CommonSettings(env="test"),
        )
        try:
            async with sessions.begin() as db:
                config = DigestConfig(True, (recipient,), True, cadence)
                await repository.save(db, config, by="race@test", now=now)
            async with httpx.AsyncClient(timeout=10) as http:
                services = Services(settings, http)
                schedules = [
                    DigestSchedule(sessions, services, poll_s=1, catch_up_s=3600, lease_s=60, holder=f"replica-{n}")
                    for n in range(2)
                ]
                return list(await asyncio.gather(*(s.tick(now) for s in schedules)))
        finally:
            await engine.dispose()

    # Its own thread: Playwright's sync API keeps an event loop running in this one.
    with ThreadPoolExecutor(max_workers=1) as thread:
        outcomes = thread.submit(asyncio.run, race()).result(timeout=120)
    # The console's own schedule may have claimed it first: then neither of these does.
    assert len([o for o in outcomes if o is not None]) <= 1
    period = period_ending(cadence, last_due(cadence, now))
    mails = _wait("the scheduled digest", lambda: _mails(stack, recipient))
    time.sleep(2)
    assert len(_mails(stack, recipient)) == 1
    assert "qualified: 2 now" in mails[0]["payload"]["text"]
    hook_id = str(notification_id(period.key, "webhook"))
    hooks = httpx.get(f"{stack.url('sandbox')}/_sandbox/messages", params={"provider": "webhook"}, timeout=10)
    sent = [m for m in hooks.json()["messages"] if m["payload"].get("notification_id") == hook_id]
    assert len(sent) == 1
    assert sent[0]["payload"]["data"]["kind"] == "metaconnect.digest"
    # The week up to the send time, exactly as the profile service reports that window.
    window = {"since": period.since.isoformat(), "until": period.until.isoformat()}
    viewer = {"Authorization": f"Bearer {stack.token(Role.VIEWER)}"}
    report = httpx.get(f"{stack.url('profile')}/v1/reports/funnel", params=window, headers=viewer, timeout=10).json()
    data = sent[0]["payload"]["data"]
    assert (data["since"], data["until"]) == (period.since.isoformat(), period.until.isoformat())
    assert [(s["stage"], s["customers_now"], s["entered"]) for s in data["funnel"]] == [
        (s["stage"], s["customers_now"], s["entered"]) for s in report["stages"]
    ]


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_viewers_and_editors_get_no_digest_page_and_cannot_change_it(
    page: Page, console_stack: ConsoleStack, role: str
) -> None:
    stack = console_stack
    signed_in(page, stack.console, email=f"{role}-{uuid.uuid4().hex[:6]}@example.com", role=role)
    for path in ("/admin/digest", "/admin/digest/preview"):
        response = page.goto(f"{stack.console}{path}")
        assert response is not None
        assert response.status == 403
        expect(page.get_by_role("button", name="Send now")).to_have_count(0)
        expect(page.get_by_role("button", name="Save")).to_have_count(0)
    # With the person's own CSRF token (a form forged in their browser): refused for the role.
    page.goto(f"{stack.console}/")
    csrf = json.loads(page.locator("body").get_attribute("hx-headers") or "{}")["X-CSRF-Token"]
    for path in ("/admin/digest", "/admin/digest/send"):
        form = {"csrf_token": csrf, "recipients": "x@example.com", "send_key": str(uuid.uuid4())}
        forged = page.request.post(f"{stack.console}{path}", form=form)
        assert forged.status == 403
