"""metaconnect_ids: every customer's own id as an `mc` identifier (receipts name customers by it)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 11:55:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A merged customer's id reaches its survivor; erased customers get none.
    op.execute(
        """
        INSERT INTO profile.identities (kind, value, customer_id, created_at)
        SELECT 'mc', c.id::text, COALESCE(c.merged_into, c.id), c.created_at
        FROM profile.customers c
        LEFT JOIN profile.customers s ON s.id = c.merged_into
        WHERE c.erased_at IS NULL AND s.erased_at IS NULL
        ON CONFLICT DO NOTHING
        """
    )


def downgrade() -> None:
    op.execute("DELETE FROM profile.identities WHERE kind = 'mc'")
