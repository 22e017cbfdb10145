"""profiles

Revision ID: 0001
Revises:
Create Date: 2026-11-23 06:48:38.630697
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("merged_into", sa.Uuid(), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifecycle_stage", sa.String(length=64), nullable=False),
        sa.Column("locale", sa.String(length=35), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("holdout", sa.Boolean(), nullable=False),
        sa.Column("traits", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("consent", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("engagement", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("active_hours", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("personality", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["merged_into"], ["profile.customers.id"], name=op.f("fk_customers_merged_into_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        schema="profile",
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column(
            "headers", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        schema="profile",
    )
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["id"],
        unique=False,
        schema="profile",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_processed_events")),
        schema="profile",
    )
    op.create_index(
        op.f("ix_profile_processed_events_customer_id"),
        "processed_events",
        ["customer_id"],
        unique=False,
        schema="profile",
    )
    op.create_table(
        "identities",
        sa.Column("kind", sa.String(length=80), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("invalid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("invalid_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["profile.customers.id"], name=op.f("fk_identities_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("kind", "value", name=op.f("pk_identities")),
        schema="profile",
    )
    op.create_index(
        op.f("ix_profile_identities_customer_id"), "identities", ["customer_id"], unique=False, schema="profile"
    )
    op.create_table(
        "merges",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("survivor_id", sa.Uuid(), nullable=False),
        sa.Column("merged_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["merged_id"], ["profile.customers.id"], name=op.f("fk_merges_merged_id_customers")),
        sa.ForeignKeyConstraint(
            ["survivor_id"], ["profile.customers.id"], name=op.f("fk_merges_survivor_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merges")),
        sa.UniqueConstraint("merged_id", name=op.f("uq_merges_merged_id")),
        schema="profile",
    )
    op.create_index(op.f("ix_profile_merges_survivor_id"), "merges", ["survivor_id"], unique=False, schema="profile")
    op.create_table(
        "personality_evidence",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("answers", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["profile.customers.id"], name=op.f("fk_personality_evidence_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personality_evidence")),
        sa.UniqueConstraint("event_id", name=op.f("uq_personality_evidence_event_id")),
        schema="profile",
    )
    op.create_index(
        op.f("ix_profile_personality_evidence_customer_id"),
        "personality_evidence",
        ["customer_id"],
        unique=False,
        schema="profile",
    )
    op.create_table(
        "rejections",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("instrument", sa.String(length=128), nullable=False),
        sa.Column("problems", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["profile.customers.id"], name=op.f("fk_rejections_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_rejections")),
        schema="profile",
    )
    op.create_index(
        op.f("ix_profile_rejections_customer_id"), "rejections", ["customer_id"], unique=False, schema="profile"
    )
    op.create_table(
        "timeline",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["profile.customers.id"], name=op.f("fk_timeline_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_timeline")),
        schema="profile",
    )
    op.create_index(
        "ix_timeline_customer_time", "timeline", ["customer_id", "occurred_at"], unique=False, schema="profile"
    )


def downgrade() -> None:
    op.drop_index("ix_timeline_customer_time", table_name="timeline", schema="profile")
    op.drop_table("timeline", schema="profile")
    op.drop_index(op.f("ix_profile_rejections_customer_id"), table_name="rejections", schema="profile")
    op.drop_table("rejections", schema="profile")
    op.drop_index(
        op.f("ix_profile_personality_evidence_customer_id"), table_name="personality_evidence", schema="profile"
    )
    op.drop_table("personality_evidence", schema="profile")
    op.drop_index(op.f("ix_profile_merges_survivor_id"), table_name="merges", schema="profile")
    op.drop_table("merges", schema="profile")
    op.drop_index(op.f("ix_profile_identities_customer_id"), table_name="identities", schema="profile")
    op.drop_table("identities", schema="profile")
    op.drop_index(op.f("ix_profile_processed_events_customer_id"), table_name="processed_events", schema="profile")
    op.drop_table("processed_events", schema="profile")
    op.drop_index(
        "ix_outbox_pending", table_name="outbox", schema="profile", postgresql_where=sa.text("published_at IS NULL")
    )
    op.drop_table("outbox", schema="profile")
    op.drop_table("customers", schema="profile")
