"""`metaconnect dev` for real: embedded PostgreSQL, Tansu, the services as subprocesses."""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from metaconnect_cli.client import DevState, load_state
from metaconnect_cli.dev import DevStack, ServiceSpec, StartupError
from metaconnect_cli.local._proc import free_port

STARTUP_TIMEOUT_S = 180


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _kafka_port(state: DevState) -> int:
    return int(state.kafka_bootstrap.rsplit(":", 1)[1])


def _postgres_port(state: DevState) -> int:
    port = make_url(state.database_url).port
    assert port is not None
    return port


def _child_env() -> dict[str, str]:
    # Without these the command uses embedded servers, as a developer's shell would.
    dropped = {"MC_DATABASE_URL", "MC_KAFKA_BOOTSTRAP", "MC_INGEST_PORT"}
    return {**{k: v for k, v in os.environ.items() if k not in dropped}, "PYTHONUNBUFFERED": "1"}


def _wait_for_state(proc: subprocess.Popen[bytes], state_file: Path, output: Path) -> DevState:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, output.read_text()
        state = load_state(state_file)
        if state is not None and "Ctrl-C" in output.read_text():
            return state
        time.sleep(0.2)
    raise TimeoutError(output.read_text())


def _curl(printed: str) -> tuple[str, dict[str, str], str]:
    """URL, headers and body of the curl the banner prints."""
    line = next(line for line in printed.splitlines() if line.strip().startswith("curl "))
    args = shlex.split(line)
    url = args[args.index("POST") + 1]
    headers = dict(args[i + 1].split(": ", 1) for i, arg in enumerate(args) if arg == "-H")
    return url, headers, args[args.index("-d") + 1]


def test_dev_serves_the_printed_curl_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    state_file, output = tmp_path / "dev.json", tmp_path / "dev.out"
    ingest_port, profile_port, router_port = free_port(), free_port(), free_port()
    command = [sys.executable, "-m", "metaconnect_cli.main", "dev", "--data-dir", str(tmp_path / "dev")]
    command += ["--state-file", str(state_file), "--ingest-port", str(ingest_port)]
    command += ["--profile-port", str(profile_port), "--router-port", str(router_port)]
    with output.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=_child_env(), cwd=tmp_path)
    try:
        state = _wait_for_state(proc, state_file, output)
        printed = output.read_text()

        url, headers, body = _curl(printed)
        assert url == f"http://127.0.0.1:{ingest_port}/v1/events"
        assert headers["Authorization"] == f"Bearer {state.api_key}"
        response = httpx.post(url, headers=headers, content=body, timeout=10)
        assert response.status_code == 202, response.text
        assert len(response.json()["accepted"]) == 1

        assert state.services == {
            "ingest": f"http://127.0.0.1:{ingest_port}",
            "profile": f"http://127.0.0.1:{profile_port}",
            "router": f"http://127.0.0.1:{router_port}",
        }
        assert state.ingest_url == state.services["ingest"]
        assert f"{state.ingest_url}/docs" in printed
        assert state.operator_token in printed
        assert httpx.get(f"{state.ingest_url}/docs", timeout=5).status_code == 200
        keys = httpx.get(
            f"{state.ingest_url}/v1/api-keys", headers={"Authorization": f"Bearer {state.operator_token}"}, timeout=5
        )
        assert [k["name"] for k in keys.json()] == ["demo-app"]
        ports = [ingest_port, profile_port, _kafka_port(state), _postgres_port(state)]
        assert all(_listening(port) for port in ports)

        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, output.read_text()
        assert time.monotonic() - started < 30
        assert not any(_listening(port) for port in ports), output.read_text()
        assert not (tmp_path / "dev" / "pids.json").exists()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    # A restart on the same data dir keeps the data and so the demo key.
    assert oct(state_file.stat().st_mode & 0o777) == "0o600"
    again = DevStack(
        data_dir=tmp_path / "dev", state_file=state_file, ports={"ingest": free_port(), "profile": free_port()}
    )
    try:
        restarted = again.start()
        assert restarted.api_key == state.api_key
        assert json.loads(state_file.read_text())["api_key"] == state.api_key
        response = httpx.post(f"{restarted.ingest_url}/v1/events", headers=headers, content=body.encode(), timeout=10)
        assert response.status_code == 202, response.text
    finally:
        again.stop()
    assert not _listening(_postgres_port(restarted))


def test_a_failed_start_stops_what_already_runs(tmp_path: Path) -> None:
    postgres_port, kafka_port = free_port(), free_port()
    broken = ServiceSpec("broken", "metaconnect_cli.no_such_service", free_port(), migrations=False)
    stack = DevStack(
        data_dir=tmp_path / "dev",
        state_file=tmp_path / "dev.json",
        services=(broken,),
        postgres_port=postgres_port,
        kafka_port=kafka_port,
    )

    with pytest.raises(StartupError, match="broken exited with 1") as failure:
        stack.start()

    assert "No module named metaconnect_cli.no_such_service" in str(failure.value)
    assert not _listening(postgres_port)
    assert not _listening(kafka_port)
    assert not (tmp_path / "dev.json").exists()


def test_a_busy_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        stack = DevStack(data_dir=tmp_path / "dev", state_file=tmp_path / "dev.json", ports={"ingest": port})

        with pytest.raises(StartupError, match=f"port {port} \\(ingest\\) is in use"):
            stack.start()

    assert not (tmp_path / "dev" / "postgres").exists()


def test_one_data_dir_serves_one_dev_stack(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    theirs = tmp_path / "dev" / "pids.json"
    theirs.write_text("{}")
    with (tmp_path / "dev" / "dev.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        stack = DevStack(data_dir=tmp_path / "dev", state_file=tmp_path / "dev.json")

        with pytest.raises(StartupError, match="another `metaconnect dev` is running"):
            stack.start()

    assert not (tmp_path / "dev" / "postgres").exists()
    assert theirs.exists()  # the running stack's bookkeeping is left alone
