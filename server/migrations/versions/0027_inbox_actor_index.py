"""inbox_activities: drop the index on actor_uri, which no query uses

Every received activity paid for it before its 202: one more B-tree entry, and with
many senders one more page written to the WAL per stored row.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-04 19:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_inbox_activities_actor_uri", table_name="inbox_activities")


def downgrade() -> None:
    op.create_index("ix_inbox_activities_actor_uri", "inbox_activities", ["actor_uri"])
