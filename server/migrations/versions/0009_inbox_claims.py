"""inbox claims: claimed_until on inbox_activities, a lease like the delivery queue's

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 15:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import actors.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "inbox_activities",
        sa.Column("claimed_until", actors.base.UTCDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("inbox_activities", schema=None) as batch_op:
        batch_op.drop_column("claimed_until")
