"""instance settings changed at run time, domain blocks and the allow-list, and directory
peers the operator added (the admin pages, issue 16)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import actors.base

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "instance_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", actors.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_instance_settings")),
    )
    op.create_table(
        "domain_rules",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", actors.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domain_rules")),
        sa.UniqueConstraint("kind", "domain", name=op.f("uq_domain_rules_kind")),
    )
    with op.batch_alter_table("directory_peers") as batch:
        batch.add_column(
            sa.Column("operator_added_at", actors.base.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("directory_peers") as batch:
        batch.drop_column("operator_added_at")
    op.drop_table("domain_rules")
    op.drop_table("instance_settings")
