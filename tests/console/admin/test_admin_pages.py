"""The admin pages in a real browser against the real services: API keys (ingest), provider
accounts (delivery), who may sign in (the console's members); admins only; nothing typed runs."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, expect

from metaconnect_common.auth import Role
from tests.console.conftest import _loopback_only, axe_violations, sign_in, signed_in
from tests.console.stack import ConsoleStack

XSS = '<script>window.__xss=1</script> "><img src=x onerror="window.__xss=1">'
ADMIN_PAGES = ("/admin", "/admin/keys", "/admin/providers", "/admin/providers/sandbox-webhook", "/admin/members")


def _uid() -> str:
    return uuid.uuid4().hex[:8]


def _event(event_type: str = "app.opened", channel: str = "in_app") -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "customer": {"customer_id": f"c-{_uid()}"},
        "type": event_type,
        "channel": channel,
        "occurred_at": datetime.now(UTC).isoformat(),
    }


def _post_event(stack: ConsoleStack, key: str, **event: str) -> int:
    response = httpx.post(
        f"{stack.url('ingest')}/v1/events", json=_event(**event), headers={"Authorization": f"Bearer {key}"}
    )
    return response.status_code


def _logs(stack: ConsoleStack) -> str:
    """Everything the console and the services wrote to their logs so far."""
    return "".join(log.read_text(errors="replace") for log in stack.workdir.glob("*.log"))


def _no_script_ran(page: Page) -> None:
    assert page.evaluate("() => window.__xss") is None


@pytest.fixture
def other(browser: Browser) -> Iterator[BrowserContext]:
    """A second person's browser."""
    ctx = browser.new_context()
    ctx.route("**/*", _loopback_only)
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        ctx.close()


def test_an_admin_creates_a_scoped_key_sees_it_once_and_revokes_it_after_confirming(
    console_stack: ConsoleStack, page: Page
) -> None:
    console = console_stack.console
    signed_in(page, console, email=f"ada-{_uid()}@example.com", role="admin")
    page.goto(f"{console}/admin")
    assert axe_violations(page) == []
    page.get_by_role("link", name="API keys").first.click()
    expect(page).to_have_url(f"{console}/admin/keys")
    assert axe_violations(page) == []

    name = f"ios {_uid()} {XSS}"
    page.get_by_label("Name", exact=True).fill(name)
    expect(page.get_by_label("events", exact=True)).to_be_checked()  # what most keys are for
    page.get_by_label("in_app", exact=True).check()
    page.get_by_label("Event types it may post").fill("app.*, purchase.completed")
    page.get_by_role("button", name="Create key").click()
    shown = page.get_by_label("The new key")
    expect(shown).to_have_value(re.compile(r"^mck_[0-9a-f]{96}$"))
    key = shown.input_value()
    expect(page).to_have_url(f"{console}/admin/keys")  # a reload asks for the list, not the key
    row = page.locator("tr.key-row", has_text=name)
    expect(row).to_contain_text("events")
    expect(row).to_contain_text("in_app")
    expect(row).to_contain_text("app.*, purchase.completed")
    _no_script_ran(page)
    assert axe_violations(page) == []

    page.reload()
    expect(page.get_by_label("The new key")).to_have_count(0)
    expect(row).to_have_count(1)  # the reload created no second key
    secret = key[len("mck_") + 32 :]
    assert secret not in page.content()
    page.goto(f"{console}/admin/keys?revoked=true")
    assert secret not in page.content()

    assert _post_event(console_stack, key) == 202
    assert _post_event(console_stack, key, channel="web") == 403  # scoped to in_app

    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.goto(f"{console}/admin/keys")
    page.once("dialog", dismiss)
    row.get_by_role("button", name="Revoke").click()
    expect(row).to_be_visible()
    assert "Revoke the key" in dialogs[0]
    assert XSS in dialogs[0]  # the name as text in the question
    assert _post_event(console_stack, key) == 202  # not revoked without a yes

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(row).to_have_count(0)
    assert _post_event(console_stack, key) == 401
    page.goto(f"{console}/admin/keys?revoked=true")
    expect(page.locator("tr.key-row", has_text=name)).to_contain_text("revoked")
    _no_script_ran(page)
    assert secret not in _logs(console_stack)


