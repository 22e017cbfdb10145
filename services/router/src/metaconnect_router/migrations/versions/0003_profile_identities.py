"""profile_identities: find a customer by any ref its latest snapshot lists

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 11:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_customer_profiles_identities",
        "customer_profiles",
        [sa.text("(profile -> 'identities')")],
        unique=False,
        schema="router",
        postgresql_using="gin",
    )


def downgrade() -> None:
    op.drop_index(
        "ix_customer_profiles_identities", table_name="customer_profiles", schema="router", postgresql_using="gin"
    )
