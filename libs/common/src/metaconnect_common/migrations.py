"""Alembic per service: each service migrates its own schema with its own history.

A service's `migrations/env.py` calls `run_env(metadata)`; operators run
`metaconnect db upgrade` (or the migration Job), never the services at start.
"""

from __future__ import annotations

import asyncio
from importlib.resources import files

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, MetaData, pool, text
from sqlalchemy.ext.asyncio import create_async_engine


def alembic_config(package: str, url: str) -> Config:
    """Config for `<package>.migrations`, pointed at `url` (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(files(package) / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade(package: str, url: str, revision: str = "head") -> None:
    """Apply the service's migrations up to `revision`."""
    command.upgrade(alembic_config(package, url), revision)


def _configure(connection: Connection, metadata: MetaData) -> None:
    schema = metadata.schema
    assert schema, "every service owns a schema"
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=schema,
        include_schemas=True,
        include_name=lambda name, type_, _parent: type_ != "schema" or name == schema,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_env(metadata: MetaData) -> None:
    """Body of a service's `env.py`: online migrations over asyncpg."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url

    async def run() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(_configure, metadata)
        finally:
            await engine.dispose()

    asyncio.run(run())
