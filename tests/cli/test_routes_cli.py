"""`metaconnect routes apply|plan|export` against a real router service (real PostgreSQL)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner, Result

from metaconnect_cli import routes_code
from metaconnect_cli.local._proc import free_port, spawn, stop
from metaconnect_cli.main import app
from metaconnect_cli.services import SERVICES, upgrade_databases
from metaconnect_common.auth import Role, issue_token
from metaconnect_common.settings import AuthSettings
from tests.cli.test_keys_cli import _wait_ready
from tests.router.conftest import route_spec


@pytest.fixture(scope="module")
def router_url(database_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    upgrade_databases(database_url, SERVICES, say=lambda _: None)
    port = free_port()
    log = tmp_path_factory.mktemp("router") / "router.log"
    proc = spawn(
        [sys.executable, "-m", "metaconnect_router"],
        log=log,
        env={
            "MC_ENV": "test",
            "MC_DATABASE_URL": database_url,
            "MC_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "MC_ROUTER_HOST": "127.0.0.1",
            "MC_ROUTER_PORT": str(port),
            "MC_LOG_JSON": "false",
        },
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log)
        yield url
    finally:
        stop(proc)


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    return CliRunner(env={"MC_ROUTER_URL": None, "MC_OPERATOR_TOKEN": None, "MC_AUTH_JWT_SECRET": None})


def _routes(runner: CliRunner, url: str, *args: str) -> Result:
    return runner.invoke(app, ["routes", *args, "--url", url])


def _history(url: str, name: str) -> list[dict[str, Any]]:
    token = issue_token(AuthSettings(), subject="test", role=Role.VIEWER)
    response = httpx.get(f"{url}/v1/routes/{name}/versions", headers={"Authorization": f"Bearer {token}"})
    versions: list[dict[str, Any]] = response.json()
    return versions


def test_apply_twice_changes_nothing_the_second_time(router_url: str, runner: CliRunner, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    first, second = route_spec(f"welcome-{tag}"), route_spec(f"winback-{tag}", status="draft")
    routes = tmp_path / "routes"
    routes.mkdir()
    (routes / "welcome.yaml").write_text(yaml.safe_dump(first))
    (routes / "winback.yml").write_text(yaml.safe_dump(second))

    applied = _routes(runner, router_url, "apply", str(routes))
    assert applied.exit_code == 0, applied.output
    assert f"welcome-{tag}: created" in applied.output
    assert _routes(runner, router_url, "plan", str(routes)).exit_code == 0

    again = _routes(runner, router_url, "apply", str(routes))
    assert again.exit_code == 0, again.output
    assert f"welcome-{tag}: now at version 1" in again.output
    assert [v["version"] for v in _history(router_url, f"welcome-{tag}")] == [1]
    assert [v["version"] for v in _history(router_url, f"winback-{tag}")] == [1]


def test_plan_shows_a_change_and_apply_makes_it_a_version(router_url: str, runner: CliRunner, tmp_path: Path) -> None:
    spec = route_spec(f"promo-{uuid.uuid4().hex[:6]}")
    path = tmp_path / "promo.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert _routes(runner, router_url, "apply", str(path)).exit_code == 0
    spec["messages"][0]["priority"] = 90
    path.write_text(yaml.safe_dump(spec))

    shown = _routes(runner, router_url, "plan", str(path))
    assert shown.exit_code == 1, shown.output
    assert "-  priority: 60" in shown.output
    assert "+  priority: 90" in shown.output
    assert _routes(runner, router_url, "apply", str(path)).exit_code == 0
    assert [v["version"] for v in _history(router_url, spec["name"])] == [2, 1]


def test_a_broken_file_changes_nothing(router_url: str, runner: CliRunner, tmp_path: Path) -> None:
    good, bad = route_spec(f"good-{uuid.uuid4().hex[:6]}"), route_spec(f"bad-{uuid.uuid4().hex[:6]}")
    bad["trigger"]["condition"] = "event.properties.value >="
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(good))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(bad))
    result = _routes(runner, router_url, "apply", str(tmp_path))
    assert result.exit_code == 1
    assert "trigger.condition" in result.output
    token = issue_token(AuthSettings(), subject="test", role=Role.VIEWER)
    found = httpx.get(f"{router_url}/v1/routes/{good['name']}", headers={"Authorization": f"Bearer {token}"})
    assert found.status_code == 404  # checked before anything was written


def test_export_writes_files_that_apply_unchanged(router_url: str, runner: CliRunner, tmp_path: Path) -> None:
    spec = route_spec(f"exported-{uuid.uuid4().hex[:6]}")
    (tmp_path / "in.yaml").write_text(yaml.safe_dump(spec))
    assert _routes(runner, router_url, "apply", str(tmp_path / "in.yaml")).exit_code == 0
    out = tmp_path / "out"
    exported = _routes(runner, router_url, "export", "--out", str(out))
    assert exported.exit_code == 0, exported.output
    assert (out / f"{spec['name']}.yaml").is_file()
    assert _routes(runner, router_url, "plan", str(out)).exit_code == 0
    assert _routes(runner, router_url, "apply", str(out)).exit_code == 0
    assert [v["version"] for v in _history(router_url, spec["name"])] == [1]


BROKEN = """\
name: {good}
status: active
trigger: {{event_types: [cart.abandoned]}}
messages:
  - id: hello
    channels: [push]
    variants: {{neutral: {{push: {{en: {{title: Hi, body: Hello}}}}}}}}
