"""The directory profile of local actors: validation, interests rows, change times."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actors.documents import actor_view
from actors.local import ActorError, create_actor
from actors.models import Actor, ActorInterest, ActorType
from actors.profile import (
    MAX_INTERESTS,
    InvalidProfileError,
    ProfileChange,
    apply_profile,
    parse_interests,
    update_profile,
)
from federation.documents import render_actor
from server import db
from tests.conftest import MigratedDatabase

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)


@pytest.fixture
async def sessions(
    migrated_database: MigratedDatabase,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    config = await migrated_database("profile")
    engine = db.create_engine(config)
    yield db.create_sessionmaker(engine)
    await engine.dispose()


async def new_actor(session: AsyncSession, type_: ActorType = ActorType.ORGANIZATION) -> Actor:
    actor = await create_actor(session, username="kv", type_=type_)
    actor.profile_changed_at = actor.updated_at = T0
    await session.commit()
    return actor


async def interest_keys(session: AsyncSession, actor: Actor) -> set[str]:
    rows = await session.scalars(
        select(ActorInterest.tag_key).where(ActorInterest.actor_id == actor.id)
    )
    return set(rows)


def test_interests_collapse_by_hashtag_key_keeping_the_first_spelling() -> None:
    assert parse_interests(["Klima", "#klima", " KLIMA ", "Straße", "strasse", ""]) == [
        "Klima",
        "Straße",
    ]


@pytest.mark.parametrize(
    ("names", "named"),
    [
        (["2025"], "'2025'"),
        (["<b>x</b>"], "'<b>x</b>'"),
        (["Verkehrs wende"], "'Verkehrs wende'"),
        (["a" * 51], "longer than 50"),
        ([f"tag{i}" for i in range(MAX_INTERESTS + 1)], f"at most {MAX_INTERESTS}"),
    ],
)
def test_bad_interests_are_refused_naming_the_value(names: list[str], named: str) -> None:
    with pytest.raises(InvalidProfileError, match=named.replace("(", r"\(")):
        parse_interests(names)


def test_profile_errors_are_actor_errors() -> None:
    assert issubclass(InvalidProfileError, ActorError)


async def test_update_writes_region_interests_and_change_times(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        actor = await new_actor(session)
        change = ProfileChange(
            region="de-be",
            locality=" Pankow ",
            postal_prefix="10",
            interests=["Klima", "Verkehrswende", "klima"],
            indexable=True,
        )
        await update_profile(session, actor, change, now=T1)
        await session.commit()
        assert (actor.region_code, actor.locality, actor.postal_prefix) == ("DE-BE", "Pankow", "10")
        assert actor.interests == ["Klima", "Verkehrswende"]
        assert await interest_keys(session, actor) == {"klima", "verkehrswende"}
        assert actor.profile_changed_at == T1 and actor.updated_at == T1

        # Replacing the interests replaces the rows; clearing the region clears all of it.
        await update_profile(session, actor, ProfileChange(region="", interests=["Bürger"]))
        await session.commit()
        assert (actor.region_code, actor.locality, actor.postal_prefix) == (None, "", "")
        assert await interest_keys(session, actor) == {"burger"}


async def test_no_change_moves_no_timestamp_and_locked_is_no_directory_change(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        actor = await new_actor(session)
        assert (
            await apply_profile(session, actor, ProfileChange(discoverable=True), now=T1) == set()
        )
        assert actor.updated_at == T0
        changed = await apply_profile(session, actor, ProfileChange(locked=True), now=T1)
        assert changed == {"manually_approves"}
        assert (actor.updated_at, actor.profile_changed_at) == (T1, T0)
        # Turning discoverable off is a directory change: peers must learn of it.
        await apply_profile(session, actor, ProfileChange(discoverable=False), now=T1)
        assert actor.profile_changed_at == T1


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (ProfileChange(region="DE-XX"), "'DE-XX'"),
        (ProfileChange(region="ZZ"), "'ZZ'"),
        (ProfileChange(region="DE", postal_prefix="10/11"), "'10/11'"),
        (ProfileChange(region="DE", locality="x" * 101), "longer than 100"),
        (ProfileChange(locality="Pankow"), "set a region"),
        (ProfileChange(display_name="x" * 101), "display name"),
    ],
)
async def test_bad_input_is_refused_before_anything_is_written(
    sessions: async_sessionmaker[AsyncSession], change: ProfileChange, named: str
) -> None:
    async with sessions() as session:
        actor = await new_actor(session)
        with pytest.raises(InvalidProfileError, match=named):
            # Valid interests alongside: they are not written either.
            await update_profile(session, actor, replace(change, interests=["Klima"]))
        assert actor.interests == [] and actor.updated_at == T0


async def test_actor_document_carries_terms_fields_and_tags(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        actor = await new_actor(session)
        change = ProfileChange(region="DE-BE", locality="Pankow", interests=["Klima"])
        await update_profile(session, actor, change)
        await session.commit()
    doc = render_actor(actor_view(actor, base_url="https://alpha.test", acct_host="alpha.test"))
    assert (doc["region"], doc["locality"], doc["interests"]) == ("DE-BE", "Pankow", ["Klima"])
    assert "postalCodePrefix" not in doc
    assert doc["discoverable"] is True and doc["indexable"] is True
    assert doc["attachment"] == [
        {"type": "PropertyValue", "name": "Region", "value": "Pankow, Berlin (DE-BE)"},
        {
            "type": "PropertyValue",
            "name": "Interessen / Interests",
            "value": '<a href="https://alpha.test/tags/klima" class="mention hashtag" '
            'rel="tag">#<span>Klima</span></a>',
        },
    ]
    assert doc["tag"] == [
        {"type": "Hashtag", "name": "#Klima", "href": "https://alpha.test/tags/klima"}
    ]
    context = doc["@context"]
    assert isinstance(context, list) and isinstance(context[-1], dict)
    assert context[-1]["verbund"] == "https://w3id.org/verbund/ns#"
    assert context[-1]["region"] == "verbund:region"


async def test_people_start_unlisted_organisations_listed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        person = await create_actor(session, username="erika", type_=ActorType.PERSON)
        org = await create_actor(session, username="ov", type_=ActorType.ORGANIZATION)
        assert (person.discoverable, person.indexable) == (False, False)
        assert (org.discoverable, org.indexable) == (True, True)


def test_english_region_names_come_from_the_english_catalogue() -> None:
    from actors.regions import region_name

    assert (region_name("DE-BY", "en"), region_name("DE-BY", "de")) == ("Bavaria", "Bayern")


async def test_a_new_region_starts_without_the_old_district(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        actor = await new_actor(session)
        await update_profile(session, actor, ProfileChange(region="DE-BE", locality="Pankow"))
        await update_profile(session, actor, ProfileChange(postal_prefix="13"))
        assert (actor.region_code, actor.locality, actor.postal_prefix) == ("DE-BE", "Pankow", "13")
        await update_profile(session, actor, ProfileChange(region="DE-HH"))
        assert (actor.region_code, actor.locality, actor.postal_prefix) == ("DE-HH", "", "")
