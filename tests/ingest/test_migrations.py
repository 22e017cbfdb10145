"""The ingest schema's migrations match its models and run both ways."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
from alembic import command
from sqlalchemy.engine import make_url

from metaconnect_common.migrations import alembic_config


def test_models_and_migrations_agree(database_url: str) -> None:
    # Raises if autogenerate would emit any operation (the `alembic check` of CI).
    command.check(alembic_config("metaconnect_ingest", database_url))


def test_downgrade_and_upgrade_round_trip(database_url: str) -> None:
    cfg = alembic_config("metaconnect_ingest", database_url)
    command.downgrade(cfg, "base")
    command.upgrade(cfg, "head")
    command.check(cfg)


def _sql(url: str, statement: str, *args: Any) -> list[Any]:
    async def run() -> list[Any]:
        connection = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
        try:
            return list(await connection.fetch(statement, *args))
        finally:
            await connection.close()

    return asyncio.run(run())


def test_keys_made_before_scopes_keep_posting_events(empty_database_url: str) -> None:
    cfg = alembic_config("metaconnect_ingest", empty_database_url)
    command.upgrade(cfg, "0001")
    key_id = uuid.uuid4()
    _sql(
        empty_database_url,
        "INSERT INTO ingest.api_keys (id, name, secret_hash, channels, event_types, rate_per_s, burst, created_by)"
        " VALUES ($1, 'old', $2, '{}', '{}', 1, 1, 'ops')",
        key_id,
        b"\0" * 32,
    )
    command.upgrade(cfg, "head")
    [row] = _sql(empty_database_url, "SELECT scopes FROM ingest.api_keys WHERE id = $1", key_id)
    assert row["scopes"] == ["events"]
