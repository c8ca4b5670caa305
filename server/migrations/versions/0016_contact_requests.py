"""contact requests: contact_requests (both sides of a named request) and contact_blocks

A contact request is a Follow with a message that the recipient decides; each side keeps
a row (`box` sent or received) with its state, matched across instances by the Follow's
id. contact_blocks holds the actors one of ours refuses further requests from.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import actors.base

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contact_requests",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("box", sa.String(length=10), nullable=False),
        sa.Column("sender_uri", sa.Text(), nullable=False),
        sa.Column("recipient_uri", sa.Text(), nullable=False),
        sa.Column("follow_uri", sa.Text(), nullable=False),
        sa.Column("note_uri", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("sender_user_id", sa.Integer(), nullable=True),
        sa.Column("follow_back", sa.Boolean(), nullable=False),
        sa.Column("created_at", actors.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", actors.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["sender_user_id"],
            ["users.id"],
            name=op.f("fk_contact_requests_sender_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_requests")),
        sa.UniqueConstraint("box", "follow_uri", name=op.f("uq_contact_requests_box")),
    )
    op.create_index(
        "ix_contact_requests_box_state_created_at",
        "contact_requests",
        ["box", "state", "created_at"],
    )
    op.create_index("ix_contact_requests_recipient_uri", "contact_requests", ["recipient_uri"])
    op.create_index("ix_contact_requests_sender_uri", "contact_requests", ["sender_uri"])
    op.create_index("ix_contact_requests_sender_user_id", "contact_requests", ["sender_user_id"])
    op.create_table(
        "contact_blocks",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("blocker_uri", sa.Text(), nullable=False),
        sa.Column("blocked_uri", sa.Text(), nullable=False),
        sa.Column("created_at", actors.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_blocks")),
        sa.UniqueConstraint(
            "blocker_uri", "blocked_uri", name=op.f("uq_contact_blocks_blocker_uri")
        ),
    )


def downgrade() -> None:
    op.drop_table("contact_blocks")
    op.drop_index("ix_contact_requests_sender_user_id", table_name="contact_requests")
    op.drop_index("ix_contact_requests_sender_uri", table_name="contact_requests")
    op.drop_index("ix_contact_requests_recipient_uri", table_name="contact_requests")
    op.drop_index("ix_contact_requests_box_state_created_at", table_name="contact_requests")
    op.drop_table("contact_requests")
