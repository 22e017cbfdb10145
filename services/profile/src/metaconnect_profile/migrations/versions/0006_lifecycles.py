"""Lifecycles: the versioned lifecycle, each customer's stage history and `stage_entered_at`

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 21:00:00

Version 1 of the lifecycle comes from `MC_PROFILE_STAGES` and `MC_PROFILE_STAGE_RULES` when
the environment still sets them (JSON, as the settings took them), else from the default
stages and rules the service had until now. Existing customers keep their stage: they entered
it at `created_at` (`stage_entered_at`, and one `stage_changes` row of type `lifecycle.migrated`).
"""

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The service's defaults when this migration was written (kept here: a migration does not change).
_STAGES = ["lead", "qualified", "opportunity", "customer", "loyal"]
_RULES = {
    "lead.qualified": "qualified",
    "opportunity.created": "opportunity",
    "purchase.completed": "customer",
    "loyalty.joined": "loyal",
}


def _first_spec() -> dict[str, Any]:
    stages = json.loads(os.environ["MC_PROFILE_STAGES"]) if os.environ.get("MC_PROFILE_STAGES") else _STAGES
    rules = json.loads(os.environ["MC_PROFILE_STAGE_RULES"]) if os.environ.get("MC_PROFILE_STAGE_RULES") else _RULES
    return {
        "name": "default",
        "description": "The lifecycle the deployment had before lifecycles were versioned.",
        "stages": [
            {
                "name": stage,
                "description": "",
                "enter_on": [{"event_types": types, "condition": None}]
                if (types := sorted(t for t, to in rules.items() if to == stage))
                else [],
                "allow_back": False,
            }
            for stage in stages
        ],
    }


def upgrade() -> None:
    versions = op.create_table(
        "lifecycle_versions",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("spec", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("change", sa.String(length=32), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_lifecycle_versions")),
        schema="profile",
    )
    op.bulk_insert(
        versions,
        [
            {
                "version": 1,
                "spec": _first_spec(),
                "change": "created",
                "author": "migration",
                "created_at": datetime.now(UTC),
            }
        ],
    )
    op.create_table(
        "stage_changes",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("from_stage", sa.String(length=64), nullable=True),
        sa.Column("to_stage", sa.String(length=64), nullable=False),
        sa.Column("lifecycle_version", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=128), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["profile.customers.id"], name=op.f("fk_stage_changes_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_changes")),
        schema="profile",
    )
    op.create_index(
        "ix_stage_changes_customer", "stage_changes", ["customer_id", "changed_at"], unique=False, schema="profile"
    )
    op.create_index(
        "ix_stage_changes_time", "stage_changes", ["changed_at", "customer_id"], unique=False, schema="profile"
    )
    op.add_column(
        "customers", sa.Column("stage_entered_at", sa.DateTime(timezone=True), nullable=True), schema="profile"
    )
    op.execute(
        "UPDATE profile.customers SET stage_entered_at = created_at WHERE erased_at IS NULL AND merged_into IS NULL"
    )
    op.execute(
        """
        INSERT INTO profile.stage_changes
            (customer_id, from_stage, to_stage, lifecycle_version, event_id, event_type, changed_at, recorded_at)
        SELECT id, NULL, lifecycle_stage, 1, gen_random_uuid(), 'lifecycle.migrated', created_at, now()
        FROM profile.customers
        WHERE erased_at IS NULL AND merged_into IS NULL
        """
    )


def downgrade() -> None:
    op.drop_column("customers", "stage_entered_at", schema="profile")
    op.drop_index("ix_stage_changes_time", table_name="stage_changes", schema="profile")
    op.drop_index("ix_stage_changes_customer", table_name="stage_changes", schema="profile")
    op.drop_table("stage_changes", schema="profile")
    op.drop_table("lifecycle_versions", schema="profile")
