"""peer sync: a claim on directory_peers, so that one process at a time syncs a peer

`claimed_until` is set when a process starts syncing a peer (to the end of its time
budget) and cleared when it is done; another process, or `verbund directory sync`, leaves
a peer alone while its claim holds.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import actors.base

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("directory_peers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("claimed_until", actors.base.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("directory_peers", schema=None) as batch_op:
        batch_op.drop_column("claimed_until")
