"""Starting and stopping the sandbox: in-process for tests, and `python -m metaconnect_sandbox`."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from metaconnect_cli.local._proc import free_port
from metaconnect_sandbox import Sandbox
from metaconnect_sandbox.server import bind


def refuses_connections(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


async def test_serves_both_protocols_on_free_ports_and_stops() -> None:
    sandbox = Sandbox()
    with pytest.raises(RuntimeError):
        _ = sandbox.http_url
    async with sandbox, Sandbox() as other:
        assert sandbox.http_url != other.http_url
        assert sandbox.smtp_port != other.smtp_port
        assert sandbox.base_urls["twilio"] == f"{sandbox.http_url}/twilio"
        http_port = int(sandbox.http_url.rsplit(":", 1)[1])
        smtp_port = sandbox.smtp_port
        async with httpx.AsyncClient() as client:
            assert (
                await client.get(f"{sandbox.base_urls['fcm'].removesuffix('/fcm')}/_sandbox/health")
            ).status_code == 200
    assert refuses_connections(http_port)
    assert refuses_connections(smtp_port)
    with pytest.raises(RuntimeError):
        _ = sandbox.smtp_port


async def test_a_taken_port_fails_the_start_and_leaves_nothing_running() -> None:
    with bind("127.0.0.1", 0) as taken:
        taken.listen()
        busy = taken.getsockname()[1]
        http_port = free_port()
        with pytest.raises(OSError, match="in use"):
            async with Sandbox(http_port=http_port, smtp_port=busy):
                pass
    assert refuses_connections(http_port)


def test_runs_standalone_until_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "sandbox.json"
    config.write_text(json.dumps({"fcm_project_id": "standalone", "fcm_access_token": "file-token"}))
    http_port, smtp_port = free_port(), free_port()
    command = [sys.executable, "-m", "metaconnect_sandbox", "--port", str(http_port), "--smtp-port", str(smtp_port)]
    process = subprocess.Popen([*command, "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{http_port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{base}/_sandbox/health", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.1)
        sent = httpx.post(
            f"{base}/fcm/v1/projects/standalone/messages:send",
            headers={"Authorization": "Bearer file-token"},
            json={"message": {"token": "t"}},
        )
        assert sent.status_code == 200
        with socket.create_connection(("127.0.0.1", smtp_port), timeout=5) as smtp:
            assert smtp.recv(100).startswith(b"220 ")

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert refuses_connections(http_port)


async def test_a_client_hanging_up_mid_body_records_nothing_and_logs_no_error(caplog: pytest.LogCaptureFixture) -> None:
    async with Sandbox() as sandbox:
        host, port = sandbox.http_url.removeprefix("http://").split(":")
        head = (
            "POST /fcm/v1/projects/metaconnect-dev/messages:send HTTP/1.1\r\n"
            f"Host: {host}\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
        )
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(head.encode() + b'{"message": {"tok')  # and then the client process dies
        async with httpx.AsyncClient(base_url=sandbox.http_url) as client:
            for _ in range(50):  # the server has seen the hang-up once a later request is answered
                if (await client.get("/_sandbox/health")).status_code == 200:
                    break
        time.sleep(0.2)
        assert sandbox.messages() == []
    assert not [r for r in caplog.records if r.levelname == "ERROR"], [r.getMessage() for r in caplog.records]
