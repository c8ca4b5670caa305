"""contact threads: contact_messages (issue 14)

The direct messages exchanged while a contact request is pending are kept with the
request, on each side (`contact_messages`).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contact_messages",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("note_uri", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["contact_requests.id"],
            name="fk_contact_messages_request_id_contact_requests",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_contact_messages"),
        sa.UniqueConstraint("request_id", "note_uri", name="uq_contact_messages_request_id"),
    )
    op.create_index("ix_contact_messages_request_id", "contact_messages", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_contact_messages_request_id", table_name="contact_messages")
    op.drop_table("contact_messages")
