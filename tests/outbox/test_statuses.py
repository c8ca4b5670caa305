"""One Status row factory and atomic counters (`outbox.statuses`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from federation.rendering import PUBLIC
from outbox.models import Status, Visibility
from outbox.statuses import StatusCounter, bump_count, status_columns
from server import db
from server.config import DatabaseConfig

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
URI = "https://alpha.test/users/news/statuses/1"


async def test_counters_move_atomically_and_never_below_zero(
    make_database: Callable[[str], DatabaseConfig],
) -> None:
    config = make_database("statuses")
    engine = db.create_engine(config)
    await db.upgrade(engine, config)
    try:
        maker = db.create_sessionmaker(engine)
        async with maker() as session:
            row = Status(
                **status_columns(
                    id=1,
                    uri=URI,
                    actor_uri="https://alpha.test/users/news",
                    type="Note",
                    visibility=Visibility.PUBLIC,
                    to=[PUBLIC],
                    published_at=T0,
                    created_at=T0,
                )
            )
            session.add(row)
            await session.flush()
            await bump_count(session, StatusCounter.REBLOGS, 1, Status.id == 1)
            await bump_count(session, StatusCounter.REBLOGS, 1, Status.uri == URI)
            await bump_count(session, StatusCounter.FAVOURITES, -1, Status.id == 1)
            # The loaded row follows the UPDATE, so what is rendered next is current.
            assert (row.reblogs_count, row.favourites_count) == (2, 0)
            await session.commit()
        async with maker() as session:
            stored = await session.get(Status, 1)
            assert stored is not None
            assert (stored.reblogs_count, stored.favourites_count, stored.replies_count) == (
                2,
                0,
                0,
            )
            assert stored.recipients == {
                "to": ["https://www.w3.org/ns/activitystreams#Public"],
                "cc": [],
            }
    finally:
        await engine.dispose()
