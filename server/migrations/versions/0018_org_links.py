"""organisation links: org_links, link_tree_nodes

Confirmed links between organisation and group actors (issue 15): one row per local side
of a link (`org_links`, with the relayed-news choice of a parent), and the cached network
tree of confirmed branches that the worker reads across instances (`link_tree_nodes`).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import actors.base
from actors.base import UTCDateTime

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "org_links",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("actor_uri", sa.Text(), nullable=False),
        sa.Column("other_uri", sa.Text(), nullable=False),
        sa.Column("other_domain", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("outgoing", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("offer_uri", sa.Text(), nullable=False),
        sa.Column("accept_uri", sa.Text(), nullable=True),
        sa.Column("relay", sa.String(length=10), nullable=False),
        sa.Column("relay_tags", actors.base.JsonType, nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_links")),
        sa.UniqueConstraint("actor_uri", "offer_uri", name=op.f("uq_org_links_actor_uri")),
    )
    op.create_index("ix_org_links_actor_uri_state", "org_links", ["actor_uri", "state"])
    op.create_index(op.f("ix_org_links_other_uri"), "org_links", ["other_uri"])
    op.create_index(op.f("ix_org_links_state"), "org_links", ["state"])
    op.create_index(op.f("ix_org_links_offer_uri"), "org_links", ["offer_uri"])
    op.create_table(
        "link_tree_nodes",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("root_uri", sa.Text(), nullable=False),
        sa.Column("node_uri", sa.Text(), nullable=False),
        sa.Column("parent_uri", sa.Text(), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("handle", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("refreshed_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_tree_nodes")),
    )
    op.create_index(op.f("ix_link_tree_nodes_root_uri"), "link_tree_nodes", ["root_uri"])


def downgrade() -> None:
    op.drop_index(op.f("ix_link_tree_nodes_root_uri"), table_name="link_tree_nodes")
    op.drop_table("link_tree_nodes")
    op.drop_index(op.f("ix_org_links_offer_uri"), table_name="org_links")
    op.drop_index(op.f("ix_org_links_state"), table_name="org_links")
    op.drop_index(op.f("ix_org_links_other_uri"), table_name="org_links")
    op.drop_index("ix_org_links_actor_uri_state", table_name="org_links")
    op.drop_table("org_links")
