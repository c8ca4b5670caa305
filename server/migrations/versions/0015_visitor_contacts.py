"""visitor contacts: contact requests from visitors without an account, by e-mail

visitor_contacts holds each request (the address only while it is open; only the hash
of its verification token), visitor_contact_counts the day's submissions per address
and client IP (as HMACs), shared by every process.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 18:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import actors.base

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "visitor_contacts",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("interests", _JSON, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("verify_expires_at", actors.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", actors.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("verified_at", actors.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answered_at", actors.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", actors.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["actors.id"],
            name=op.f("fk_visitor_contacts_actor_id_actors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitor_contacts")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_visitor_contacts_token_hash")),
    )
    op.create_index(
        "ix_visitor_contacts_actor_state", "visitor_contacts", ["actor_id", "state", "id"]
    )
    op.create_index("ix_visitor_contacts_created_at", "visitor_contacts", ["created_at"])
    op.create_table(
        "visitor_contact_counts",
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key_hash", "day", name=op.f("pk_visitor_contact_counts")),
    )


def downgrade() -> None:
    op.drop_table("visitor_contact_counts")
    op.drop_index("ix_visitor_contacts_created_at", table_name="visitor_contacts")
    op.drop_index("ix_visitor_contacts_actor_state", table_name="visitor_contacts")
    op.drop_table("visitor_contacts")