def test_many_keys_page_on_oldest_first(console_stack: ConsoleStack, page: Page) -> None:
    admin = {"Authorization": f"Bearer {console_stack.token(Role.ADMIN)}"}
    tag = _uid()
    for n in range(52):
        created = httpx.post(
            f"{console_stack.url('ingest')}/v1/api-keys", json={"name": f"bulk-{tag}-{n:02d}"}, headers=admin
        )
        assert created.status_code == 201, created.text
    signed_in(page, console_stack.console, email=f"ada-{_uid()}@example.com", role="admin")
    page.goto(f"{console_stack.console}/admin/keys")
    first = page.locator("tbody tr")
    expect(first).to_have_count(50)
    shown = set(first.all_inner_texts())
    page.get_by_role("link", name="Newer keys").click()
    expect(page).to_have_url(re.compile(r"/admin/keys\?after="))
    rest = page.locator("tbody tr").all_inner_texts()
    assert rest
    assert not shown & set(rest)  # each key on one page only
    assert any(f"bulk-{tag}-51" in row for row in rest)


def test_a_bad_key_is_refused_at_its_field_naming_the_rule(console_stack: ConsoleStack, page: Page) -> None:
    console = console_stack.console
    signed_in(page, console, email=f"ada-{_uid()}@example.com", role="admin")
    page.goto(f"{console}/admin/keys")
    name = f"web {_uid()}"
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("events", exact=True).uncheck()
    page.get_by_label("Event types it may post").fill("app.*, Not A Type")
    page.get_by_label(re.compile("^Burst")).fill("-3")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#scopes-error")).to_contain_text("too_short")
    expect(page.locator("#event_types-error")).to_contain_text("event_type_pattern")
    expect(page.locator("#burst-error")).to_contain_text("greater_than_equal")
    # What was typed is still there; nothing was created.
    expect(page.get_by_label("Name", exact=True)).to_have_value(name)
    expect(page.get_by_label("Event types it may post")).to_have_value("app.*, Not A Type")
    expect(page.locator("tr.key-row", has_text=name)).to_have_count(0)
    assert axe_violations(page) == []


