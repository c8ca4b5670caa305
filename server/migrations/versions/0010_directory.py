"""directory: region, interests and indexable on actors; the peer directory cache

Local actors get a region (ISO code, district or town, postal prefix), interests (with
their keys in actor_interests) and `indexable`; remote actors keep what their documents
say of the same. directory_peers, directory_entries and directory_entry_interests hold
what peer instances' directories listed. People created before this revision never chose
to be listed, so they become not discoverable (organisations and groups stay listed).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 17:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import actors.base

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _profile_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("locality", sa.Text(), nullable=False, server_default=""),
        sa.Column("postal_prefix", sa.String(length=10), nullable=False, server_default=""),
        sa.Column("interests", _JSON, nullable=False, server_default=sa.text("'[]'")),
        sa.Column("indexable", sa.Boolean(), nullable=False, server_default=sa.false()),
    ]


def upgrade() -> None:
    with op.batch_alter_table("actors", schema=None) as batch_op:
        for column in _profile_columns():
            batch_op.add_column(column)
        batch_op.add_column(
            sa.Column("profile_changed_at", actors.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_actors_profile_changed_at", ["profile_changed_at"])
        batch_op.create_index("ix_actors_region_code", ["region_code"])
    with op.batch_alter_table("remote_actors", schema=None) as batch_op:
        for column in _profile_columns():
            batch_op.add_column(column)
    op.execute("UPDATE actors SET discoverable = false WHERE type = 'Person'")
    op.execute("UPDATE actors SET profile_changed_at = updated_at")

    op.create_table(
        "actor_interests",
        sa.Column("actor_id", sa.Integer(), nullable=False),
        sa.Column("tag_key", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["actors.id"],
            name=op.f("fk_actor_interests_actor_id_actors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("actor_id", "tag_key", name=op.f("pk_actor_interests")),
    )
    op.create_index("ix_actor_interests_tag_key", "actor_interests", ["tag_key"])
    op.create_table(
        "directory_peers",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("cursor", actors.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_sync_at", actors.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", actors.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_full_sync_at", actors.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("entry_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_peers")),
        sa.UniqueConstraint("domain", name=op.f("uq_directory_peers_domain")),
    )
    op.create_table(
        "directory_entries",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("actor_uri", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("icon_url", sa.Text(), nullable=True),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("locality", sa.Text(), nullable=False),
        sa.Column("postal_prefix", sa.String(length=10), nullable=False),
        sa.Column("interests", _JSON, nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("updated_at", actors.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("seen_at", actors.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["peer_id"],
            ["directory_peers.id"],
            name=op.f("fk_directory_entries_peer_id_directory_peers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_entries")),
        sa.UniqueConstraint("actor_uri", name=op.f("uq_directory_entries_actor_uri")),
    )
    op.create_index("ix_directory_entries_peer_seen", "directory_entries", ["peer_id", "seen_at"])
    op.create_index(
        "ix_directory_entries_region", "directory_entries", ["region_code", "postal_prefix"]
    )
    op.create_index("ix_directory_entries_type", "directory_entries", ["type"])
    op.create_index("ix_directory_entries_updated_at", "directory_entries", ["updated_at"])
    op.create_table(
        "directory_entry_interests",
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("tag_key", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["directory_entries.id"],
            name=op.f("fk_directory_entry_interests_entry_id_directory_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entry_id", "tag_key", name=op.f("pk_directory_entry_interests")),
    )
    op.create_index(
        "ix_directory_entry_interests_tag_key", "directory_entry_interests", ["tag_key"]
    )


def downgrade() -> None:
    op.drop_table("directory_entry_interests")
    op.drop_table("directory_entries")
    op.drop_table("directory_peers")
    op.drop_table("actor_interests")
    with op.batch_alter_table("remote_actors", schema=None) as batch_op:
        for name in ("indexable", "interests", "postal_prefix", "locality", "region_code"):
            batch_op.drop_column(name)
    with op.batch_alter_table("actors", schema=None) as batch_op:
        batch_op.drop_index("ix_actors_region_code")
        batch_op.drop_index("ix_actors_profile_changed_at")
        for name in (
            "profile_changed_at",
            "indexable",
            "interests",
            "postal_prefix",
            "locality",
            "region_code",
        ):
            batch_op.drop_column(name)
