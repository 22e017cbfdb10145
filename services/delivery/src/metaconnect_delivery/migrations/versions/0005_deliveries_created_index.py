"""deliveries: an index on created_at, for the providers report

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 19:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_deliveries_created_at", "deliveries", ["created_at"], unique=False, schema="delivery")


def downgrade() -> None:
    op.drop_index("ix_deliveries_created_at", table_name="deliveries", schema="delivery")
