"""Local actors: creation with a fresh key pair, lookups, and the instance actor."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from actors.base import utcnow
from actors.models import Actor, ActorType
from federation.keys import generate_rsa_private_key_pem, public_key_pem
from federation.webfinger import is_valid_username

# Paths that would collide with our routes or confuse users on a profile page.
RESERVED_USERNAMES = frozenset(
    {"actor", "admin", "inbox", "api", "well-known", "nodeinfo", "instance", "users", "root"}
)
MAX_DISPLAY_NAME = 100
MAX_SUMMARY = 5000


class ActorError(Exception):
    """Base of errors about local actors."""


class UnknownActorError(ActorError):
    def __init__(self, username: str) -> None:
        super().__init__(f"no actor named {username!r} on this instance")
        self.username = username


class UsernameTakenError(ActorError):
    def __init__(self, username: str) -> None:
        super().__init__(f"the name {username!r} is already taken")
        self.username = username


class InvalidActorError(ActorError):
    """Input that cannot become an actor (bad name, type or over-long text)."""


def validate_new_actor(username: str, type_: str, display_name: str, summary: str) -> None:
    if not is_valid_username(username) or len(username) > 30:
        raise InvalidActorError(
            f"invalid name {username!r}: use 1-30 letters, digits or _ "
            "(dots and dashes allowed inside)"
        )
    if username.lower() in RESERVED_USERNAMES:
        raise InvalidActorError(f"the name {username!r} is reserved")
    if type_ not in {t.value for t in ActorType} - {ActorType.APPLICATION.value}:
        raise InvalidActorError(f"invalid actor type {type_!r}")
    if len(display_name) > MAX_DISPLAY_NAME:
        raise InvalidActorError(f"display name is longer than {MAX_DISPLAY_NAME} characters")
    if len(summary) > MAX_SUMMARY:
        raise InvalidActorError(f"summary is longer than {MAX_SUMMARY} characters")


async def create_actor(
    session: AsyncSession,
    *,
    username: str,
    type_: ActorType,
    display_name: str = "",
    summary: str = "",
    manually_approves: bool = False,
    discoverable: bool | None = None,
) -> Actor:
    """Create a local actor with a new RSA-2048 key; the caller commits.

    People are listed in directories only once they opt in; organisations and groups
    are listed unless `discoverable=False`.

    Raises InvalidActorError or UsernameTakenError (checked case-insensitively).
    """
    validate_new_actor(username, type_.value, display_name, summary)
    if await find_actor(session, username) is not None:
        raise UsernameTakenError(username)
    private_pem = generate_rsa_private_key_pem()
    now = utcnow()
    actor = Actor(
        username=username,
        username_key=username.lower(),
        type=type_.value,
        display_name=display_name,
        summary=summary,
        manually_approves=manually_approves,
        discoverable=type_ != ActorType.PERSON if discoverable is None else discoverable,
        indexable=type_ != ActorType.PERSON if discoverable is None else discoverable,
        is_instance=False,
        private_key_pem=private_pem,
        public_key_pem=public_key_pem(private_pem),
        created_at=now,
        updated_at=now,
        profile_changed_at=now,
    )
    session.add(actor)
    try:
        await session.flush()
    except IntegrityError:
        raise UsernameTakenError(username) from None
    return actor


async def find_actor(session: AsyncSession, username: str) -> Actor | None:
    """A non-instance local actor by name, ignoring case; None for what cannot be a name
    (visitors' URLs bring NUL and worse, which PostgreSQL refuses to compare)."""
    if not is_valid_username(username):
        return None
    return await session.scalar(
        select(Actor).where(Actor.username_key == username.lower(), Actor.is_instance.is_(False))
    )


async def get_actor(session: AsyncSession, username: str) -> Actor:
    actor = await find_actor(session, username)
    if actor is None:
        raise UnknownActorError(username)
    return actor


async def list_actors(session: AsyncSession, *, discoverable_only: bool = False) -> list[Actor]:
    """Local actors by name, the instance actor left out; `discoverable_only` for listings
    that strangers see (the front page), which leave out actors that opted out."""
    query = select(Actor).where(Actor.is_instance.is_(False), Actor.is_alias.is_(False))
    if discoverable_only:
        query = query.where(Actor.discoverable.is_(True))
    return list(await session.scalars(query.order_by(Actor.username_key)))


async def count_actors(session: AsyncSession) -> int:
    n = await session.scalar(
        select(func.count())
        .select_from(Actor)
        .where(Actor.is_instance.is_(False), Actor.is_alias.is_(False))
    )
    return int(n or 0)


INSTANCE_ACTOR_KEY = "instance.actor"


async def get_instance_actor(session: AsyncSession) -> Actor | None:
    return await session.scalar(select(Actor).where(Actor.is_instance.is_(True)))


async def ensure_instance_actor(session: AsyncSession) -> Actor:
    """The one Application actor that signs our fetches; created on first need."""
    actor = await get_instance_actor(session)
    if actor is not None:
        return actor
    private_pem = generate_rsa_private_key_pem()
    now = utcnow()
    actor = Actor(
        username=INSTANCE_ACTOR_KEY,
        username_key=INSTANCE_ACTOR_KEY,
        type=ActorType.APPLICATION,
        display_name="",
        summary="",
        manually_approves=True,
        discoverable=False,
        is_instance=True,
        private_key_pem=private_pem,
        public_key_pem=public_key_pem(private_pem),
        created_at=now,
        updated_at=now,
    )
    session.add(actor)
    await session.flush()
    return actor
