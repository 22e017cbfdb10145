"""`metaconnect sandbox tail` against a real provider sandbox running in this process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from metaconnect_cli.client import DevState, save_state
from metaconnect_cli.local._proc import free_port
from metaconnect_cli.main import app
from metaconnect_cli.sandbox_tail import render
from metaconnect_sandbox import ReceivedMessage, Sandbox, SandboxConfig

CONFIG = SandboxConfig()
SECRETS = [
    CONFIG.fcm_access_token.get_secret_value(),
    CONFIG.twilio_auth_token.get_secret_value(),
    CONFIG.whatsapp_access_token.get_secret_value(),
]
DEVICE_TOKEN = "fcm-device-" + "x" * 120 + "-end"
PHONE = "+447700900123"


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(CONFIG) as sb:
        yield sb


async def send_push(sandbox: Sandbox, title: str, body: str, *, token: str = DEVICE_TOKEN) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.post(
            f"{sandbox.base_urls['fcm']}/v1/projects/{CONFIG.fcm_project_id}/messages:send",
            headers={"Authorization": f"Bearer {CONFIG.fcm_access_token.get_secret_value()}"},
            json={"message": {"token": token, "notification": {"title": title, "body": body}}},
        )
    assert response.status_code == 200, response.text


async def send_sms(sandbox: Sandbox, body: str, *, auth_token: str | None = None) -> int:
    sid = CONFIG.twilio_account_sid
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.post(
            f"{sandbox.base_urls['twilio']}/2010-04-01/Accounts/{sid}/Messages.json",
            auth=(sid, auth_token or CONFIG.twilio_auth_token.get_secret_value()),
            data={"To": PHONE, "From": CONFIG.twilio_service_number, "Body": body},
        )
    return response.status_code


async def tail(*args: str, env: dict[str, str | None] | None = None) -> Result:
    # In a thread: the sandbox answers on this test's event loop.
    runner = CliRunner(env={"MC_SANDBOX_URL": None, **(env or {})})
    return await asyncio.wait_for(asyncio.to_thread(runner.invoke, app, ["sandbox", "tail", *args]), timeout=30)


@pytest.mark.timeout(60)
async def test_tail_prints_each_message_readably_and_filters_by_provider(sandbox: Sandbox) -> None:
    await send_push(sandbox, "Your order shipped", "Track it in the app.\nIt arrives on Tuesday.")
    assert await send_sms(sandbox, "Your code is 123456") == 201

    everything = await tail("--url", sandbox.http_url)
    push_only = await tail("--url", sandbox.http_url, "--provider", "fcm")
    sms_only = await tail("--url", sandbox.http_url, "--provider", "twilio")

    assert everything.exit_code == 0, everything.output
    push_block, sms_block = _blocks(everything.stdout)
    push_head, *push_text = push_block.splitlines()
    assert push_head.split()[1:] == ["fcm", "fcm-device-xxxxx…xxxx-end", "Your", "order", "shipped"]
    assert datetime.strptime(push_head.split()[0], "%H:%M:%S")  # local time of day
    assert [line.strip() for line in push_text] == ["Track it in the app.", "It arrives on Tuesday."]
    assert sms_block.splitlines()[0].split()[1:] == ["twilio", PHONE, "From", CONFIG.twilio_service_number]
    assert sms_block.splitlines()[1].strip() == "Your code is 123456"
    assert not any(secret in everything.output for secret in SECRETS)

    assert push_only.exit_code == 0, push_only.output
    assert push_only.stdout == push_block + "\n"
    assert sms_only.exit_code == 0, sms_only.output
    assert sms_only.stdout == sms_block + "\n"
    nothing = await tail("--url", sandbox.http_url, "--provider", "smtp")
    assert nothing.exit_code == 0
    assert nothing.stdout == ""
    assert "Nothing received yet by smtp" in nothing.stderr


@pytest.mark.timeout(60)
async def test_tail_shows_the_last_lines_and_what_was_refused(sandbox: Sandbox) -> None:
    for n in range(3):
        await send_push(sandbox, f"Push {n}", "body")
    assert await send_sms(sandbox, "Hello", auth_token="not-the-token") == 401

    result = await tail("--url", sandbox.http_url, "-n", "2")

    assert result.exit_code == 0, result.output
    heads = [block.splitlines()[0] for block in _blocks(result.stdout)]
    assert [head.split()[1] for head in heads] == ["fcm", "twilio"]
    assert "Push 2" in heads[0]
    assert heads[1].endswith("[refused 401: Authenticate]")
    assert "not-the-token" not in result.output


@pytest.mark.timeout(60)
async def test_tail_finds_the_dev_stacks_sandbox(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await send_push(sandbox, "From the dev stack", "hello")
    state = DevState(
        ingest_url="http://127.0.0.1:1",
        operator_token="t",
        kafka_bootstrap="127.0.0.1:1",
        database_url="postgresql+asyncpg://127.0.0.1:1/x",
        sandbox_url=sandbox.http_url,
    )
    save_state(state, tmp_path / ".metaconnect" / "dev.json")
    monkeypatch.chdir(tmp_path)

    result = await tail()

    assert result.exit_code == 0, result.output
    assert "From the dev stack" in result.stdout


@pytest.mark.timeout(60)
async def test_tail_follow_prints_new_messages_until_ctrl_c(sandbox: Sandbox, tmp_path: Path) -> None:
    await send_push(sandbox, "Already there", "old")
    output = tmp_path / "tail.out"
    command = [sys.executable, "-m", "metaconnect_cli.main", "sandbox", "tail", "--url", sandbox.http_url]
    command += ["--provider", "fcm", "--follow"]
    with output.open("wb") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
    try:
        await _wait_for(output, "Waiting for messages")
        assert "Already there" in output.read_text()
        await send_sms(sandbox, "not a push")
        await send_push(sandbox, "Just now", "new")
        await _wait_for(output, "Just now")

        proc.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(proc.wait, 10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    printed = output.read_text()
    assert printed.count("Already there") == 1
    assert "not a push" not in printed
    assert "Aborted" not in printed
    assert "Traceback" not in printed


def test_tail_says_when_no_sandbox_answers() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner(env={"MC_SANDBOX_URL": None}).invoke(app, ["sandbox", "tail", "--url", url])

    assert result.exit_code == 1
    assert f"cannot reach the provider sandbox at {url}" in result.stderr


def test_render_keeps_long_texts_short() -> None:
    message = ReceivedMessage(
        id=1,
        provider="smtp",
        received_at=datetime(2025, 1, 1, 12, 0, tzinfo=UTC),
        path="smtp",
        to=["ada@example.com", "grace@example.com"],
        payload={},
        headers={},
        auth_ok=True,
        status=None,
        title="A   subject\nover two lines",
        text="\n".join(f"line {n}" for n in range(10)),
    )

    head, *text = render(message).splitlines()

    assert head.split()[1:] == [
        "smtp",
        "ada@example.com,",
        "grace@example.com",
        "A",
        "subject",
        "over",
        "two",
        "lines",
        "[answer",
        "pending]",
    ]
    assert [line.strip() for line in text] == ["line 0", "line 1", "line 2", "… (7 more lines)"]


def _blocks(printed: str) -> list[str]:
    """One block per message: a header line, then its indented text lines."""
    blocks: list[list[str]] = []
    for line in printed.splitlines():
        if line.startswith(" ") and blocks:
            blocks[-1].append(line)
        else:
            blocks.append([line])
    return ["\n".join(block) for block in blocks]


async def _wait_for(output: Path, text: str, timeout_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while text not in output.read_text():
        assert loop.time() < deadline, output.read_text()
        await asyncio.sleep(0.1)
