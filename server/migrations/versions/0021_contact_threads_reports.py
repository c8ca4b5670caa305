"""contact threads and reports: contact_messages, reports, actors.alias_retired_at (issue 14)

The direct messages exchanged while a contact request is pending are kept with the
request, on each side (`contact_messages`). Reports (`Flag`) other instances send about
our actors are kept for the operators (`reports`); a retired alias keeps who it stood for
until the report window has passed (`alias_retired_at`). A received request says whether
its sender is an alias (`is_anonymous`); blocking one also blocks anonymous requests from
its server (`contact_blocks.anonymous_domain`).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0021"
down_revision: str | None = "0020"
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
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("flag_uri", sa.Text(), nullable=False),
        sa.Column("reporter_uri", sa.Text(), nullable=False),
        sa.Column("reported_uri", sa.Text(), nullable=False),
        sa.Column("real_actor_uri", sa.Text(), nullable=True),
        sa.Column("object_uris", JSON_TYPE, nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_reports"),
        sa.UniqueConstraint("flag_uri", "reported_uri", name="uq_reports_flag_uri"),
    )
    op.create_index("ix_reports_reported_uri", "reports", ["reported_uri"])
    with op.batch_alter_table("actors", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("alias_retired_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("contact_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_anonymous", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("contact_requests", schema=None) as batch_op:
        batch_op.alter_column("is_anonymous", server_default=None)
    with op.batch_alter_table("contact_blocks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("anonymous_domain", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contact_blocks", schema=None) as batch_op:
        batch_op.drop_column("anonymous_domain")
    with op.batch_alter_table("contact_requests", schema=None) as batch_op:
        batch_op.drop_column("is_anonymous")
    with op.batch_alter_table("actors", schema=None) as batch_op:
        batch_op.drop_column("alias_retired_at")
    op.drop_index("ix_reports_reported_uri", table_name="reports")
    op.drop_table("reports")
    op.drop_index("ix_contact_messages_request_id", table_name="contact_messages")
    op.drop_table("contact_messages")
