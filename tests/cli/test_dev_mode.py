"""`metaconnect dev` for real: embedded PostgreSQL, Tansu, the provider sandbox and the services as subprocesses."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from metaconnect_cli.client import DevState, load_state
from metaconnect_cli.dev import DevStack, StartupError
from metaconnect_cli.local._proc import free_port
from metaconnect_cli.services import SERVICES, ServiceSpec
from metaconnect_common.kafka.producer import KafkaPublisher, OutgoingRecord
from metaconnect_common.schemas import Channel
from metaconnect_common.schemas.delivery import Delivery, DeliveryItem, ItemContent
from metaconnect_common.schemas.profiled import Contact
from metaconnect_common.settings import KafkaSettings
from metaconnect_common.topics import DELIVERIES
from metaconnect_delivery.config import ProviderSettings
from metaconnect_sandbox import SandboxConfig

STARTUP_TIMEOUT_S = 180
SANDBOX_SECRETS = [
    SandboxConfig().fcm_access_token.get_secret_value(),
    SandboxConfig().twilio_auth_token.get_secret_value(),
    SandboxConfig().whatsapp_access_token.get_secret_value(),
]
CONTACT = Contact(email="ada@example.com", phone="+447700900123", push_tokens=["dev-device-1"])
# What each channel's delivery reaches in the sandbox.
SANDBOX_PROVIDER = {
    Channel.PUSH: "fcm",
    Channel.SMS: "twilio",
    Channel.WHATSAPP: "whatsapp",
    Channel.EMAIL: "smtp",
    Channel.WEBHOOK: "webhook",
}


def _free_ports() -> dict[str, int]:
    """A free port for every service and the sandbox: tests never take the default ones."""
    return {spec.name: free_port() for spec in SERVICES} | {"sandbox": free_port(), "sandbox-smtp": free_port()}


def _port_flags(ports: dict[str, int]) -> list[str]:
    return [arg for name, port in ports.items() for arg in (f"--{name}-port", str(port))]


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
    dropped = {"MC_DATABASE_URL", "MC_KAFKA_BOOTSTRAP", "MC_INGEST_PORT", "MC_DELIVERY_PROVIDERS"}
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


def _delivery(channel: Channel) -> Delivery:
    now = datetime.now(UTC)
    text = ItemContent(title=f"Hello on {channel}", body=f"Sent on {channel} by the dev stack", subject="Hello")
    item = DeliveryItem(
        id=uuid.uuid4(),
        decision_id=uuid.uuid4(),
        route="dev-check",
        route_version=1,
        message_id="hello",
        category="transactional",
        priority=50,
        tone="neutral",
        content=dict.fromkeys(SANDBOX_PROVIDER, text),
        event_id=uuid.uuid4(),
        created_at=now,
    )
    return Delivery(
        id=uuid.uuid4(), customer_id=uuid.uuid4(), contact=CONTACT, channels=[channel], items=[item], created_at=now
    )


async def _publish(bootstrap: str, deliveries: list[Delivery]) -> None:
    # Tansu has no idempotent producer, as in the dev stack itself.
    publisher = KafkaPublisher(KafkaSettings(bootstrap=bootstrap, idempotence=False), client_id="dev-mode-test")
    try:
        await publisher.publish(
            [OutgoingRecord(DELIVERIES, d.kafka_key(), d.model_dump_json().encode()) for d in deliveries]
        )
    finally:
        await publisher.stop()


def _process_env(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(entry.split("=", 1) for entry in raw.decode().split("\0") if "=" in entry)


def _check_delivery_reaches_the_sandbox(state: DevState, data_dir: Path) -> None:
    """Delivery's providers are the sandbox (with its credentials): one delivery per channel arrives there."""
    assert state.sandbox_url is not None
    pids = json.loads((data_dir / "pids.json").read_text())
    providers = json.loads(_process_env(pids["delivery"]["pid"])["MC_DELIVERY_PROVIDERS"])
    configured = [ProviderSettings.model_validate(p) for p in providers]
    assert {p.channel for p in configured} == set(SANDBOX_PROVIDER)
    smtp_port = int(state.sandbox_smtp.rsplit(":", 1)[1]) if state.sandbox_smtp else None
    for provider in configured:
        assert provider.base_url.startswith((f"{state.sandbox_url}/", f"smtp://127.0.0.1:{smtp_port}")), provider
    twilio = next(p for p in configured if p.kind == "twilio")
    assert twilio.status_callback_url == f"{state.ingest_url}/v1/webhooks/twilio/status"

    asyncio.run(_publish(state.kafka_bootstrap, [_delivery(channel) for channel in SANDBOX_PROVIDER]))
    waited = httpx.get(f"{state.sandbox_url}/_sandbox/messages/wait", params={"count": 5, "timeout_s": 60}, timeout=70)
    assert waited.status_code == 200, waited.text
    received: list[dict[str, Any]] = waited.json()["messages"]
    assert sorted(m["provider"] for m in received) == sorted(SANDBOX_PROVIDER.values())
    assert all(m["auth_ok"] and m["error"] is None for m in received), received
    # The closed loop: the sandbox's signed status callbacks (Twilio, WhatsApp) are accepted by ingest.
    deadline = time.monotonic() + 30
    while True:
        callbacks = httpx.get(f"{state.sandbox_url}/_sandbox/callbacks", timeout=5).json()["callbacks"]
        answered = {(c["provider"], c["event"]): c["status_code"] for c in callbacks}
        if {("twilio", "delivered"), ("whatsapp", "delivered")} <= set(answered) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert answered.get(("twilio", "delivered")) == 200, callbacks
    assert answered.get(("whatsapp", "delivered")) == 200, callbacks


