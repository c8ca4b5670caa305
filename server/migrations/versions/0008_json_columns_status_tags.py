"""JSON columns for recipients, tags, attachments and poll options; a status_tags table

The four JSON-text columns become JSON (`jsonb` on PostgreSQL, cast from the stored text;
on SQLite JSON is text, so the values are copied as they are). SQLite is not given a
batch (copy-and-move) table here: with `foreign_keys=ON`, which a transaction cannot turn
off, dropping the old `statuses` would cascade-delete every mention, favourite, timeline
entry and poll. Each column is instead added anew, filled, and swapped in by
`ALTER TABLE … ADD/DROP/RENAME COLUMN`, which leaves the rows and the other tables alone.

`status_tags` indexes the hashtags of every post, back-filled from the stored tag lists
with the key the code files them under (`federation.hashtags.hashtag_key`). State, visibility,
role and actor-type columns become enums in the models only: they keep their VARCHAR and
their lower-case values, so the database needs no change for them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 14:15:00
"""

import json
from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from federation.hashtags import hashtag_key

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, what an empty value stands for)
_JSON_COLUMNS = (
    ("statuses", "recipients", "{}"),
    ("statuses", "tags", "[]"),
    ("statuses", "attachments", "[]"),
    ("polls", "options", "[]"),
)
_DEFAULTS = {("statuses", "attachments"): "[]"}  # the one column with a server default
_BATCH = 1000


def _sqlite_retype(table: str, column: str, type_sql: str, empty: str) -> None:
    """Give a SQLite column another declared type without recreating its table."""
    new = f"{column}_retyped"
    op.execute(f"ALTER TABLE {table} ADD COLUMN {new} {type_sql} NOT NULL DEFAULT '{empty}'")
    op.execute(f"UPDATE {table} SET {new} = COALESCE(NULLIF({column}, ''), '{empty}')")
    op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    op.execute(f"ALTER TABLE {table} RENAME COLUMN {new} TO {column}")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column, empty in _JSON_COLUMNS:
            # A text default cannot be cast to jsonb in place: drop it, convert, put it back.
            if (table, column) in _DEFAULTS:
                op.alter_column(table, column, server_default=None)
            op.alter_column(
                table,
                column,
                type_=postgresql.JSONB(),
                existing_nullable=False,
                postgresql_using=f"COALESCE(NULLIF({column}, ''), '{empty}')::jsonb",
            )
            if (table, column) in _DEFAULTS:
                op.alter_column(table, column, server_default=_DEFAULTS[table, column])
    else:
        for table, column, empty in _JSON_COLUMNS:
            _sqlite_retype(table, column, "JSON", empty)

    op.create_table(
        "status_tags",
        sa.Column("status_id", sa.BigInteger(), nullable=False),
        sa.Column("tag", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["status_id"],
            ["statuses.id"],
            name=op.f("fk_status_tags_status_id_statuses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("status_id", "tag", name=op.f("pk_status_tags")),
    )
    with op.batch_alter_table("status_tags", schema=None) as batch_op:
        batch_op.create_index("ix_status_tags_tag_status_id", ["tag", "status_id"], unique=False)
    _backfill_status_tags()


def _tag_rows() -> Iterator[dict[str, object]]:
    """(status_id, key) for each hashtag in the stored tag lists, as the code files them."""
    rows = op.get_bind().execute(sa.text("SELECT id, tags FROM statuses"))
    for status_id, stored in rows:
        tags = json.loads(stored) if isinstance(stored, str) else stored
        names = (
            t.get("name") for t in (tags if isinstance(tags, list) else []) if isinstance(t, dict)
        )
        keys = (hashtag_key(n) for n in names if isinstance(n, str) and n.startswith("#"))
        for key in dict.fromkeys(k for k in keys if k):
            yield {"status_id": status_id, "tag": key}


def _backfill_status_tags() -> None:
    status_tags = sa.table(
        "status_tags", sa.column("status_id", sa.BigInteger()), sa.column("tag", sa.Text())
    )
    batch: list[dict[str, object]] = []
    for row in list(_tag_rows()):
        batch.append(row)
        if len(batch) == _BATCH:
            op.bulk_insert(status_tags, batch)
            batch = []
    if batch:
        op.bulk_insert(status_tags, batch)


def downgrade() -> None:
    with op.batch_alter_table("status_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_status_tags_tag_status_id")
    op.drop_table("status_tags")

    if op.get_bind().dialect.name == "postgresql":
        for table, column, _ in _JSON_COLUMNS:
            if (table, column) in _DEFAULTS:
                op.alter_column(table, column, server_default=None)
            op.alter_column(
                table,
                column,
                type_=sa.Text(),
                existing_nullable=False,
                postgresql_using=f"{column}::text",
            )
            if (table, column) in _DEFAULTS:
                op.alter_column(table, column, server_default=_DEFAULTS[table, column])
    else:
        for table, column, empty in _JSON_COLUMNS:
            _sqlite_retype(table, column, "TEXT", empty)
