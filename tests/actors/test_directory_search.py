"""The directory search over local actors and cached peer entries (`actors.directory`).

Profiles are set directly on the rows (`set_profile`) until `update_profile` exists;
peer entries are inserted as the sync would store them (`add_entry`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import (
    ColumnElement,
    case,
    delete,
    literal,
    null,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actors.base import UTCDateTime
from actors.directory import (
    DirectoryQuery,
    DirectoryQueryError,
    codes_within,
    search,
    search_statement,
)
from actors.local import create_actor, ensure_instance_actor
from actors.models import (
    Actor,
    ActorInterest,
    ActorType,
    DirectoryEntry,
    DirectoryEntryInterest,
    DirectoryPeer,
)
from actors.uris import LocalUris
from federation.hashtags import hashtag_key
from server import db
from tests.conftest import MigratedDatabase

URIS = LocalUris("https://here.test")
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


async def set_profile(
    session: AsyncSession,
    username: str,
    *,
    region: str | None = None,
    locality: str = "",
    postal_prefix: str = "",
    interests: Sequence[str] = (),
    discoverable: bool = True,
    changed_at: datetime | None = None,
) -> Actor:
    """What `update_profile` will do: the profile columns and the interest keys."""
    actor = await session.scalar(select(Actor).where(Actor.username_key == username.lower()))
    assert actor is not None
    actor.region_code = region
    actor.locality = locality
    actor.postal_prefix = postal_prefix
    actor.interests = list(interests)
    actor.discoverable = discoverable
    actor.profile_changed_at = changed_at or datetime.now(UTC)
    await session.execute(delete(ActorInterest).where(ActorInterest.actor_id == actor.id))
    keys = {k for name in interests if (k := hashtag_key(name)) is not None}
    session.add_all(ActorInterest(actor_id=actor.id, tag_key=k) for k in keys)
    await session.flush()
    return actor


async def add_entry(
    session: AsyncSession,
    peer: str,
    username: str,
    *,
    type_: str = "Organization",
    name: str = "",
    summary: str = "",
    region: str | None = None,
    postal_prefix: str = "",
    interests: Sequence[str] = (),
    updated_at: datetime = T0,
) -> DirectoryEntry:
    """A cached entry of `peer`'s directory, as the peer sync stores it."""
    row = await session.scalar(select(DirectoryPeer).where(DirectoryPeer.domain == peer))
    if row is None:
        row = DirectoryPeer(domain=peer)
        session.add(row)
        await session.flush()
    entry = DirectoryEntry(
        peer_id=row.id,
        actor_uri=f"https://{peer}/users/{username}",
        type=type_,
        username=username,
        domain=peer,
        display_name=name,
        summary=summary,
        url=f"https://{peer}/@{username}",
        region_code=region,
        postal_prefix=postal_prefix,
        interests=list(interests),
        search_text=f"{name} {username} {summary}".lower(),
        updated_at=updated_at,
        seen_at=updated_at,
    )
    session.add(entry)
    await session.flush()
    keys = {k for n in interests if (k := hashtag_key(n)) is not None}
    session.add_all(DirectoryEntryInterest(entry_id=entry.id, tag_key=k) for k in keys)
    await session.flush()
    return entry


