"""customer_refs: publish on `mc.customers.v1` whom every identifier stored so far names

Before this revision profile published no `mc.customers.v1`; from now on it writes a record
whenever an identifier is attached, moved by a merge or erased. This enqueues one record per
identifier of every live customer, so the compacted topic starts out complete: the key is the
ref (`kind:value`, `id:<uuid>` for a Metaconnect id), the value JSON that `CustomerRefRecord`
reads. Device tokens are credentials and never published; erased customers own none.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 13:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The topic as the code names it: the relay adds a configured prefix when it publishes.
    op.execute(
        """
        INSERT INTO profile.outbox (topic, key, value)
        SELECT 'mc.customers.v1',
               convert_to(CASE WHEN i.kind = 'mc' THEN 'id:' ELSE i.kind || ':' END || i.value, 'UTF8'),
               convert_to(json_build_object('schema_version', 1, 'customer_id', i.customer_id)::text, 'UTF8')
        FROM profile.identities i
        JOIN profile.customers c ON c.id = i.customer_id
        WHERE i.kind <> 'device' AND c.erased_at IS NULL
        ORDER BY i.kind, i.value
        """
    )


def downgrade() -> None:
    # Nothing to undo: the records describe identities that stay; published ones cannot be taken back.
    pass
