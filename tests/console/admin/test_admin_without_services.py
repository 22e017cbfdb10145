"""The admin pages when the services do not answer: access still works (the console's own
table), the other pages say which service is down, and a key form sent by htmx says it in place."""

from __future__ import annotations

import uuid

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from tests.console.conftest import signed_in
from tests.console.stack import ConsoleStack


def test_access_works_and_the_pages_over_a_service_say_it_does_not_answer(
    console_only: ConsoleStack, page: Page, context: BrowserContext
) -> None:
    console = console_only.console
    signed_in(page, console, email=f"ada-{uuid.uuid4().hex[:8]}@example.com", role="admin")
    vic = f"vic-{uuid.uuid4().hex[:8]}@example.com"
    page.goto(f"{console}/admin/members")
    page.get_by_label("E-mail").fill(vic)
    page.get_by_role("button", name="Add").click()
    expect(page.locator(f"tr.member-row[data-email='{vic}']")).to_contain_text("viewer")

    for path, service in (("/admin/keys", "ingest"), ("/admin/providers", "delivery")):
        response = page.goto(f"{console}{path}")
        assert response is not None
        assert response.status == 502
        expect(page.get_by_role("alert")).to_contain_text(f"The {service} service did not answer")

    page.goto(f"{console}/admin/members")
    cookie = next(c["value"] for c in context.cookies() if c["name"] == "mc_console")
    csrf = page.locator("form[action='/sign-out'] input[name=csrf_token]").get_attribute("value")
    assert csrf
    with httpx.Client(base_url=console, cookies={"mc_console": cookie}) as client:
        sent = client.post(
            "/admin/keys",
            data={"name": "ios", "scopes": "events"},
            headers={"HX-Request": "true", "X-CSRF-Token": csrf},
        )
    assert sent.status_code == 200  # htmx swaps only a 2xx answer in
    assert "The ingest service did not answer properly" in sent.text
    assert "look for the key in the list first" in sent.text
    assert 'value="ios"' in sent.text  # the form as typed
    assert "The new key" not in sent.text
