"""sessions, members, pending sign-ins, used links

Revision ID: 0001
Revises:
Create Date: 2026-12-07 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_sessions")),
        schema="console",
    )
    op.create_index(op.f("ix_console_sessions_expires_at"), "sessions", ["expires_at"], unique=False, schema="console")
    op.create_table(
        "members",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("added_by", sa.String(length=320), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_members")),
        schema="console",
    )
    op.create_table(
        "pending_sign_ins",
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=False),
        sa.Column("return_to", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("state", name=op.f("pk_pending_sign_ins")),
        schema="console",
    )
    op.create_index(
        op.f("ix_console_pending_sign_ins_created_at"),
        "pending_sign_ins",
        ["created_at"],
        unique=False,
        schema="console",
    )
    op.create_table(
        "used_links",
        sa.Column("token_id", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_used_links")),
        schema="console",
    )


def downgrade() -> None:
    op.drop_table("used_links", schema="console")
    op.drop_index(op.f("ix_console_pending_sign_ins_created_at"), table_name="pending_sign_ins", schema="console")
    op.drop_table("pending_sign_ins", schema="console")
    op.drop_table("members", schema="console")
    op.drop_index(op.f("ix_console_sessions_expires_at"), table_name="sessions", schema="console")
    op.drop_table("sessions", schema="console")
