"""notifications: messages to staff (digests, alerts), with their attempts in `attempts`

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 21:30:00

An attempt belongs to a delivery or to a notification, never both.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=998), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("content", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("provider", sa.String(length=63), nullable=True),
        sa.Column("provider_message_id", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.String(length=63), nullable=True),
        sa.Column("requested_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempt_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        schema="delivery",
    )
    op.create_index(
        "ix_notifications_due",
        "notifications",
        ["next_attempt_at"],
        unique=False,
        schema="delivery",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.alter_column("attempts", "delivery_id", existing_type=sa.Uuid(), nullable=True, schema="delivery")
    op.add_column("attempts", sa.Column("notification_id", sa.Uuid(), nullable=True), schema="delivery")
    op.create_index(
        op.f("ix_delivery_attempts_notification_id"), "attempts", ["notification_id"], unique=False, schema="delivery"
    )
    op.create_foreign_key(
        op.f("fk_attempts_notification_id_notifications"),
        "attempts",
        "notifications",
        ["notification_id"],
        ["id"],
        source_schema="delivery",
        referent_schema="delivery",
    )
    op.create_check_constraint(
        op.f("ck_attempts_one_owner"),
        "attempts",
        "num_nonnulls(delivery_id, notification_id) = 1",
        schema="delivery",
    )


def downgrade() -> None:
    op.execute("DELETE FROM delivery.attempts WHERE notification_id IS NOT NULL")
    op.drop_constraint(op.f("ck_attempts_one_owner"), "attempts", schema="delivery", type_="check")
    op.drop_constraint(
        op.f("fk_attempts_notification_id_notifications"), "attempts", schema="delivery", type_="foreignkey"
    )
    op.drop_index(op.f("ix_delivery_attempts_notification_id"), table_name="attempts", schema="delivery")
    op.drop_column("attempts", "notification_id", schema="delivery")
    op.alter_column("attempts", "delivery_id", existing_type=sa.Uuid(), nullable=False, schema="delivery")
    op.drop_index(
        "ix_notifications_due",
        table_name="notifications",
        schema="delivery",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_table("notifications", schema="delivery")
