"""members-only groups: actors.members_only

A Group actor whose announces of its members' posts go to its followers only
(outbox.groups); false for every existing actor.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("actors", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("members_only", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("actors", schema=None) as batch_op:
        batch_op.alter_column("members_only", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("actors", schema=None) as batch_op:
        batch_op.drop_column("members_only")
