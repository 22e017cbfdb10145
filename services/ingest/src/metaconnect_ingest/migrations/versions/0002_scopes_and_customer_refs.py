"""API key scopes; the customer refs read from mc.customers.v1

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07 12:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every key made so far posts events, as it did before scopes existed.
    op.add_column(
        "api_keys",
        sa.Column("scopes", sa.ARRAY(sa.Text()), server_default=sa.text("'{events}'::text[]"), nullable=False),
        schema="ingest",
    )
    op.create_table(
        "customer_refs",
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("ref", name=op.f("pk_customer_refs")),
        schema="ingest",
    )


def downgrade() -> None:
    op.drop_table("customer_refs", schema="ingest")
    op.drop_column("api_keys", "scopes", schema="ingest")
