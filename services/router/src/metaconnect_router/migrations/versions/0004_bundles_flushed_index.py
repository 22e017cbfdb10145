"""bundles: an index on flushed_at, for the bundles report

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_bundles_flushed_at",
        "bundles",
        ["flushed_at"],
        unique=False,
        schema="router",
        postgresql_where=sa.text("flushed_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_bundles_flushed_at", table_name="bundles", schema="router")
