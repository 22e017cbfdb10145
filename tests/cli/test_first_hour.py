"""A new user's first hour on the dev stack: the example routes load (again and again), and the
README's first event reaches the provider sandbox."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from metaconnect_cli import routes_code
from metaconnect_cli.client import DevState
from metaconnect_cli.dev import DevStack
from tests.cli.conftest import RUN_DIR
from tests.cli.test_dev_mode import _free_ports

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "routes"
README = ROOT / "README.md"
EXAMPLE_ROUTES = {"welcome", "order-confirmation", "price-drops", "back-in-stock"}


def readme_first_event() -> dict[str, Any]:
    """The body of the README's first `curl ... /v1/events -d '...'`, as a new user pastes it."""
    text = README.read_text()
    found = re.search(r"curl [^`]*?/v1/events \\\n.*?-d '(?P<body>[^']*)'", text, re.DOTALL)
    assert found, "README.md has no curl posting to /v1/events"
    event: dict[str, Any] = json.loads(found["body"])
    return event


@dataclass
class Running:
    stack: DevStack
    state: DevState
    said: list[str] = field(default_factory=list)

    def routes(self) -> dict[str, dict[str, Any]]:
        response = httpx.get(
            f"{self.state.services['router']}/v1/routes",
            headers={"Authorization": f"Bearer {self.state.operator_token}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return {route["name"]: route for route in response.json()}


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    path = RUN_DIR / f"first-hour-{uuid.uuid4().hex[:8]}"
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def running(data_dir: Path) -> Iterator[Running]:
    said: list[str] = []
    stack = DevStack(
        data_dir=data_dir, state_file=data_dir / "dev.json", ports=_free_ports(), routes=EXAMPLES, say=said.append
    )
    try:
        yield Running(stack, stack.start(), said)
    finally:
        stack.stop()


@pytest.mark.timeout(240)
def test_dev_loads_the_example_routes_and_says_so(running: Running) -> None:
    files = routes_code.load(EXAMPLES)
    assert {f.spec["name"] for f in files} == EXAMPLE_ROUTES
    routes = running.routes()
    assert set(routes) >= EXAMPLE_ROUTES
    for file in files:
        route = routes[file.spec["name"]]
        assert route["status"] == "active"
        assert route["version"] == 1
    banner = running.stack.banner()
    assert f"Example routes from {EXAMPLES}" in banner
    assert "welcome             on customer.created" in banner
    assert "price-drops         on product.price_dropped" in banner
    assert "Post an event (a sign-up: the welcome route e-mails it to the sandbox):" in banner
    assert any(line.startswith("Route welcome created") for line in running.said)


@pytest.mark.timeout(240)
def test_the_readme_first_event_reaches_the_sandbox(running: Running) -> None:
    event = readme_first_event()
    assert running.state.api_key is not None
    response = httpx.post(
        f"{running.state.ingest_url}/v1/events",
        headers={"Authorization": f"Bearer {running.state.api_key}"},
        json=event,
        timeout=10,
    )
    assert response.status_code == 202, response.text

    email = event["customer"]["email"]
    sandbox = running.state.sandbox_url
    received = httpx.get(
        f"{sandbox}/_sandbox/messages/wait",
        params={"provider": "smtp", "to": email, "count": 1, "timeout_s": 60},
        timeout=70,
    )
    assert received.status_code == 200, received.text
    (message,) = received.json()["messages"]
    assert message["title"] == "Welcome to Metaconnect"
    assert "Your account is ready" in message["text"]
    assert email in httpx.get(f"{sandbox}/", timeout=5).text  # the page the README points to


@pytest.mark.timeout(240)
def test_a_restart_applies_the_example_routes_again_without_a_change(running: Running, data_dir: Path) -> None:
    before = running.routes()
    running.stack.stop()
    said: list[str] = []
    again = DevStack(
        data_dir=data_dir, state_file=data_dir / "dev.json", ports=_free_ports(), routes=EXAMPLES, say=said.append
    )
    try:
        again.start()
        running.stack, running.state = again, again.state or running.state
        after = running.routes()
    finally:
        again.stop()
    for name in EXAMPLE_ROUTES:
        assert after[name]["version"] == before[name]["version"] == 1
        assert f"Route {name} unchanged (version 1, " in "\n".join(said)