def test_provider_accounts_show_their_circuit_change_priority_and_state_and_never_show_a_secret(
    console_stack: ConsoleStack, page: Page
) -> None:
    console = console_stack.console
    delivery = console_stack.url("delivery")
    admin = {"Authorization": f"Bearer {console_stack.token(Role.ADMIN)}"}
    name = f"hook-{_uid()}"
    first, replaced, refused = (f"{what}-provider-secret-{_uid()}" for what in ("first", "new", "refused"))
    account = {
        "name": name,
        "kind": "webhook",
        "channel": "webhook",
        "base_url": f"{console_stack.url('sandbox')}/webhook/admin-test",
        "secret": first,
        "priority": 900,  # never the one serving webhooks
    }
    assert httpx.put(f"{delivery}/v1/providers/{name}", json=account, headers=admin).status_code == 201
    try:
        signed_in(page, console, email=f"ada-{_uid()}@example.com", role="admin")
        page.goto(f"{console}/admin/providers")
        row = page.locator(f"tr.provider-row[data-provider='{name}']")
        expect(row.locator(".circuit")).to_have_text("closed")
        expect(row).to_contain_text("standby")
        serving = page.locator("tr.provider-row[data-provider='sandbox-webhook']")
        expect(serving).to_contain_text("serving")
        expect(serving.locator(".circuit")).to_have_text("closed")
        assert axe_violations(page) == []

        row.get_by_role("link", name=name).click()
        expect(page.get_by_label(re.compile("^Secret"))).to_have_value("")
        expect(page.get_by_text("Secret: set; type a new one to replace it")).to_be_visible()
        assert axe_violations(page) == []

        page.get_by_label(re.compile("^Priority")).fill("lots")
        page.get_by_label(re.compile("^Secret")).fill(refused)
        page.get_by_role("button", name=re.compile("^Save")).click()
        expect(page.locator("#priority-error")).to_contain_text("int_parsing")
        expect(page.get_by_label(re.compile("^Secret"))).to_have_value("")  # never put back into the page

        page.get_by_label(re.compile("^Priority")).fill("850")
        page.get_by_label("Enabled", exact=True).uncheck()
        page.get_by_label(re.compile("^Secret")).fill(replaced)
        page.get_by_role("button", name=re.compile("^Save")).click()
        expect(page.get_by_role("status")).to_contain_text("Saved")
        expect(page.get_by_label(re.compile("^Priority"))).to_have_value("850")
        expect(page.get_by_label("Enabled", exact=True)).not_to_be_checked()
        expect(page.get_by_label(re.compile("^Secret"))).to_have_value("")
        page.goto(f"{console}/admin/providers")
        expect(row).to_contain_text("disabled")
        expect(row.locator("td.num")).to_have_text("850")

        stored = httpx.get(f"{delivery}/v1/providers/{name}", headers=admin).json()
        assert (stored["version"], stored["secret_set"], stored["settings"]["enabled"]) == (2, True, False)
        for path in ("/admin/providers", f"/admin/providers/{name}"):
            page.goto(f"{console}{path}")
            for secret in (first, replaced, refused):
                assert secret not in page.content()

        # Changed by someone else after the page was shown: nothing is overwritten.
        page.goto(f"{console}/admin/providers/{name}")
        meanwhile = {**account, "secret": None, "priority": 870, "enabled": False}
        assert httpx.put(f"{delivery}/v1/providers/{name}", json=meanwhile, headers=admin).status_code == 200
        page.get_by_label(re.compile("^Priority")).fill("10")
        page.get_by_role("button", name=re.compile("^Save")).click()
        expect(page.get_by_role("alert")).to_contain_text("changed this account meanwhile")
        expect(page.get_by_label(re.compile("^Priority"))).to_have_value("870")
        assert httpx.get(f"{delivery}/v1/providers/{name}", headers=admin).json()["settings"]["priority"] == 870

        # A configured account's secret lives in MC_DELIVERY_PROVIDERS: a copy saved here needs it.
        page.goto(f"{console}/admin/providers/sandbox-twilio")
        page.get_by_role("button", name=re.compile("^Save")).click()
        expect(page.locator("#secret-error")).to_contain_text("secret_required")
        assert httpx.get(f"{delivery}/v1/providers/sandbox-twilio", headers=admin).json()["source"] == "configured"
        logs = _logs(console_stack)
        assert not [secret for secret in (first, replaced, refused) if secret in logs]
    finally:
        httpx.delete(f"{delivery}/v1/providers/{name}", headers=admin)


def _forged_posts_are_refused(stack: ConsoleStack, context: BrowserContext, page: Page) -> None:
    """The person's own session cookie and CSRF token, and still 403 on every admin change."""
    cookie = next(c["value"] for c in context.cookies() if c["name"] == "mc_console")
    csrf = page.locator("form[action='/sign-out'] input[name=csrf_token]").get_attribute("value")
    assert csrf
    with httpx.Client(base_url=stack.console, cookies={"mc_console": cookie}) as client:
        for path, form in [
            ("/admin/keys", {"name": "forged", "scopes": "events"}),
            (f"/admin/keys/{uuid.uuid4()}/revoke", {}),
            ("/admin/providers/sandbox-webhook", {"priority": "0"}),
            ("/admin/members", {"email": "mallory@example.com", "role": "admin"}),
            ("/admin/members/remove", {"email": "first-admin@example.com"}),
        ]:
            response = client.post(path, data={"csrf_token": csrf, **form})
            assert response.status_code == 403, (path, response.text)
            assert "needs the admin role" in response.text


