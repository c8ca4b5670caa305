"""Alembic environment: migrations run on a connection handed over by server.db."""

from __future__ import annotations

from alembic import context

from actors.base import Base
from server.models import load_all_models

load_all_models()

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `verbund db upgrade`, not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
