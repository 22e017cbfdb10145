"""app_seen_at: when the customer was last in the app or its inbox (in-app reachability)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 13:20:00

Existing customers get the newest app presence their timeline holds (the rule of
`profiles.state.app_presence`), so nobody who used the app lately loses in-app overnight.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("app_seen_at", sa.DateTime(timezone=True), nullable=True), schema="profile")
    op.execute(
        """
        UPDATE profile.customers AS c SET app_seen_at = seen.at
        FROM (
            SELECT customer_id, max(LEAST(occurred_at, received_at)) AS at
            FROM profile.timeline
            WHERE channel = 'in_app'
              AND ((type LIKE 'app.%' AND type <> 'app.uninstalled')
                   OR type LIKE 'inbox.%'
                   OR type IN ('message.read', 'message.opened', 'message.clicked',
                               'message.replied', 'message.dismissed'))
            GROUP BY customer_id
        ) AS seen
        WHERE c.id = seen.customer_id AND c.erased_at IS NULL
        """
    )


def downgrade() -> None:
    op.drop_column("customers", "app_seen_at", schema="profile")
