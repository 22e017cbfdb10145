"""`metaconnect lifecycle apply|plan|diff|export` against a real profile service (real PostgreSQL
and Kafka), with the home builder's example lifecycle."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from metaconnect_cli.local._proc import free_port, spawn, stop
from metaconnect_cli.main import app
from metaconnect_cli.services import SERVICES, upgrade_databases
from tests.cli.test_keys_cli import _wait_ready

EXAMPLE = Path(__file__).parents[2] / "examples" / "home-builder" / "lifecycle.yaml"


@pytest.fixture(scope="module")
def profile_url(database_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    upgrade_databases(database_url, SERVICES, say=lambda _: None)
    port = free_port()
    log = tmp_path_factory.mktemp("profile") / "profile.log"
    proc = spawn(
        [sys.executable, "-m", "metaconnect_profile"],
        log=log,
        env={
            "MC_ENV": "test",
            "MC_DATABASE_URL": database_url,
            "MC_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "MC_PROFILE_HOST": "127.0.0.1",
            "MC_PROFILE_PORT": str(port),
            "MC_PROFILE_GROUP_ID": "profile-cli-test",
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
    return CliRunner(env={"MC_PROFILE_URL": None, "MC_OPERATOR_TOKEN": None, "MC_AUTH_JWT_SECRET": None})


def _lifecycle(runner: CliRunner, url: str, *args: str) -> Result:
    return runner.invoke(app, ["lifecycle", *args, "--url", url])


def test_the_home_builder_example_applies_once_and_exports_as_it_was_written(
    profile_url: str, runner: CliRunner, tmp_path: Path
) -> None:
    applied = _lifecycle(runner, profile_url, "apply", str(EXAMPLE))
    assert applied.exit_code == 0, applied.output
    assert "home-builder: now at version 2" in applied.output  # version 1: the migration's default
    again = _lifecycle(runner, profile_url, "apply", str(EXAMPLE))
    assert again.exit_code == 0, again.output
    assert "home-builder: unchanged (version 2)" in again.output
    assert _lifecycle(runner, profile_url, "plan", str(EXAMPLE)).exit_code == 0
    diff = _lifecycle(runner, profile_url, "diff", str(EXAMPLE))
    assert (diff.exit_code, diff.output) == (0, "")

    exported = _lifecycle(runner, profile_url, "export")
    assert exported.exit_code == 0, exported.output
    spec = yaml.safe_load(exported.output)
    assert [s["name"] for s in spec["stages"]] == [
        "lead", "qualified", "sales", "contract", "construction", "handover", "aftercare",
    ]  # fmt: skip
    assert spec == {**yaml.safe_load(EXAMPLE.read_text()), "stages": spec["stages"]}
    out = tmp_path / "exported.yaml"
    assert _lifecycle(runner, profile_url, "export", "--out", str(out)).exit_code == 0
    assert _lifecycle(runner, profile_url, "plan", str(out)).exit_code == 0  # the export applies as it is

    # Dropping the aftercare stage: the plan shows the change and would keep its customers' stage.
    shorter = yaml.safe_load(EXAMPLE.read_text())
    shorter["stages"] = shorter["stages"][:-1]
    changed = tmp_path / "shorter.yaml"
    changed.write_text(yaml.safe_dump(shorter, sort_keys=False))
    plan = _lifecycle(runner, profile_url, "plan", str(changed))
    assert plan.exit_code == 1, plan.output
    assert "lifecycle: update (from version 2)" in plan.output
    assert "-  name: aftercare" in plan.output  # keys sorted: the file's order shows nothing
    diff = _lifecycle(runner, profile_url, "diff", str(changed))
    assert diff.exit_code == 1
    assert diff.output.startswith("--- profile/lifecycle@v2\n+++ file/lifecycle\n")


def test_errors_are_reported_at_the_files_lines(profile_url: str, runner: CliRunner, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "name: shop\n"
        "stages:\n"
        "  - name: lead\n"
        "  - name: buyer\n"
        "    enter_on:\n"
        "      - event_types: [order.paid]\n"
        "        condition: profile.holdout == true\n"
        "  - name: lead\n"
    )
    for command, code in (("plan", 2), ("apply", 1)):
        result = _lifecycle(runner, profile_url, command, str(broken))
        assert result.exit_code == code, result.output
        assert f"{broken}:7: stages.1.enter_on.0.condition: personality_not_allowed:" in result.output
        assert f"{broken}:8: stages.2.name: duplicate_stage:" in result.output
    two = tmp_path / "two.yaml"
    two.write_text("name: a\nstages: [{name: x}]\n---\nname: b\nstages: [{name: y}]\n")
    result = _lifecycle(runner, profile_url, "plan", str(two))
    assert result.exit_code == 2
    assert "holds 2 lifecycles; a deployment has one" in result.output
