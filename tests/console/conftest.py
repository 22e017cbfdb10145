"""The console's tests: a real OIDC provider, the services and the console as processes, and
Chromium driven by Playwright (Debian's package, through `executable_path`)."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect, sync_playwright

from tests.console.oidc_server import OidcServer
from tests.console.stack import ConsoleStack

ROOT = Path(__file__).resolve().parents[2]
RUN_DIR = ROOT / ".metaconnect" / "test"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = Path(__file__).parent / "assets" / "axe-core-4.11.1.min.js"


@pytest.fixture(scope="session")
def oidc_issuer() -> Iterator[str]:
    server = OidcServer(RUN_DIR / f"oidc-{uuid.uuid4().hex[:8]}")
    server.workdir.mkdir(parents=True, exist_ok=True)
    issuer = server.start()
    try:
        yield issuer
    finally:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for one module: Playwright's sync API keeps an event loop running in the main
    thread while it is open, so it is closed before another module's asyncio tests run."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


def _loopback_only(route: Route) -> None:
    # Tests never reach beyond loopback (the OIDC provider's login page asks for a web font).
    host = urlparse(route.request.url).hostname
    if host in ("127.0.0.1", "localhost"):
        route.continue_()
    else:
        route.abort()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context()
    ctx.route("**/*", _loopback_only)
    ctx.set_default_timeout(15_000)
    errors: list[str] = []
    ctx.on("weberror", lambda error: errors.append(str(error.error)))
    try:
        yield ctx
    finally:
        ctx.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture
def page(context: BrowserContext) -> Page:
    new = context.new_page()
    console_messages: list[str] = []
    new.on("console", lambda m: console_messages.append(m.text) if m.type == "error" else None)
    return new


def sign_in(page: Page, console: str, *, email: str, role: str | None, name: str = "") -> None:
    """Sign in through the OIDC provider's login form, as a person would."""
    page.goto(f"{console}/")
    page.get_by_role("link", name="Sign in with your organisation's account").click()
    page.locator("input[name=username]").fill(email)
    claims: dict[str, Any] = {"email": email, "name": name or email.split("@")[0].title()}
    if role is not None:
        claims["metaconnect_role"] = role
    page.locator("textarea[name=claims]").fill(json.dumps(claims))
    page.locator("input[type=submit]").click()


def signed_in(page: Page, console: str, *, email: str, role: str, name: str = "") -> None:
    sign_in(page, console, email=email, role=role, name=name)
    expect(page.locator(".who")).to_contain_text(role)


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Serious and critical accessibility violations axe-core finds in the page as it is."""
    # Evaluated through the DevTools protocol: the page's own CSP (rightly) refuses inline scripts.
    page.evaluate(AXE.read_text())
    results: dict[str, Any] = page.evaluate("async () => await axe.run(document)")
    return [v for v in results["violations"] if v.get("impact") in ("serious", "critical")]


@pytest.fixture(scope="module")
def console_only(
    database_url: str, kafka_bootstrap: str, oidc_issuer: str, module_topics: str
) -> Iterator[ConsoleStack]:
    """The console alone (the services it would call are absent)."""
    stack = ConsoleStack(
        RUN_DIR / f"console-{uuid.uuid4().hex[:8]}",
        database_url,
        kafka_bootstrap,
        oidc_issuer,
        module_topics,
        with_services=False,
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(stack.workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def console_stack(
    database_url: str, kafka_bootstrap: str, oidc_issuer: str, module_topics: str
) -> Iterator[ConsoleStack]:
    """The console with the four services and the sandbox."""
    stack = ConsoleStack(
        RUN_DIR / f"console-{uuid.uuid4().hex[:8]}", database_url, kafka_bootstrap, oidc_issuer, module_topics
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(stack.workdir, ignore_errors=True)
