"""The delivery schema's migrations match its models and run both ways."""

from __future__ import annotations

from alembic import command

from metaconnect_common.migrations import alembic_config


def test_models_and_migrations_agree(database_url: str) -> None:
    # Raises if autogenerate would emit any operation (the `alembic check` of CI).
    command.check(alembic_config("metaconnect_console", database_url))


def test_downgrade_and_upgrade_round_trip(database_url: str) -> None:
    cfg = alembic_config("metaconnect_console", database_url)
    command.downgrade(cfg, "base")
    command.upgrade(cfg, "head")
    command.check(cfg)
