"""The console's whole loop in a real Chromium: marketing ops write and activate a route in the
console, a channel app posts an event, and support finds the decision and the delivery it caused
on the customer's page."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

import httpx
from playwright.sync_api import Browser, Page, expect

from metaconnect_common.auth import Role
from tests.console.conftest import _loopback_only, signed_in
from tests.console.stack import ConsoleStack


def _until(page: Page, check: Callable[[], None], seconds: float = 90) -> None:
    """Reload until `check` holds: decisions and deliveries arrive asynchronously."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            page.reload()


def test_a_route_activated_in_the_console_decides_and_delivers_for_an_event_support_then_sees(
    console_stack: ConsoleStack, page: Page, browser: Browser
) -> None:
    console = console_stack.console
    name = f"shipped-{uuid.uuid4().hex[:6]}"
    page.on("dialog", lambda dialog: dialog.accept())  # activating asks first
    signed_in(page, console, email="maria@example.com", role="editor")
    page.goto(f"{console}/routes/new")
    page.locator('[name="name"]').fill(name)
    page.locator('[name="trigger.event_types"]').fill("order.shipped")
    page.locator('[name="messages.0.category"]').select_option("transactional")
    page.locator('[name="messages.0.variants.neutral.push.en.title"]').fill("On its way")
    page.locator('[name="messages.0.variants.neutral.push.en.body"]').fill("Order {{ data.order }} left.")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(f"{console}/routes/{name}")
    page.get_by_role("button", name="Activate").click()
    expect(page.locator("main .badge").first).to_have_text("active")

    # A channel app posts the event, with its own key.
    admin = {"Authorization": f"Bearer {console_stack.token(Role.ADMIN)}"}
    created = httpx.post(f"{console_stack.url('ingest')}/v1/api-keys", json={"name": "shop"}, headers=admin)
    assert created.status_code == 201, created.text
    email = f"lena-{uuid.uuid4().hex[:6]}@example.com"
    event = {
        "customer": {"customer_id": f"c-{uuid.uuid4().hex[:8]}", "email": email, "device_token": "lena-phone"},
        "type": "order.shipped",
        "channel": "web",
        "properties": {"order": "A-77"},
    }
    time.sleep(1.5)  # the router reads active routes every second
    posted = httpx.post(
        f"{console_stack.url('ingest')}/v1/events",
        json=event,
        headers={"Authorization": f"Bearer {created.json()['key']}"},
    )
    assert posted.status_code == 202, posted.text

    # Support, in a browser of their own, finds the customer by e-mail.
    support = browser.new_context()
    support.route("**/*", _loopback_only)
    try:
        viewer = support.new_page()
        signed_in(viewer, console, email="sam@example.com", role="viewer")
        viewer.get_by_label("Find a customer by any identifier").fill(email)
        viewer.get_by_role("button", name="Find").click()
        _until(viewer, lambda: expect(viewer).to_have_url(re.compile(r"/customers/[0-9a-f-]{36}$"), timeout=1000))

        def decided_and_delivered() -> None:
            expect(viewer.locator("#decisions")).to_contain_text(f"order.shipped: sent by {name}", timeout=1000)
            expect(viewer.locator("#deliveries")).to_contain_text("sent on push", timeout=1000)

        _until(viewer, decided_and_delivered)
        expect(viewer.locator("#timeline")).to_contain_text("order.shipped")
    finally:
        support.close()
    # The search named the customer by e-mail, and the console asked the profile service for
    # `email:…`: none of it reaches a log (found by hand: httpx logged every URL).
    for name in ("console", "ingest", "profile", "router", "delivery"):
        assert email not in console_stack.log_text(name), name
