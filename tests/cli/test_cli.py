"""`metaconnect tokens`, `schemas` and `db`: run in-process through typer's runner."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import jwt
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from metaconnect_cli.main import app
from metaconnect_cli.schema_compat import compatibility_problems
from metaconnect_common.auth import Role, verify_token
from metaconnect_common.schemas import export_json_schemas
from metaconnect_common.settings import AuthSettings
from metaconnect_common.topics import INTERACTIONS

# The runner swaps os.environ for these; None unsets.
CLEAN_ENV: dict[str, str | None] = {
    "MC_ENV": None,
    "MC_AUTH_JWT_SECRET": None,
    "MC_INGEST_URL": None,
    "MC_OPERATOR_TOKEN": None,
}


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    # No `.metaconnect/dev.json` of a real dev stack may leak in.
    monkeypatch.chdir(tmp_path)
    return CliRunner(env=CLEAN_ENV)


# --- tokens --------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_tokens_issue_prints_a_token_that_verifies_with_its_role(runner: CliRunner, role: Role) -> None:
    result = runner.invoke(app, ["tokens", "issue", "--role", role.value, "--subject", "alice", "--ttl", "600"])

    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    operator = verify_token(AuthSettings(), token)
    assert operator.role is role
    assert operator.subject == "alice"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 600
    assert "development secret" in result.stderr


def test_tokens_issue_signs_with_the_configured_secret(runner: CliRunner) -> None:
    secret = "s" * 40
    result = runner.invoke(
        app, ["tokens", "issue", "--role", "viewer"], env={"MC_AUTH_JWT_SECRET": secret, "MC_ENV": "production"}
    )

    assert result.exit_code == 0, result.output
    operator = verify_token(AuthSettings(jwt_secret=secret), result.stdout.strip())  # type: ignore[arg-type]
    assert operator.role is Role.VIEWER
    assert operator.subject  # the user name
    assert result.stderr == ""


def test_tokens_issue_refuses_the_default_secret_in_production(runner: CliRunner) -> None:
    result = runner.invoke(app, ["tokens", "issue", "--role", "admin"], env={"MC_ENV": "production"})

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "MC_AUTH_JWT_SECRET" in result.stderr


def test_tokens_issue_rejects_an_unknown_role(runner: CliRunner) -> None:
    result = runner.invoke(app, ["tokens", "issue", "--role", "root"])

    assert result.exit_code == 2
    assert result.stdout == ""


# --- schemas -------------------------------------------------------------------------


def test_schemas_export_prints_every_topic(runner: CliRunner) -> None:
    result = runner.invoke(app, ["schemas", "export"])

    assert result.exit_code == 0, result.output
    schemas = json.loads(result.stdout)
    assert set(schemas) == set(export_json_schemas())
    for schema in schemas.values():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_schemas_export_writes_one_valid_json_schema_per_topic(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["schemas", "export", "--out", str(tmp_path / "schemas")])

    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "schemas").glob("*.json"))
    assert [f.stem for f in files] == sorted(export_json_schemas())
    for file in files:
        schema = json.loads(file.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$id"].endswith(f"/{file.stem}.json")


def _stored(tmp_path: Path, change: Any = None) -> Path:
    """The current schemas written to a directory, the interactions one edited by `change`."""
    directory = tmp_path / "stored"
    directory.mkdir()
    for topic, schema in export_json_schemas().items():
        schema = copy.deepcopy(schema)
        if change is not None and topic == INTERACTIONS:
            change(schema)
        (directory / f"{topic}.json").write_text(json.dumps(schema))
    return directory


def test_schemas_check_passes_against_itself(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["schemas", "check", "--against", str(_stored(tmp_path))])

    assert result.exit_code == 0, result.output
    assert f"{INTERACTIONS}: backward compatible" in result.stdout


def _add_stored_field(schema: dict[str, Any]) -> None:
    schema["properties"]["legacy_flag"] = {"type": "boolean"}


def _add_nested_stored_field(schema: dict[str, Any]) -> None:
    schema["$defs"]["CustomerRef"]["properties"]["legacy_id"] = {"type": "string"}


def _drop_stored_requirement(schema: dict[str, Any]) -> None:
    schema["required"].remove("type")


def _change_stored_type(schema: dict[str, Any]) -> None:
    schema["properties"]["type"] = {"type": "integer"}


def _add_stored_channel(schema: dict[str, Any]) -> None:
    schema["$defs"]["Channel"]["enum"].append("fax")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (_add_stored_field, "legacy_flag: field removed"),
        (_add_nested_stored_field, "customer.legacy_id: field removed"),
        (_drop_stored_requirement, "type: newly required"),
        (_change_stored_type, "type: type changed from integer to string"),
        (_add_stored_channel, "channel: enum values removed: fax"),
    ],
)
def test_schemas_check_fails_on_an_incompatible_change(
    runner: CliRunner, tmp_path: Path, change: Any, problem: str
) -> None:
    result = runner.invoke(app, ["schemas", "check", "--against", str(_stored(tmp_path, change))])

    assert result.exit_code == 1, result.output
    assert f"{INTERACTIONS}: {problem}" in result.stdout


def test_schemas_check_fails_when_a_stored_topic_is_gone(runner: CliRunner, tmp_path: Path) -> None:
    stored = _stored(tmp_path)
    (stored / "mc.retired.v1.json").write_text(json.dumps({"type": "object"}))

    result = runner.invoke(app, ["schemas", "check", "--against", str(stored)])

    assert result.exit_code == 1
    assert "mc.retired.v1: topic schema removed" in result.stdout


def test_schemas_check_needs_stored_schemas(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["schemas", "check", "--against", str(tmp_path)])

    assert result.exit_code == 2
    assert "no stored schemas" in result.stderr


def test_widening_and_new_optional_fields_are_compatible() -> None:
    stored = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"enum": ["x"], "type": "string"}},
        "required": ["a"],
    }
    current = {
        "type": "object",
        "properties": {
            "a": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "b": {"enum": ["x", "y"], "type": "string"},
            "c": {"type": "integer"},
        },
        "required": [],
    }

    assert compatibility_problems(stored, current) == []
    assert compatibility_problems(current, stored) == [
        "a: type changed from null/string to string",
        "b: enum values removed: y",
        "c: field removed",
        "a: newly required",
    ]


# --- db ------------------------------------------------------------------------------


async def _ingest_schema_state(database_url: str) -> tuple[bool, str | None]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            schema = await conn.scalar(
                text("SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'ingest'")
            )
            version = await conn.scalar(text("SELECT version_num FROM ingest.alembic_version"))
        return bool(schema), version
    finally:
        await engine.dispose()


def test_db_upgrade_creates_the_ingest_schema(runner: CliRunner, empty_database_url: str) -> None:
    for _ in range(2):  # the second run finds nothing to do
        env = {"MC_DATABASE_URL": empty_database_url}
        result = runner.invoke(app, ["db", "upgrade", "--service", "ingest"], env=env)
        assert result.exit_code == 0, result.output
        assert "Migrating ingest" in result.stderr

    exists, version = asyncio.run(_ingest_schema_state(empty_database_url))
    assert exists
    assert version


def test_db_upgrade_all_is_the_default(runner: CliRunner, empty_database_url: str) -> None:
    result = runner.invoke(app, ["db", "upgrade"], env={"MC_DATABASE_URL": empty_database_url})

    assert result.exit_code == 0, result.output
    for service in ("ingest", "profile", "router", "delivery"):
        assert f"Migrating {service}" in result.stderr
    assert "Database is up to date." in result.stderr


def test_db_upgrade_rejects_an_unknown_service(runner: CliRunner, database_url: str) -> None:
    result = runner.invoke(app, ["db", "upgrade", "--service", "billing"], env={"MC_DATABASE_URL": database_url})

    assert result.exit_code == 2
    assert "unknown service 'billing'" in result.stderr


def test_db_upgrade_reports_an_unreachable_database(runner: CliRunner) -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:1/metaconnect"
    result = runner.invoke(app, ["db", "upgrade"], env={"MC_DATABASE_URL": url})

    assert result.exit_code == 1
    assert "migration failed" in result.stderr