---
name: {bad}
status: active
trigger:
  event_types: [cart.abandoned]
  condition: "event.properties.value >="
messages:
  - id: cart-left
    channels: [push, email]
    variants:
      neutral:
        push: {{en: {{title: Your cart, body: Waiting.}}}}
        email: {{en: {{subject: Your cart, body: Waiting.}}}}
      red:
        push: {{en: {{title: One tap, body: Check out now.}}}}
  - id: cart-left
    channels: [push]
    variants: {{neutral: {{push: {{en: {{title: Again, body: Again.}}}}}}}}
"""


@pytest.mark.parametrize(("command", "code"), [("plan", 2), ("apply", 1)])
def test_every_error_is_named_at_its_file_and_line(
    router_url: str, runner: CliRunner, tmp_path: Path, command: str, code: int
) -> None:
    tag = uuid.uuid4().hex[:6]
    path = tmp_path / "routes" / "cart.yaml"
    path.parent.mkdir()
    path.write_text(BROKEN.format(good=f"fine-{tag}", bad=f"broken-{tag}"))

    result = runner.invoke(app, ["routes", command, "routes", "--url", router_url])

    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("routes/cart.yaml:")]
    assert [line.split(": ")[:3] for line in lines] == [
        ["routes/cart.yaml:13", "trigger.condition", "syntax"],
        ["routes/cart.yaml:21", "messages.0.variants.red", "variant_missing_channel"],
        ["routes/cart.yaml:23", "messages.1.id", "duplicate_message_id"],
    ], result.stderr
    assert f"fine-{tag}" not in result.stdout  # nothing was applied


def test_a_missing_field_is_named_at_its_parents_line(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text("name: a\n---\n# the second route\nname: b\nmessages:\n  - id: x\n    priority: 5\n")
    first, second = routes_code.load(path)

    assert first.line_of("name") == 1
    assert second.line_of("name") == 4
    assert second.line_of("messages.0.priority") == 7
    assert second.line_of("messages.0.channels") == 6  # missing: the message's line
    assert second.line_of("trigger") == 4  # missing at the top: the document's first line
    assert second.line_of("messages.3") == 5


def _journeys(runner: CliRunner, url: str, *args: str) -> Result:
    return runner.invoke(app, ["journeys", *args, "--url", url])


def test_the_home_builders_journeys_apply_then_plan_and_diff_show_a_change(
    router_url: str, runner: CliRunner, tmp_path: Path
) -> None:
    examples = Path(__file__).resolve().parents[2] / "examples" / "home-builder" / "journeys"
    applied = _journeys(runner, router_url, "apply", str(examples))
    assert applied.exit_code == 0, applied.output
    assert "lead-nurture: " in applied.output
    assert _journeys(runner, router_url, "plan", str(examples)).exit_code == 0
    assert _journeys(runner, router_url, "diff", str(examples)).exit_code == 0

    changed = tmp_path / "nurture.yaml"
    spec = yaml.safe_load((examples / "nurture.yaml").read_text())
    spec["steps"][1]["event"]["timeout"] = "P5D"
    changed.write_text(yaml.safe_dump(spec))
    diff = _journeys(runner, router_url, "diff", str(changed))
    assert diff.exit_code == 1
    changed_lines = [line.replace(" ", "") for line in diff.output.splitlines() if "timeout: P" in line]
    assert changed_lines == ["-timeout:P7D", "+timeout:P5D"], diff.output  # the key order of the file shows nothing

    exported = _journeys(runner, router_url, "export")
    assert exported.exit_code == 0
    names = {doc["name"] for doc in yaml.safe_load_all(exported.output)}
    assert {"lead-nurture", "sales-handover", "construction-updates", "aftercare"} <= names


def test_a_broken_journey_file_is_refused_at_its_line(router_url: str, runner: CliRunner, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "name: broken-journey\n"
        "entry: {event_types: [lead.created]}\n"
        "steps:\n"
        "  - id: wait\n"
        "    type: wait\n"
        "    duration: PT0S\n"
        "  - {id: hello, type: exit, next: nowhere}\n"
    )
    refused = _journeys(runner, router_url, "apply", str(broken))
    assert refused.exit_code == 1
    assert f"{broken}:6: steps.0.duration: wait_duration" in refused.output
    assert _journeys(runner, router_url, "plan", str(broken)).exit_code == 2
