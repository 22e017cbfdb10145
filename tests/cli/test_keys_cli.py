"""`metaconnect keys ...` against a real ingest service (real Kafka, real PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from metaconnect_cli.client import DevState, save_state
from metaconnect_cli.local._proc import free_port, spawn, stop
from metaconnect_cli.main import app
from metaconnect_cli.services import SERVICES, upgrade_databases
from metaconnect_common.auth import Role, issue_token
from metaconnect_common.settings import AuthSettings

EVENT = {"customer": {"customer_id": "c-1"}, "type": "app.opened", "channel": "in_app"}


@pytest.fixture(scope="module")
def ingest_url(database_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    upgrade_databases(database_url, SERVICES, say=lambda _: None)
    port = free_port()
    log = tmp_path_factory.mktemp("ingest") / "ingest.log"
    proc = spawn(
        [sys.executable, "-m", "metaconnect_ingest"],
        log=log,
        env={
            "MC_ENV": "test",
            "MC_DATABASE_URL": database_url,
            "MC_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "MC_INGEST_HOST": "127.0.0.1",
            "MC_INGEST_PORT": str(port),
            "MC_INGEST_KEY_CACHE_TTL_S": "0",  # a revocation takes effect at once
            "MC_LOG_JSON": "false",
        },
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log)
        yield url
    finally:
        stop(proc)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(log.read_text())


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)  # an empty directory: no dev.json unless a test writes one
    return CliRunner(env={"MC_INGEST_URL": None, "MC_OPERATOR_TOKEN": None, "MC_AUTH_JWT_SECRET": None})


def _keys(runner: CliRunner, *args: str, env: Mapping[str, str | None] | None = None) -> Result:
    return runner.invoke(app, ["keys", *args], env=env)


def _create(runner: CliRunner, url: str, *args: str) -> dict[str, Any]:
    result = _keys(runner, "create", f"app-{uuid.uuid4().hex[:8]}", "--url", url, "--json", *args)
    assert result.exit_code == 0, result.output
    created: dict[str, Any] = json.loads(result.stdout)
    return created


def _post(url: str, key: str, channel: str = "in_app") -> int:
    event = {**EVENT, "channel": channel}
    response = httpx.post(f"{url}/v1/events", json=event, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    return response.status_code


def _listed(runner: CliRunner, url: str, *args: str) -> dict[str, dict[str, Any]]:
    result = _keys(runner, "list", "--url", url, "--json", *args)
    assert result.exit_code == 0, result.output
    return {k["id"]: k for k in json.loads(result.stdout)}


def test_create_list_revoke(runner: CliRunner, ingest_url: str) -> None:
    created = _create(runner, ingest_url, "--channel", "in_app", "--event-type", "app.*", "--rate", "5", "--burst", "9")

    assert created["key"].startswith("mck_")
    assert (created["channels"], created["event_types"]) == (["in_app"], ["app.*"])
    assert (created["rate_per_s"], created["burst"]) == (5, 9)
    assert _post(ingest_url, created["key"]) == 202
    assert "key" not in _listed(runner, ingest_url)[created["id"]]

    result = _keys(runner, "revoke", created["id"], "--url", ingest_url)
    assert result.exit_code == 0, result.output
    assert f"Revoked API key {created['id']}" in result.stdout

    assert created["id"] not in _listed(runner, ingest_url)
    assert _listed(runner, ingest_url, "--all")[created["id"]]["revoked_at"]
    assert _post(ingest_url, created["key"]) == 401


def test_create_prints_the_secret_once_and_list_prints_a_table(runner: CliRunner, ingest_url: str) -> None:
    result = _keys(runner, "create", "web-shop", "--url", ingest_url, "--channel", "web", "--channel", "email")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Created API key web-shop (id ")
    assert "scopes: events" in result.stdout
    assert "channels: email,web  event types: all" in result.stdout
    assert lines[-2] == "Secret (shown once; store it now):"
    assert _post(ingest_url, lines[-1], channel="web") == 202
    assert _post(ingest_url, lines[-1], channel="in_app") == 403  # the scope holds

    table = _keys(runner, "list", "--url", ingest_url)
    assert table.exit_code == 0, table.output
    header, *rows = table.stdout.splitlines()
    assert header.split() == "ID NAME PREFIX SCOPES CHANNELS EVENT TYPES RATE/S BURST CREATED REVOKED".split()
    assert any(" web-shop " in row and " email,web " in row for row in rows)


def test_a_key_for_an_app_backend_mints_inbox_tokens_and_posts_no_events(runner: CliRunner, ingest_url: str) -> None:
    printed = _keys(runner, "create", "app-backend", "--url", ingest_url, "--scope", "inbox")
    assert "scopes: inbox" in printed.stdout
    assert "event types" not in printed.stdout  # nothing it could post
    created = _create(runner, ingest_url, "--scope", "inbox")

    assert created["scopes"] == ["inbox"]
    assert _post(ingest_url, created["key"]) == 403
    unknown = httpx.post(
        f"{ingest_url}/v1/inbox/tokens",
        json={"customer": f"cid:{uuid.uuid4()}"},
        headers={"Authorization": f"Bearer {created['key']}"},
        timeout=10,
    )
    assert unknown.status_code == 404  # the scope lets it ask; nobody has this ref
    both = _create(runner, ingest_url, "--scope", "events", "--scope", "inbox")
    assert both["scopes"] == ["events", "inbox"]
    bad = _keys(runner, "create", "bad", "--url", ingest_url, "--scope", "admin")
    assert bad.exit_code == 1
    assert "scopes.0:" in bad.stderr


def test_api_errors_name_the_field_and_rule(runner: CliRunner, ingest_url: str) -> None:
    result = _keys(runner, "create", "bad", "--url", ingest_url, "--channel", "fax", "--event-type", "Not A Type")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "HTTP 422 validation_failed" in result.stderr
    assert "channels.0:" in result.stderr
    assert "[enum]" in result.stderr
    assert "event_types.0:" in result.stderr
    assert "[event_type_pattern]" in result.stderr


def test_revoking_an_unknown_key_fails(runner: CliRunner, ingest_url: str) -> None:
    result = _keys(runner, "revoke", str(uuid.uuid4()), "--url", ingest_url)

    assert result.exit_code == 1
    assert "HTTP 404 not_found" in result.stderr


def test_a_viewer_token_is_refused_readably(runner: CliRunner, ingest_url: str) -> None:
    viewer = issue_token(AuthSettings(), subject="vera", role=Role.VIEWER)

    result = _keys(runner, "list", "--url", ingest_url, "--token", viewer)

    assert result.exit_code == 1
    assert "HTTP 403" in result.stderr
    assert "role admin required" in result.stderr
    assert "hint:" in result.stderr


def test_an_unreachable_service_is_reported(runner: CliRunner) -> None:
    result = _keys(runner, "list", "--url", f"http://127.0.0.1:{free_port()}")

    assert result.exit_code == 1
    assert "cannot reach" in result.stderr
    assert "metaconnect dev" in result.stderr


def test_url_and_token_come_from_dev_json(runner: CliRunner, ingest_url: str, tmp_path: Path) -> None:
    vera = issue_token(AuthSettings(), subject="vera", role=Role.VIEWER)
    state = DevState(
        ingest_url=ingest_url, operator_token=vera, kafka_bootstrap="127.0.0.1:1", database_url="postgresql://x/y"
    )
    save_state(state, tmp_path / ".metaconnect" / "dev.json")

    # dev.json's URL and (viewer) token are used: the service is reached and says 403.
    assert "HTTP 403" in _keys(runner, "list").stderr
    # A token in the environment wins over dev.json's.
    admin = issue_token(AuthSettings(), subject="ada", role=Role.ADMIN)
    assert _keys(runner, "list", env={"MC_OPERATOR_TOKEN": admin}).exit_code == 0
    # So does a URL in the environment.
    elsewhere = {"MC_OPERATOR_TOKEN": admin, "MC_INGEST_URL": f"http://127.0.0.1:{free_port()}"}
    assert "cannot reach" in _keys(runner, "list", env=elsewhere).stderr


def test_without_dev_json_an_admin_token_is_issued_locally(runner: CliRunner, ingest_url: str) -> None:
    result = _keys(runner, "list", "--url", ingest_url)

    assert result.exit_code == 0, result.output
