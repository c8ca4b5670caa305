"""Migrations from an empty database, on whichever engine the suite runs against."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import inspect

from actors.base import Base
from server import db
from server.config import DatabaseConfig
from server.models import load_all_models

load_all_models()


async def test_upgrade_from_empty_creates_every_table_and_downgrade_removes_them(
    make_database: Callable[[str], DatabaseConfig],
) -> None:
    config = make_database("migrations")
    engine = db.create_engine(config)
    try:
        assert await db.current_revision(engine, config) is None
        await db.upgrade(engine, config)
        assert await db.current_revision(engine, config) == db.head_revision()
        await db.check_schema(engine, config)
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert set(Base.metadata.tables) <= tables
        await db.upgrade(engine, config)  # idempotent
        await db.downgrade(engine, config, "base")
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert tables <= {"alembic_version"}
        await db.upgrade(engine, config)
        assert await db.current_revision(engine, config) == db.head_revision()
    finally:
        await engine.dispose()


async def test_models_match_migrations(make_database: Callable[[str], DatabaseConfig]) -> None:
    """Autogenerate finds no difference: every model change has its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    config = make_database("drift")
    engine = db.create_engine(config)
    try:
        await db.upgrade(engine, config)
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
            )
        assert diff == []
    finally:
        await engine.dispose()
