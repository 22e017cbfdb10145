"""outbox_tombstones: an outbox row may have no value (a tombstone on `mc.customers.v1`)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("outbox", "value", existing_type=sa.LargeBinary(), nullable=True, schema="profile")


def downgrade() -> None:
    # The older code cannot hold tombstones: those still in the outbox go (pending ones unpublished).
    op.execute("DELETE FROM profile.outbox WHERE value IS NULL")
    op.alter_column("outbox", "value", existing_type=sa.LargeBinary(), nullable=False, schema="profile")
