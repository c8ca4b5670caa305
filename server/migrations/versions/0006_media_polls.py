"""media attachments on statuses, polls and poll votes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import actors.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("statuses", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("attachments", sa.Text(), server_default="[]", nullable=False)
        )
    op.create_table(
        "polls",
        sa.Column("status_id", sa.BigInteger(), nullable=False),
        sa.Column("is_multiple", sa.Boolean(), nullable=False),
        sa.Column("hides_totals", sa.Boolean(), nullable=False),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("voters_count", sa.Integer(), nullable=True),
        sa.Column("expires_at", actors.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", actors.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", actors.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["status_id"],
            ["statuses.id"],
            name=op.f("fk_polls_status_id_statuses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("status_id", name=op.f("pk_polls")),
    )
    op.create_table(
        "poll_votes",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("poll_id", sa.BigInteger(), nullable=False),
        sa.Column("voter_uri", sa.Text(), nullable=False),
        sa.Column("choice", sa.Integer(), nullable=False),
        sa.Column("uri", sa.Text(), nullable=True),
        sa.Column("created_at", actors.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["poll_id"],
            ["polls.status_id"],
            name=op.f("fk_poll_votes_poll_id_polls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poll_votes")),
        sa.UniqueConstraint("poll_id", "voter_uri", "choice", name=op.f("uq_poll_votes_poll_id")),
    )
    with op.batch_alter_table("poll_votes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_poll_votes_poll_id"), ["poll_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("poll_votes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_poll_votes_poll_id"))
    op.drop_table("poll_votes")
    op.drop_table("polls")
    with op.batch_alter_table("statuses", schema=None) as batch_op:
        batch_op.drop_column("attachments")
