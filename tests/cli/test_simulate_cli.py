"""`metaconnect simulate` against real profile and router services (real Kafka, real PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner, Result

from metaconnect_cli.local._proc import stop
from metaconnect_cli.main import app
from metaconnect_cli.services import SERVICES, upgrade_databases
from metaconnect_cli.simulate import SimulationInputError, event_of, snapshot_of
from metaconnect_common.auth import Role, issue_token
from metaconnect_common.kafka.producer import KafkaPublisher
from metaconnect_common.schemas import Interaction
from metaconnect_common.settings import AuthSettings, KafkaSettings
from metaconnect_common.topics import PROFILED
from metaconnect_ingest.events.service import to_record
from tests.cli.test_keys_cli import _wait_ready
from tests.router.conftest import route_spec
from tests.support import Service, read_topic, start_service


@pytest.fixture(scope="module")
def services(
    database_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    upgrade_databases(database_url, SERVICES, say=lambda _: None)
    logs = tmp_path_factory.mktemp("simulate")
    started: list[Service] = []
    try:
        for name in ("profile", "router"):
            log = logs / f"{name}.log"
            service = start_service(name, database_url=database_url, bootstrap=kafka_bootstrap, log=log)
            started.append(service)
            _wait_ready(service.url, service.proc, service.log)
        yield {s.name: s.url for s in started}
    finally:
        for service in started:
            stop(service.proc)


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)  # no dev.json of a real dev stack
    return CliRunner(
        env={"MC_PROFILE_URL": None, "MC_ROUTER_URL": None, "MC_OPERATOR_TOKEN": None, "MC_AUTH_JWT_SECRET": None}
    )


def _event(customer: dict[str, Any], type_: str, **properties: Any) -> Interaction:
    now = datetime.now(UTC)
    return Interaction.model_validate(
        {
            "event_id": str(uuid.uuid4()),
            "customer": customer,
            "type": type_,
            "channel": "in_app",
            "occurred_at": now,
            "received_at": now,
            "source": "test-key",
            "properties": properties,
        }
    )


async def _customer(kafka_bootstrap: str, profile_url: str, cid: str) -> tuple[dict[str, Any], Interaction]:
    """A customer with an e-mail address who granted marketing, as ingest would report them; their
    profile once the profile service applied it all, and the last event."""
    customer = {"customer_id": cid, "email": f"{cid}@example.com"}
    events = [
        _event(customer, "app.opened"),
        _event(customer, "consent.changed", purpose="marketing", granted=True),
        _event(customer, "consent.changed", purpose="profiling_questionnaire", granted=True),
    ]
    publisher = KafkaPublisher(KafkaSettings(bootstrap=kafka_bootstrap, linger_ms=0))
    try:
        await publisher.publish([to_record(e) for e in events])
    finally:
        await publisher.stop()
    token = issue_token(AuthSettings(), subject="test", role=Role.VIEWER)
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        while time.monotonic() < deadline:
            response = await http.get(f"{profile_url}/v1/profiles/cid:{cid}")
            if response.status_code == 200 and len(response.json()["consent"]["purposes"]) == 2:
                return response.json(), events[-1]
            await asyncio.sleep(0.2)
    raise AssertionError(f"the profile service did not apply cid:{cid} within 60s")


def _simulate(runner: CliRunner, services: dict[str, str], *args: str) -> Result:
    urls = ["--profile-url", services["profile"], "--router-url", services["router"]]
    return runner.invoke(app, ["simulate", *args, *urls])


async def test_simulate_decides_for_the_customers_current_profile(
    services: dict[str, str], kafka_bootstrap: str, runner: CliRunner, tmp_path: Path
) -> None:
    cid = f"c-{uuid.uuid4().hex[:8]}"
    await _customer(kafka_bootstrap, services["profile"], cid)
    spec = route_spec(f"draft-{cid}", status="draft")
    spec["policy"].pop("quiet_hours")  # decided now, whatever the hour
    # An event type of its own: the active routes other tests put in the same router take cart.*.
    spec["trigger"]["event_types"] = [f"cart{cid[2:]}.abandoned"]
    (tmp_path / "draft.yaml").write_text(yaml.safe_dump(spec))
    event = {"type": f"cart{cid[2:]}.abandoned", "channel": "web", "properties": {"value": 30}}

    ref = f"cid:{cid}"
    shown = _simulate(runner, services, "--customer", ref, "--event", json.dumps(event), "--route", "draft.yaml")

    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0].startswith(f"simulated for cid:{cid} (")
    assert "outcome:   chosen" in lines
    assert f"route:     draft-{cid} (draft)" in lines
    assert f"  matched routes: draft-{cid} (draft)" in lines
    assert "message:   cart-left" in lines
    assert "channels:  email (only_channel)" in lines  # no push token: e-mail is all there is
    assert "  message draft-" + cid + "/cart-left (priority 60): send on email" in lines
    assert sum(line.endswith(" <- chosen") for line in lines) == 1

    (tmp_path / "event.json").write_text(json.dumps({**event, "properties": {"value": 5}}))
    raw = _simulate(runner, services, "--customer", ref, "--event", "@event.json", "--route", "draft.yaml", "--json")
    assert raw.exit_code == 0, raw.output
    assert json.loads(raw.stdout)["outcome"] == "no_match"  # the condition wants a value of 20 or more


async def test_a_draft_routes_errors_are_named_at_their_lines(
    services: dict[str, str], kafka_bootstrap: str, runner: CliRunner, tmp_path: Path
) -> None:
    cid = f"c-{uuid.uuid4().hex[:8]}"
    await _customer(kafka_bootstrap, services["profile"], cid)
    spec = route_spec(f"draft-{cid}", status="draft")
    spec["trigger"]["condition"] = "event.properties.value >="
    (tmp_path / "draft.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    event = json.dumps({"type": "cart.abandoned", "channel": "web"})

    result = _simulate(runner, services, "--customer", f"cid:{cid}", "--event", event, "--route", "draft.yaml")

    assert result.exit_code == 2, result.output
    written = (tmp_path / "draft.yaml").read_text().splitlines()
    line = next(i for i, text in enumerate(written, 1) if text.lstrip().startswith("condition:"))
    assert result.stderr.startswith(f"draft.yaml:{line}: trigger.condition: syntax: "), result.stderr


async def test_the_snapshot_is_the_one_the_router_gets(services: dict[str, str], kafka_bootstrap: str) -> None:
    cid = f"c-{uuid.uuid4().hex[:8]}"
    profile, last = await _customer(kafka_bootstrap, services["profile"], cid)

    published: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while not published and time.monotonic() < deadline:  # the outbox publishes after the commit
        published = [
            record["profile"]
            for r in await read_topic(kafka_bootstrap, PROFILED)
            if (record := json.loads(r.value))["interaction"]
            and record["interaction"]["event_id"] == str(last.event_id)
        ]
        await asyncio.sleep(0.2)

    assert published, "no mc.profiled.v1 record for the last event"
    ours = snapshot_of(profile).model_dump(mode="json")
    theirs = published[0]
    assert theirs["contact"]["email"] == f"{cid}@example.com"
    assert ours["contact"] == {"email": None, "phone": None, "push_tokens": []}  # never needed to decide
    assert theirs["identities"] == [f"cid:{cid}", f"email:{cid}@example.com"]
    assert ours["identities"] == []  # neither: they name the customer, they do not decide
    # Counts are decayed to the instant each was taken.
    assert ours.pop("active_hours") == pytest.approx(theirs.pop("active_hours"), rel=1e-3)
    engagement, published_engagement = ours.pop("engagement"), theirs.pop("engagement")
    assert engagement.keys() == published_engagement.keys()
    for channel, counts in published_engagement.items():
        assert engagement[channel] == pytest.approx(counts, rel=1e-3)
    del ours["contact"], theirs["contact"], ours["identities"], theirs["identities"]
    assert ours == theirs


def test_an_unknown_customer_is_named(services: dict[str, str], runner: CliRunner) -> None:
    event = json.dumps({"type": "cart.abandoned", "channel": "web"})

    result = _simulate(runner, services, "--customer", "cid:nobody-here", "--event", event)

    assert result.exit_code == 1
    assert "no customer cid:nobody-here" in result.stderr
    assert result.stdout == ""


def test_the_event_is_what_a_channel_app_posts_completed_as_ingest_would() -> None:
    customer_id, now = uuid.uuid4(), datetime.now(UTC)

    event = event_of('{"type": "cart.abandoned", "channel": "web", "properties": {"value": 30}}', customer_id, now)

    assert event.customer.metaconnect_id == customer_id
    assert (event.type, event.channel, event.properties) == ("cart.abandoned", "web", {"value": 30})
    assert event.occurred_at == event.received_at == now
    with pytest.raises(SimulationInputError, match="channel"):
        event_of('{"type": "cart.abandoned"}', customer_id, now)
    with pytest.raises(SimulationInputError, match="not JSON"):
        event_of("{type: cart}", customer_id, now)
