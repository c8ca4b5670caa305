"""directory indexes: postal-prefix searches

A search by postal prefix (`region=10`) is a left-anchored pattern on `postal_prefix`
(`actors.directory`): GLOB on SQLite, LIKE on PostgreSQL. Neither table had an index that
leads with the column, so both were scanned (EXPLAIN: `SCAN directory_entries`, `Seq Scan
on directory_entries ... Filter: postal_prefix ~~ '10%'`). On PostgreSQL the index uses
`text_pattern_ops`, which serves LIKE prefixes whatever the database's collation.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 18:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PATTERN_OPS = {"postal_prefix": "text_pattern_ops"}


def upgrade() -> None:
    op.create_index(
        "ix_directory_entries_postal_prefix",
        "directory_entries",
        ["postal_prefix"],
        postgresql_ops=_PATTERN_OPS,
    )
    op.create_index(
        "ix_actors_postal_prefix", "actors", ["postal_prefix"], postgresql_ops=_PATTERN_OPS
    )


def downgrade() -> None:
    op.drop_index("ix_actors_postal_prefix", table_name="actors")
    op.drop_index("ix_directory_entries_postal_prefix", table_name="directory_entries")
