"""journeys: versioned specs, instances with their timers, step history; decisions name their journey

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = sa.text("status = 'active'")


def upgrade() -> None:
    op.add_column("decisions", sa.Column("journey", sa.String(length=63), nullable=True), schema="router")
    op.add_column("decisions", sa.Column("journey_step", sa.String(length=63), nullable=True), schema="router")
    op.create_table(
        "journeys",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_journeys")),
        schema="router",
    )
    op.create_table(
        "journey_versions",
        sa.Column("journey", sa.String(length=63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("spec", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["journey"], ["router.journeys.name"], name=op.f("fk_journey_versions_journey_journeys")
        ),
        sa.PrimaryKeyConstraint("journey", "version", name=op.f("pk_journey_versions")),
        schema="router",
    )
    op.create_table(
        "journey_instances",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("journey", sa.String(length=63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("step_id", sa.String(length=63), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("holdout", sa.Boolean(), nullable=False),
        sa.Column("context", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("arms", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=63), nullable=True),
        sa.Column("failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_instances")),
        schema="router",
    )
    op.create_index(
        "uq_journey_instances_active",
        "journey_instances",
        ["journey", "customer_id"],
        unique=True,
        schema="router",
        postgresql_where=ACTIVE,
    )
    op.create_index(
        "ix_journey_instances_due",
        "journey_instances",
        ["due_at"],
        unique=False,
        schema="router",
        postgresql_where=sa.text("status = 'active' AND due_at IS NOT NULL"),
    )
    op.create_index(
        "ix_journey_instances_customer",
        "journey_instances",
        ["customer_id", "journey", "entered_at"],
        unique=False,
        schema="router",
    )
    op.create_index(
        "ix_journey_instances_journey_entered",
        "journey_instances",
        ["journey", "entered_at"],
        unique=False,
        schema="router",
    )
    op.create_index(
        "ix_journey_instances_journey_status",
        "journey_instances",
        ["journey", "status", "step_id"],
        unique=False,
        schema="router",
    )
    op.create_table(
        "journey_steps",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column("journey", sa.String(length=63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["router.journey_instances.id"],
            name=op.f("fk_journey_steps_instance_id_journey_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_steps")),
        schema="router",
    )
    op.create_index("ix_journey_steps_instance", "journey_steps", ["instance_id", "id"], schema="router")
    op.create_index("ix_journey_steps_journey_at", "journey_steps", ["journey", "at"], schema="router")


def downgrade() -> None:
    op.drop_index("ix_journey_steps_journey_at", table_name="journey_steps", schema="router")
    op.drop_index("ix_journey_steps_instance", table_name="journey_steps", schema="router")
    op.drop_table("journey_steps", schema="router")
    op.drop_index("ix_journey_instances_journey_status", table_name="journey_instances", schema="router")
    op.drop_index("ix_journey_instances_journey_entered", table_name="journey_instances", schema="router")
    op.drop_index("ix_journey_instances_customer", table_name="journey_instances", schema="router")
    op.drop_index("ix_journey_instances_due", table_name="journey_instances", schema="router")
    op.drop_index("uq_journey_instances_active", table_name="journey_instances", schema="router")
    op.drop_table("journey_instances", schema="router")
    op.drop_table("journey_versions", schema="router")
    op.drop_table("journeys", schema="router")
    op.drop_column("decisions", "journey_step", schema="router")
    op.drop_column("decisions", "journey", schema="router")