@pytest.fixture
async def sessionmaker(
    migrated_database: MigratedDatabase,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    config = await migrated_database("search")
    engine = db.create_engine(config)
    try:
        yield db.create_sessionmaker(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def session(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as s:
        await ensure_instance_actor(s)
        for i, (name, type_) in enumerate(
            [
                ("klimabuendnis", ActorType.ORGANIZATION),
                ("radentscheid", ActorType.GROUP),
                ("hidden", ActorType.ORGANIZATION),
                ("anna", ActorType.PERSON),
                ("munich", ActorType.ORGANIZATION),
            ]
        ):
            await create_actor(s, username=name, type_=type_, display_name=name.title())
            await set_profile(s, name, changed_at=T0 + timedelta(minutes=i))
        await set_profile(
            s,
            "klimabuendnis",
            region="DE-BE",
            locality="Pankow",
            postal_prefix="10",
            interests=["Klima", "Verkehrswende"],
            changed_at=T0 + timedelta(hours=1),
        )
        await set_profile(
            s,
            "radentscheid",
            region="DE-BE",
            postal_prefix="10115",
            interests=["Verkehrswende", "Fahrrad"],
            changed_at=T0 + timedelta(hours=2),
        )
        await set_profile(s, "hidden", region="DE-BE", interests=["Klima"], discoverable=False)
        await set_profile(s, "anna", region="DE-BE", interests=["Klima"], discoverable=False)
        await set_profile(
            s, "munich", region="DE-BY", interests=["Klima"], changed_at=T0 - timedelta(hours=1)
        )
        await add_entry(
            s,
            "peer.test:8443",
            "stadtwerk",
            name="Stadtwerk Hamburg",
            summary="Energie für Hamburg",
            region="DE-HH",
            postal_prefix="20",
            interests=["Klima", "Energie"],
            updated_at=T0 + timedelta(hours=3),
        )
        await add_entry(
            s,
            "peer.test:8443",
            "kiezgruppe",
            type_="Group",
            name="Kiezgruppe",
            region="DE-BE",
            postal_prefix="10437",
            interests=["Verkehrswende", "Klima"],
            updated_at=T0 + timedelta(minutes=30),
        )
        await add_entry(s, "other.test", "paris", region="FR-75C", interests=["Climat"])
        await s.commit()
        yield s


async def handles(session: AsyncSession, **kw: Any) -> list[str]:
    hits = await search(session, DirectoryQuery(**kw), local_domain="here.test", uris=URIS)
    return [h.handle for h in hits]


async def test_lists_discoverable_local_actors_and_entries_newest_change_first(
    session: AsyncSession,
) -> None:
    assert await handles(session) == [
        "stadtwerk@peer.test:8443",
        "radentscheid@here.test",
        "klimabuendnis@here.test",
        "kiezgruppe@peer.test:8443",
        "paris@other.test",
        "munich@here.test",
    ]


async def test_hits_say_where_they_live(session: AsyncSession) -> None:
    hits = await search(
        session, DirectoryQuery(region="DE-BE"), local_domain="here.test", uris=URIS
    )
    where = {h.handle: (h.peer, h.local_actor_id is not None) for h in hits}
    assert where == {
        "radentscheid@here.test": (None, True),
        "klimabuendnis@here.test": (None, True),
        "kiezgruppe@peer.test:8443": ("peer.test:8443", False),
    }
    local = next(h for h in hits if h.username == "klimabuendnis")
    assert local.actor_uri == "https://here.test/users/klimabuendnis"
    assert local.url == "https://here.test/@klimabuendnis"
    assert local.interests == ("Klima", "Verkehrswende")
    assert (local.region_code, local.locality, local.postal_prefix) == ("DE-BE", "Pankow", "10")


async def test_country_matches_its_subdivisions(session: AsyncSession) -> None:
    assert await handles(session, region="de", local_only=True) == [
        "radentscheid@here.test",
        "klimabuendnis@here.test",
        "munich@here.test",
    ]
    assert await handles(session, region="FR") == ["paris@other.test"]
    assert "FR-75C" in codes_within("FR")
    assert codes_within("DE-BE") == ("DE-BE",)
    assert "GB-LND" in codes_within("GB-ENG")


async def test_postal_prefix_matches_longer_prefixes(session: AsyncSession) -> None:
    assert await handles(session, region="10") == [
        "radentscheid@here.test",
        "klimabuendnis@here.test",
        "kiezgruppe@peer.test:8443",
    ]
    # A longer query also finds who names an area around it: 101 lies in klimabuendnis's 10.
    assert await handles(session, region="101") == [
        "radentscheid@here.test",
        "klimabuendnis@here.test",
    ]
    assert await handles(session, region="2") == ["stadtwerk@peer.test:8443"]


async def test_interests_any_and_all(session: AsyncSession) -> None:
    assert await handles(session, interests=("fahrrad",)) == ["radentscheid@here.test"]
    assert await handles(session, interests=("KLIMA", "Fahrrad")) == [
        "stadtwerk@peer.test:8443",
        "radentscheid@here.test",
        "klimabuendnis@here.test",
        "kiezgruppe@peer.test:8443",
        "munich@here.test",
    ]
    assert await handles(session, interests=("klima", "verkehrswende"), match_all=True) == [
        "klimabuendnis@here.test",
        "kiezgruppe@peer.test:8443",
    ]


async def test_type_and_text(session: AsyncSession) -> None:
    assert await handles(session, types=("Group",)) == [
        "radentscheid@here.test",
        "kiezgruppe@peer.test:8443",
    ]
    assert await handles(session, text="HAMBURG") == ["stadtwerk@peer.test:8443"]
    assert await handles(session, text="radent") == ["radentscheid@here.test"]
    assert await handles(session, text="100%_") == []


async def test_region_and_interest_together_with_paging(session: AsyncSession) -> None:
    both = dict(region="DE", interests=("Klima",))
    assert await handles(session, **both) == [
        "stadtwerk@peer.test:8443",
        "klimabuendnis@here.test",
        "kiezgruppe@peer.test:8443",
        "munich@here.test",
    ]
    assert await handles(session, **both, offset=1, limit=2) == [
        "klimabuendnis@here.test",
        "kiezgruppe@peer.test:8443",
    ]


async def test_non_discoverable_and_instance_actor_never_appear(session: AsyncSession) -> None:
    found = await handles(session, limit=100)
    assert not {"hidden@here.test", "anna@here.test"} & set(found)
    assert not any(h.startswith("instance.actor") for h in found)
    assert await handles(session, text="hidden") == []


async def test_active_order_uses_the_given_last_post_time(session: AsyncSession) -> None:
    posted = literal(T0 + timedelta(days=30), UTCDateTime())

    def last_post_at(actor_uri: ColumnElement[str]) -> ColumnElement[Any]:
        return case((actor_uri == URIS.actor("munich"), posted), else_=null())

    hits = await search(
        session,
        DirectoryQuery(order="active"),
        local_domain="here.test",
        uris=URIS,
        last_post_at=last_post_at,
    )
    assert [h.username for h in hits][:2] == ["munich", "stadtwerk"]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (DirectoryQuery(region="ZZ"), "not an ISO"),
        (DirectoryQuery(region="DE-XX"), "not an ISO"),
        (DirectoryQuery(region="10%"), "postal prefix"),
        (DirectoryQuery(interests=("#",)), "no letter"),
        (DirectoryQuery(interests=tuple(f"t{i}" for i in 1000 * [0])), "at most"),
        (DirectoryQuery(types=("Service",)), "unknown actor type"),
        (DirectoryQuery(order="popular"), "order"),
        (DirectoryQuery(offset=-1), "offset"),
        (DirectoryQuery(limit=10**9), "limit"),
    ],
)
async def test_bad_queries_raise_with_a_reason(
    session: AsyncSession, query: DirectoryQuery, reason: str
) -> None:
    with pytest.raises(DirectoryQueryError, match=reason):
        await search(session, query, local_domain="here.test", uris=URIS)


async def explain(session: AsyncSession, query: DirectoryQuery) -> str:
    """The database's plan for the search's union statement, as one string."""
    dialect = session.get_bind().dialect
    stmt = search_statement(query, dialect=dialect.name)
    compiled = stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    if dialect.name == "sqlite":
        rows = await session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
        return "\n".join(str(r[-1]) for r in rows)
    rows = await session.execute(text(f"EXPLAIN {compiled}"))
    return "\n".join(str(r[0]) for r in rows)


async def test_region_and_interest_search_uses_indexes(session: AsyncSession) -> None:
    """On SQLite (the tiny test tables make PostgreSQL prefer sequential scans; its plans
    over 30,000 entries are summed up in migration 0011)."""
    plan = await explain(session, DirectoryQuery(region="DE", interests=("Klima", "Energie")))
    postal = await explain(session, DirectoryQuery(region="10"))
    if session.get_bind().dialect.name == "sqlite":
        assert "ix_actor_interests_tag_key" in plan
        assert "ix_directory_entry_interests_tag_key" in plan
        assert "SEARCH actors USING INDEX ix_actors_postal_prefix" in postal
        assert "SEARCH directory_entries USING INDEX ix_directory_entries_postal_prefix" in postal
