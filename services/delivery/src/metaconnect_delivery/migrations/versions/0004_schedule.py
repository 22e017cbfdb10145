"""schedule: retries wait as rows (next_attempt_at, leases), not on the consumer path

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 13:15:00.000000

A delivery left `sending` by the version before keeps that status: when its record is consumed
again (its offset was not committed), accepting it stores the command and schedules it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    sa.Column("seq", sa.BigInteger(), sa.Identity(), nullable=False),
    sa.Column("command", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column("traceparent", sa.String(length=55), nullable=True),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("channel_index", sa.Integer(), server_default=sa.text("0"), nullable=False),
    sa.Column("channel_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
    sa.Column("attempt_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
    sa.Column(
        "done_tokens", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
    ),
)


def upgrade() -> None:
    for column in COLUMNS:
        op.add_column("deliveries", column, schema="delivery")
    op.create_unique_constraint(op.f("uq_deliveries_seq"), "deliveries", ["seq"], schema="delivery")
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["next_attempt_at"],
        unique=False,
        schema="delivery",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_deliveries_pending_customer",
        "deliveries",
        ["customer_id", "seq"],
        unique=False,
        schema="delivery",
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_pending_customer", table_name="deliveries", schema="delivery")
    op.drop_index("ix_deliveries_due", table_name="deliveries", schema="delivery")
    op.drop_constraint(op.f("uq_deliveries_seq"), "deliveries", schema="delivery")
    op.execute("UPDATE delivery.deliveries SET status = 'sending' WHERE status = 'pending'")
    for column in reversed(COLUMNS):
        op.drop_column("deliveries", column.name, schema="delivery")
