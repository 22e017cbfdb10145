"""`metaconnect demo traffic` against a real dev stack: deliveries come back with receipts, decisions are stored."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from metaconnect_cli.client import DevState
from metaconnect_cli.demo import DEMO_MARK
from metaconnect_cli.main import app
from tests.cli.test_dev_mode import _child_env, _free_ports, _port_flags, _wait_for_state


@pytest.mark.timeout(300)
def test_demo_traffic_closes_the_loop_on_the_dev_stack(tmp_path: Path, dev_dir: Path) -> None:
    dev_dir.mkdir(parents=True)
    state_file, output = tmp_path / "dev.json", dev_dir / "dev.out"  # printed if the test fails
    command = [sys.executable, "-m", "metaconnect_cli.main", "dev", "--data-dir", str(dev_dir)]
    command += ["--state-file", str(state_file), *_port_flags(_free_ports())]
    with output.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=_child_env(), cwd=tmp_path)
    try:
        state = _wait_for_state(proc, state_file, output)
        args = ["demo", "traffic", "--customers", "12", "--events", "60", "--rate", "30", "--seed", "7"]
        args += ["--settle", "8", "--timeout", "150", "--state-file", str(state_file), "--json"]
        result = CliRunner().invoke(app, args)

        assert result.exit_code == 0, f"{result.output}\n{result.stderr}"
        summary = json.loads(result.stdout)
        assert summary["events_posted"] == 60
        assert summary["deliveries"] > 0
        assert summary["receipts"] >= summary["deliveries"]  # one message.delivered each, some message.opened
        assert not summary["timed_out"]
        assert sum(summary["items"].values()) >= summary["deliveries"]  # a bundle carries one item or more
        reached = summary["customers_reached"]
        assert 0 < reached["treated"] + reached["holdout"] <= summary["customers"]

        viewer = {"Authorization": f"Bearer {state.operator_token}"}
        profile = httpx.get(f"{state.services['profile']}/v1/profiles/cid:demo-7-0", headers=viewer, timeout=10)
        assert profile.status_code == 200, profile.text
        decisions = httpx.get(
            f"{state.services['router']}/v1/decisions",
            params={"customer": profile.json()["id"]},
            headers=viewer,
            timeout=10,
        )
        assert decisions.status_code == 200, decisions.text
        assert decisions.json(), "the demo customer has no decisions"
        assert {d["route"] for d in decisions.json()} == {"demo-new-items"}
        # Finding 5: the summary counted deliveries where the reports count items or customers. Now
        # both count customers for the holdout comparison and items by tone (receipts may still be
        # on their way through ingest and the profile service, hence the wait).
        reach, engaged = summary["customers_reached"], summary["customers_engaged"]
        counted = {c: (reach[c], engaged[c]) for c in ("treated", "holdout")}
        router = state.services["router"]

        def reported_customers() -> object:
            [row] = _get(summary["uplift_url"], viewer)["routes"]
            return {c: (row[c]["customers"], row[c]["engaged"]) for c in ("treated", "holdout")}

        def reported_items() -> object:
            query = "route=demo-new-items&group_by=tone"
            return sum(r["sent"] for r in _get(f"{router}/v1/reports/engagement?{query}", viewer)["rows"])

        assert _eventually(reported_customers, counted) == counted
        assert _eventually(reported_items, sum(summary["items"].values())) == sum(summary["items"].values())

        # The demo's route stays active, but takes only the demo's own events: an ordinary
        # app.opened of a consented, reachable customer fires no route at all.
        assert _matched_routes(state, {"screen": "home"}) == []
        assert _matched_routes(state, DEMO_MARK) == ["demo-new-items"]

        proc.send_signal(signal.SIGINT)  # as Ctrl-C does
        assert proc.wait(timeout=40) == 0, output.read_text()
        assert "SIGINT: stopping everything" in output.read_text()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _get(url: str, headers: dict[str, str]) -> Any:
    response = httpx.get(url, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _eventually(read: Callable[[], object], expected: object, within_s: float = 30.0) -> object:
    """What `read` returns once it equals `expected`, or at the deadline."""
    deadline = time.monotonic() + within_s
    while (value := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.5)
    return value


def _matched_routes(state: DevState, properties: dict[str, str]) -> list[str]:
    """The active routes the router's live decision code matches for an app.opened (`POST /v1/simulate`)."""
    now = datetime.now(UTC).isoformat()
    consent = {"granted": True, "at": now, "source": "test"}
    event = {
        "event_id": str(uuid.uuid4()),
        "customer": {"customer_id": "c-1042", "email": "ada@example.com", "device_token": "dev-device-1042"},
        "type": "app.opened",
        "channel": "in_app",
        "occurred_at": now,
        "received_at": now,
        "source": "test",
        "properties": properties,
    }
    profile = {
        "lifecycle_stage": "lead",
        "purposes": {"marketing": consent},
        "channel_consent": {"push": consent, "email": consent},
        "reachable": ["in_app", "push", "email"],
        "contact": {"email": "ada@example.com", "push_tokens": ["dev-device-1042"]},
    }
    response = httpx.post(
        f"{state.services['router']}/v1/simulate",
        json={"event": event, "profile": profile},
        headers={"Authorization": f"Bearer {state.operator_token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return [matched["route"] for matched in response.json()["explanation"].get("matched", [])]