def test_dev_serves_the_printed_curl_and_stops_cleanly_on_sigterm(tmp_path: Path, dev_dir: Path) -> None:
    dev_dir.mkdir(parents=True)
    state_file, output = tmp_path / "dev.json", dev_dir / "dev.out"  # printed if the test fails
    ports = _free_ports()
    ingest_port = ports["ingest"]
    command = [sys.executable, "-m", "metaconnect_cli.main", "dev", "--data-dir", str(dev_dir)]
    command += ["--state-file", str(state_file), *_port_flags(ports)]
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

        assert state.services == {spec.name: f"http://127.0.0.1:{ports[spec.name]}" for spec in SERVICES}
        assert list(state.services) == ["ingest", "profile", "router", "delivery", "console"]
        assert state.ingest_url == state.services["ingest"]
        assert state.sandbox_url == f"http://127.0.0.1:{ports['sandbox']}"
        assert state.sandbox_smtp == f"127.0.0.1:{ports['sandbox-smtp']}"
        assert f"{state.ingest_url}/docs" in printed
        assert f"{state.services['delivery']}/docs" in printed
        assert f"{state.services['console']}/docs" not in printed  # pages for people, no API
        assert f"{state.sandbox_url}/\n" in printed  # the sandbox page
        assert "metaconnect sandbox tail" in printed
        assert "Post an event:\n" in printed  # run outside the repository: no example routes to name
        assert state.operator_token in printed
        assert not any(secret in printed for secret in SANDBOX_SECRETS)
        assert httpx.get(f"{state.services['delivery']}/readyz", timeout=5).status_code == 200
        # The banner's one-time link signs in to the console (once) as admin.
        assert state.console_sign_in_url is not None
        assert state.console_sign_in_url in printed
        assert state.console_sign_in_url.startswith(f"{state.services['console']}/auth/link?token=")
        with httpx.Client() as browser:
            signed_in = browser.get(state.console_sign_in_url, follow_redirects=True, timeout=10)
            assert signed_in.status_code == 200
            assert "admin" in signed_in.text
            reused = httpx.get(state.console_sign_in_url, timeout=10)
            assert reused.status_code == 403
        assert httpx.get(f"{state.sandbox_url}/", timeout=5).status_code == 200
        assert httpx.get(f"{state.ingest_url}/docs", timeout=5).status_code == 200
        keys = httpx.get(
            f"{state.ingest_url}/v1/api-keys", headers={"Authorization": f"Bearer {state.operator_token}"}, timeout=5
        )
        assert [k["name"] for k in keys.json()] == ["demo-app"]
        _check_delivery_reaches_the_sandbox(state, dev_dir)
        listening = [*ports.values(), _kafka_port(state), _postgres_port(state)]
        assert all(_listening(port) for port in listening)
        pids = [entry["pid"] for entry in json.loads((dev_dir / "pids.json").read_text()).values()]
        assert len(pids) == 7  # 4 services, the console, the sandbox, Tansu

        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, output.read_text()
        assert time.monotonic() - started < 30
        assert not any(_listening(port) for port in listening), output.read_text()
        assert not (dev_dir / "pids.json").exists()
        assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
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
    ports = _free_ports()
    again = DevStack(data_dir=dev_dir, state_file=state_file, ports=ports)
    try:
        restarted = again.start()
        assert restarted.api_key == state.api_key
        assert json.loads(state_file.read_text())["api_key"] == state.api_key
        response = httpx.post(f"{restarted.ingest_url}/v1/events", headers=headers, content=body.encode(), timeout=10)
        assert response.status_code == 202, response.text
        assert restarted.sandbox_url == f"http://127.0.0.1:{ports['sandbox']}"
    finally:
        again.stop()
    assert not any(_listening(port) for port in [*ports.values(), _postgres_port(restarted)])


def test_a_failed_start_stops_what_already_runs(tmp_path: Path, dev_dir: Path) -> None:
    postgres_port, kafka_port = free_port(), free_port()
    broken = ServiceSpec("broken", "metaconnect_cli.no_such_service", free_port(), migrations=False)
    stack = DevStack(
        data_dir=dev_dir,
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


def test_a_failed_delivery_stops_the_sandbox_started_for_it(tmp_path: Path, dev_dir: Path) -> None:
    # Named delivery, so the sandbox starts (and gets ready) first.
    broken = ServiceSpec("delivery", "metaconnect_cli.no_such_service", free_port(), migrations=False)
    ports = {"sandbox": free_port(), "sandbox-smtp": free_port()}
    said: list[str] = []
    stack = DevStack(
        data_dir=dev_dir, state_file=tmp_path / "dev.json", services=(broken,), ports=ports, say=said.append
    )

    with pytest.raises(StartupError, match="delivery exited with 1"):
        stack.start()

    assert f"sandbox is ready at http://127.0.0.1:{ports['sandbox']}" in said
    assert said.index("Stopping delivery") < said.index("Stopping sandbox")
    assert not any(_listening(port) for port in ports.values())
    assert not (dev_dir / "pids.json").exists()


@pytest.mark.parametrize(("name", "env"), [("ingest", "MC_INGEST_PORT"), ("sandbox-smtp", "MC_SANDBOX_SMTP_PORT")])
def test_a_busy_port_is_refused_before_anything_starts(tmp_path: Path, name: str, env: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ports = _free_ports() | {name: port}
        stack = DevStack(data_dir=tmp_path / "dev", state_file=tmp_path / "dev.json", ports=ports)

        with pytest.raises(StartupError, match=f"port {port} \\({name}\\) is in use") as refused:
            stack.start()

    assert f"--{name}-port / set {env}" in str(refused.value)

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
