"""Migrations from an empty database, on whichever engine the suite runs against."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, MetaData, func, inspect, select

from actors.base import Base
from actors.models import Follow, FollowState
from outbox.models import Mention, Poll, PollVote, Status, StatusTag, Visibility
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


T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
NEWS = "https://alpha.test/users/news"
TAGS_0007 = [
    {"type": "Hashtag", "href": "https://alpha.test/tags/klima", "name": "#klima"},
    {"type": "Mention", "href": "https://delta.test/users/dora", "name": "@dora@delta.test"},
    {"type": "Emoji", "name": ":wave:", "icon": {"url": "https://delta.test/wave.png"}},
    {"type": "Hashtag", "href": "https://delta.test/tags/Verkehr", "name": "#Verkehr"},
]
RECIPIENTS_0007 = {"to": ["https://www.w3.org/ns/activitystreams#Public"], "cc": []}
ATTACHMENTS_0007 = [{"type": "Image", "url": "https://delta.test/a.png", "name": "ä"}]
OPTIONS_0007 = [{"title": "Ja", "votes_count": 2}, {"title": "Nein", "votes_count": 0}]


def _status_0007(id: int, **text: str) -> dict[str, object]:
    """A `statuses` row as revision 0007 stored it: JSON written by `json.dumps`, as text."""
    return {
        "id": id,
        "uri": f"{NEWS}/statuses/{id}",
        "actor_uri": NEWS,
        "type": "Question",
        "summary": "",
        "content": "<p>Hallo</p>",
        "sensitive": False,
        "visibility": "unlisted",
        "replies_count": 0,
        "reblogs_count": 0,
        "favourites_count": 0,
        "published_at": T0,
        "created_at": T0,
        "recipients": "{}",
        "tags": "[]",
        **text,
    }


def _insert_0007_rows(conn: Connection) -> None:
    tables = MetaData()
    tables.reflect(conn)
    statuses = tables.tables["statuses"]
    conn.execute(
        statuses.insert(),
        _status_0007(
            1,
            recipients=json.dumps(RECIPIENTS_0007, ensure_ascii=False),
            tags=json.dumps(TAGS_0007, ensure_ascii=False),
            attachments=json.dumps(ATTACHMENTS_0007, ensure_ascii=False),
        ),
    )
    conn.execute(statuses.insert(), _status_0007(2))  # attachments: the server default
    conn.execute(
        tables.tables["polls"].insert(),
        [
            {
                "status_id": 1,
                "is_multiple": False,
                "hides_totals": False,
                "options": json.dumps(OPTIONS_0007, ensure_ascii=False),
                "updated_at": T0,
            }
        ],
    )
    conn.execute(
        tables.tables["poll_votes"].insert(),
        [{"poll_id": 1, "voter_uri": NEWS, "choice": 0, "created_at": T0}],
    )
    conn.execute(
        tables.tables["mentions"].insert(),
        [{"status_id": 1, "actor_uri": "https://delta.test/users/dora"}],
    )
    conn.execute(
        tables.tables["follows"].insert(),
        [
            {
                "follower_uri": "https://delta.test/users/dora",
                "followed_uri": NEWS,
                "activity_uri": "https://delta.test/follows/1",
                "state": "accepted",
                "message": "",
                "created_at": T0,
                "updated_at": T0,
            }
        ],
    )


def _read_0007_text(conn: Connection) -> dict[str, object]:
    tables = MetaData()
    tables.reflect(conn)
    statuses = tables.tables["statuses"]
    row = conn.execute(select(statuses).where(statuses.c.id == 1)).mappings().one()
    options = conn.execute(select(tables.tables["polls"].c.options)).scalar_one()
    mentions = conn.execute(select(func.count()).select_from(tables.tables["mentions"]))
    return {
        "recipients": json.loads(row["recipients"]),
        "tags": json.loads(row["tags"]),
        "attachments": json.loads(row["attachments"]),
        "options": json.loads(options),
        "mentions": mentions.scalar_one(),
    }


async def test_upgrade_to_0008_keeps_the_json_text_of_0007_and_downgrade_restores_it(
    make_database: Callable[[str], DatabaseConfig],
) -> None:
    """Rows written at 0007 (JSON as text) read back through the models after the upgrade:
    JSON values, enum members, the hashtags in `status_tags`, and no row of a table that
    refers to `statuses` lost. The downgrade gives the same JSON back as text."""
    config = make_database("json_columns")
    engine = db.create_engine(config)
    try:
        await db.upgrade(engine, config, "0007")
        async with engine.begin() as conn:
            await conn.run_sync(_insert_0007_rows)
        await db.upgrade(engine, config)
        maker = db.create_sessionmaker(engine)
        async with maker() as session:
            status = await session.get(Status, 1)
            bare = await session.get(Status, 2)
            poll = await session.get(Poll, 1)
            follow = await session.scalar(select(Follow))
            assert status is not None and bare is not None
            assert poll is not None and follow is not None
            assert status.recipients == RECIPIENTS_0007
            assert status.tags == TAGS_0007
            assert status.attachments == ATTACHMENTS_0007
            assert (bare.recipients, bare.tags, bare.attachments) == ({}, [], [])
            assert poll.options == OPTIONS_0007
            assert status.visibility is Visibility.UNLISTED
            assert follow.state is FollowState.ACCEPTED
            tags = await session.execute(select(StatusTag.status_id, StatusTag.tag))
            assert sorted((s, t) for s, t in tags) == [(1, "klima"), (1, "verkehr")]
            assert await session.scalar(select(func.count()).select_from(Mention)) == 1
            assert await session.scalar(select(func.count()).select_from(PollVote)) == 1
        await db.downgrade(engine, config, "0007")
        async with engine.connect() as conn:
            assert await conn.run_sync(_read_0007_text) == {
                "recipients": RECIPIENTS_0007,
                "tags": TAGS_0007,
                "attachments": ATTACHMENTS_0007,
                "options": OPTIONS_0007,
                "mentions": 1,
            }
    finally:
        await engine.dispose()
