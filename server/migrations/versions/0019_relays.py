"""relays: the instance's relay subscriptions (FEP-ae0c)

One row per relay inbox: what our instance actor's Follow named (as:Public or the relay
actor), that Follow's id (the relay's Accept or Reject is matched by it), the relay actor
once known, and the state (pending, accepted, rejected).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import actors.base

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "relays",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("inbox_uri", sa.Text(), nullable=False),
        sa.Column("actor_uri", sa.Text(), nullable=True),
        sa.Column("object_uri", sa.Text(), nullable=False),
        sa.Column("follow_uri", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("created_at", actors.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", actors.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relays")),
        sa.UniqueConstraint("inbox_uri", name=op.f("uq_relays_inbox_uri")),
    )
    op.create_index("ix_relays_actor_uri", "relays", ["actor_uri"])
    op.create_index("ix_relays_follow_uri", "relays", ["follow_uri"])


def downgrade() -> None:
    op.drop_index("ix_relays_follow_uri", table_name="relays")
    op.drop_index("ix_relays_actor_uri", table_name="relays")
    op.drop_table("relays")
