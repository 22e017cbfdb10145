"""customer_refs: the refs each customer is known by, from the deliveries that listed them

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 11:25:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_refs",
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ref", name=op.f("pk_customer_refs")),
        schema="delivery",
    )
    op.create_index(
        op.f("ix_delivery_customer_refs_customer_id"), "customer_refs", ["customer_id"], unique=False, schema="delivery"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_delivery_customer_refs_customer_id"), table_name="customer_refs", schema="delivery")
    op.drop_table("customer_refs", schema="delivery")
