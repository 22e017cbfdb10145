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
