"""Signing in and out in a real browser, through a real OIDC provider; sessions, CSRF, headers."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import BrowserContext, Cookie, Page, expect

from metaconnect_common.auth import Role, issue_sign_in_link_token
from metaconnect_common.settings import AuthSettings
from tests.console.conftest import axe_violations, sign_in, signed_in
from tests.console.stack import ConsoleStack


def _session_cookie(context: BrowserContext) -> Cookie:
    return next(c for c in context.cookies() if c["name"] == "mc_console")


def test_an_editor_signs_in_through_oidc_comes_back_where_they_were_and_signs_out(
    console_only: ConsoleStack, page: Page, context: BrowserContext
) -> None:
    console = console_only.console
    page.goto(f"{console}/?from=bookmark")
    expect(page).to_have_url(re.compile(r"/sign-in\?next="))
    page.get_by_role("link", name="Sign in with your organisation's account").click()
    page.locator("input[name=username]").fill("maria@example.com")
    page.locator("textarea[name=claims]").fill(
        '{"email": "Maria@Example.com", "name": "Maria Ops", "metaconnect_role": "editor"}'
    )
    page.locator("input[type=submit]").click()
    # Back on the page asked for (its path and query), signed in with the claim's role.
    expect(page).to_have_url(f"{console}/?from=bookmark")

    page.goto(f"{console}/")
    expect(page.locator(".who")).to_contain_text("Maria Ops")
    expect(page.locator(".who")).to_contain_text("editor")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin")).to_have_count(
        0
    )  # an editor is no admin
    cookie = _session_cookie(context)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Signed out")).to_be_visible()
    assert not [c for c in context.cookies() if c["name"] == "mc_console"]
    # The old cookie is dead on the server too, not only forgotten by the browser.
    old = httpx.get(f"{console}/", cookies={"mc_console": cookie["value"]}, follow_redirects=False)
    assert old.status_code == 303
    assert old.headers["location"].startswith("/sign-in")


def test_someone_without_a_role_is_refused_with_the_reason(console_only: ConsoleStack, page: Page) -> None:
    sign_in(page, console_only.console, email="stranger@example.com", role=None)
    expect(page.get_by_role("alert")).to_contain_text("stranger@example.com may not use this console")
    page.goto(f"{console_only.console}/")
    expect(page).to_have_url(re.compile(r"/sign-in"))


def test_an_unknown_role_claim_is_refused_and_the_admin_list_wins_over_the_claim(
    console_only: ConsoleStack, page: Page, context: BrowserContext
) -> None:
    sign_in(page, console_only.console, email="someone@example.com", role="owner")
    expect(page.get_by_role("alert")).to_contain_text("may not use this console")
    context.clear_cookies()
    # MC_CONSOLE_ADMINS names first-admin@example.com: admin whatever the provider says.
    signed_in(page, console_only.console, email="first-admin@example.com", role="admin")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin")).to_be_visible()


def test_a_one_time_link_signs_in_once(console_only: ConsoleStack, page: Page, context: BrowserContext) -> None:
    token = issue_sign_in_link_token(AuthSettings(), subject="metaconnect-dev", role=Role.ADMIN)
    page.goto(f"{console_only.console}/auth/link?token={token}")
    expect(page.locator(".who")).to_contain_text("admin")
    context.clear_cookies()
    page.goto(f"{console_only.console}/auth/link?token={token}")
    expect(page.get_by_role("alert")).to_contain_text("was used already")
    # An operator token is no sign-in link (another audience).
    response = httpx.get(f"{console_only.console}/auth/link", params={"token": console_only.token()})
    assert response.status_code == 403
    assert "not valid" in response.text


def test_a_state_change_without_the_csrf_token_or_from_another_origin_is_refused(
    console_only: ConsoleStack, page: Page, context: BrowserContext
) -> None:
    signed_in(page, console_only.console, email="vera@example.com", role="viewer")
    cookie = _session_cookie(context)["value"]
    csrf = page.locator("form[action='/sign-out'] input[name=csrf_token]").get_attribute("value")
    assert csrf
    with httpx.Client(base_url=console_only.console, cookies={"mc_console": cookie}) as client:
        forged = client.post("/sign-out", data={})
        assert forged.status_code == 403
        assert "CSRF" in forged.text
        wrong = client.post("/sign-out", data={"csrf_token": csrf[::-1]})
        assert wrong.status_code == 403
        elsewhere = client.post("/sign-out", data={"csrf_token": csrf}, headers={"Origin": "https://evil.example"})
        assert elsewhere.status_code == 403
        # Still signed in after all three.
        assert client.get("/", follow_redirects=False).status_code == 200
        assert client.post("/sign-out", data={"csrf_token": csrf}).status_code == 200
        assert client.get("/", follow_redirects=False).status_code == 303


def test_the_console_serves_pages_not_api_docs(console_only: ConsoleStack) -> None:
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert httpx.get(f"{console_only.console}{path}").status_code == 404
    favicon = httpx.get(f"{console_only.console}/static/favicon.svg")
    assert favicon.status_code == 200
    assert favicon.headers["content-type"].startswith("image/svg+xml")


def test_every_page_forbids_inline_script_and_framing(console_only: ConsoleStack) -> None:
    for path in ("/sign-in", "/", "/static/console.css", "/nowhere"):
        response = httpx.get(f"{console_only.console}{path}", follow_redirects=False)
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert re.fullmatch(r"app;dur=\d+\.\d", response.headers["server-timing"])


def test_the_sign_in_and_start_pages_have_no_serious_accessibility_violations(
    console_only: ConsoleStack, page: Page
) -> None:
    page.goto(f"{console_only.console}/sign-in")
    assert axe_violations(page) == []
    signed_in(page, console_only.console, email="ana@example.com", role="admin")
    assert axe_violations(page) == []