def test_an_admin_lets_someone_in_changes_their_role_and_removes_them_each_ending_their_sessions(
    console_stack: ConsoleStack, page: Page, other: BrowserContext
) -> None:
    console = console_stack.console
    ada, vic = f"ada-{_uid()}@example.com", f"vic-{_uid()}@example.com"
    signed_in(page, console, email=ada, role="admin")
    page.goto(f"{console}/admin/members")
    page.get_by_label("E-mail").fill(vic.upper())
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Add").click()
    row = page.locator(f"tr.member-row[data-email='{vic}']")
    expect(row.get_by_label(f"Role of {vic}", exact=True)).to_have_value("viewer")
    expect(row).to_contain_text(f"by {ada}")
    assert axe_violations(page) == []

    # The entry lets them in, though the identity provider grants no role.
    theirs = other.new_page()
    sign_in(theirs, console, email=vic, role=None)
    expect(theirs.locator(".who")).to_contain_text("viewer")
    expect(theirs.get_by_role("navigation", name="Main").get_by_role("link", name="Admin")).to_have_count(0)
    for path in ADMIN_PAGES:
        response = theirs.goto(f"{console}{path}")
        assert response is not None
        assert response.status == 403, path
    expect(theirs.get_by_role("alert")).to_contain_text("needs the admin role")
    _forged_posts_are_refused(console_stack, other, theirs)

    row.get_by_label(f"Role of {vic}", exact=True).select_option("editor")
    row.get_by_role("button", name=f"Change the role of {vic}").click()
    expect(row.get_by_label(f"Role of {vic}", exact=True)).to_have_value("editor")
    theirs.goto(f"{console}/")
    expect(theirs).to_have_url(re.compile(r"/sign-in"))  # the viewer session was ended
    sign_in(theirs, console, email=vic, role=None)
    expect(theirs.locator(".who")).to_contain_text("editor")
    response = theirs.goto(f"{console}/admin/keys")
    assert response is not None
    assert response.status == 403
    _forged_posts_are_refused(console_stack, other, theirs)

    # Nobody locks themselves out by mistake.
    page.get_by_label("E-mail").fill(ada)
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_role("alert")).to_contain_text("You cannot make yourself viewer")
    expect(page.locator(f"tr.member-row[data-email='{ada}']")).to_have_count(0)
    expect(page.locator(".who")).to_contain_text("admin")
    # Nor removes someone MC_CONSOLE_ADMINS keeps an admin.
    page.goto(f"{console}/admin/members")
    page.get_by_label("E-mail").fill("first-admin@example.com")
    page.get_by_label("Role", exact=True).select_option("editor")
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_role("alert")).to_contain_text("MC_CONSOLE_ADMINS")

    page.goto(f"{console}/admin/members")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=f"Remove {vic}").click()
    expect(row).to_have_count(0)
    theirs.goto(f"{console}/")
    expect(theirs).to_have_url(re.compile(r"/sign-in"))
    sign_in(theirs, console, email=vic, role=None)
    expect(theirs.get_by_role("alert")).to_contain_text("may not use this console")


def test_a_bad_address_is_refused_at_its_field(console_stack: ConsoleStack, page: Page) -> None:
    signed_in(page, console_stack.console, email=f"ada-{_uid()}@example.com", role="admin")
    page.goto(f"{console_stack.console}/admin/members")
    page.get_by_label("E-mail").evaluate("input => input.setAttribute('type', 'text')")  # past the browser's check
    page.get_by_label("E-mail").fill(f"{XSS}")
    page.get_by_role("button", name="Add").click()
    expect(page.locator("#email-error")).to_contain_text("not an e-mail address")
    expect(page.get_by_label("E-mail")).to_have_value(XSS)
    _no_script_ran(page)
    assert axe_violations(page) == []
