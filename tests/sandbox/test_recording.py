"""The in-memory record of what arrived."""

from __future__ import annotations

import pytest

from metaconnect_sandbox.recording import Recorder, safe_headers


def record(recorder: Recorder, to: str) -> None:
    recorder.add("webhook", path=f"/webhook/{to}", to=[to], payload={}, auth_ok=True)


def test_keeps_the_newest_messages_up_to_its_limit() -> None:
    recorder = Recorder(limit=2)
    for name in ("a", "b", "c"):
        record(recorder, name)
    assert [(m.id, m.to) for m in recorder.messages()] == [(2, ["b"]), (3, ["c"])]


def test_never_keeps_credentials_headers() -> None:
    headers = {"Authorization": "Bearer x", "COOKIE": "s=1", "X-Api-Key": "k", "Content-Type": "application/json"}
    assert safe_headers(headers) == {"content-type": "application/json"}


def test_callback_urls_are_kept_without_their_credentials() -> None:
    recorder = Recorder(limit=10)
    attempt = recorder.add_callback(
        "twilio",
        url="https://user:pw@example.com:8443/cb?x=1",
        event="sent",
        message_id="SM1",
        status_code=200,
        error=None,
    )
    assert attempt.url == "https://example.com:8443/cb?x=1"


async def test_wait_returns_at_once_when_enough_arrived_and_times_out_otherwise() -> None:
    recorder = Recorder(limit=10)
    record(recorder, "a")
    assert [m.to for m in await recorder.wait(1, timeout_s=0.01)] == [["a"]]
    with pytest.raises(TimeoutError):
        await recorder.wait(2, timeout_s=0.05)
