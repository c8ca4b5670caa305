"""contact aliases: actors.is_alias / alias_of_id / alias_for_uri, contact_requests.requester_uri

An anonymous contact request is sent by a one-off alias actor (issue 14). The alias is a
local actor row that is never listed; who it stands for (`alias_of_id`) and the one actor
it may talk to (`alias_for_uri`) are known only here, on the requester's instance. The
sent request names the real actor in `requester_uri` so that the requester sees it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("actors", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_alias", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("alias_of_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("alias_for_uri", sa.Text(), nullable=True))
        batch_op.create_index("ix_actors_alias_of_id", ["alias_of_id"])
        batch_op.create_foreign_key(
            "fk_actors_alias_of_id_actors", "actors", ["alias_of_id"], ["id"], ondelete="CASCADE"
        )
    with op.batch_alter_table("actors", schema=None) as batch_op:
        batch_op.alter_column("is_alias", server_default=None)
    with op.batch_alter_table("contact_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requester_uri", sa.Text(), nullable=True))
        batch_op.create_index("ix_contact_requests_requester_uri", ["requester_uri"])


def downgrade() -> None:
    with op.batch_alter_table("contact_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_requests_requester_uri")
        batch_op.drop_column("requester_uri")
    with op.batch_alter_table("actors", schema=None) as batch_op:
        batch_op.drop_constraint("fk_actors_alias_of_id_actors", type_="foreignkey")
        batch_op.drop_index("ix_actors_alias_of_id")
        batch_op.drop_column("alias_for_uri")
        batch_op.drop_column("alias_of_id")
        batch_op.drop_column("is_alias")
