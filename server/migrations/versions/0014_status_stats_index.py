"""status stats index: an author's posts counted from (actor_uri, deleted_at, published_at)

Every Account entity (timelines render one per author) carries the author's post count
and last post time; with this index SQLite and PostgreSQL count them from the index
instead of visiting each of the author's rows.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 18:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_statuses_actor_uri_deleted_published",
        "statuses",
        ["actor_uri", "deleted_at", "published_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_statuses_actor_uri_deleted_published", table_name="statuses")
