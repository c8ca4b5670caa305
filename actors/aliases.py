"""One-off alias actors for anonymous contact requests (issue 14).

An alias is a local Person with its own fresh key pair and a random name
(`anon-` + 10 base32 characters), which sends one contact request to one recipient and
may talk to nobody else. Invariants:

- It is never listed: not discoverable, not indexable, no directory change stamp (so
  no directory Tombstone either), left out of `list_actors` and `count_actors`.
- Its profile holds only what the requester chose to disclose (region, interests),
  copied from the real actor; never the real actor's name, summary, icon or links.
- Who it stands for (`alias_of_id`) lives only on this, the requester's, instance. When
  the alias is retired (`retire_alias`) it stops standing for anyone: it reveals
  nothing and takes no messages; the mapping is kept only for the report window (a
  report of the alias that arrives after the Reject must still reach the real actor's
  moderators) and then cleared (`forget_retired_aliases`).

Must not know about inbox/outbox pipelines or HTTP routes.
"""

from __future__ import annotations

import base64
import enum
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from actors.models import Actor, ActorType
from federation.keys import generate_rsa_private_key_pem, public_key_pem

ALIAS_PREFIX = "anon-"
ALIAS_DISPLAY_NAME = "Anonyme Kontaktanfrage / anonymous contact request"
ALIAS_SUMMARY = (
    "Eine anonyme Kontaktanfrage. Wer dahinter steht, erfahren Sie, wenn Sie annehmen. / "
    "An anonymous contact request: who is behind it is revealed if you accept."
)
# 10 base32 characters are 50 random bits: collisions on one instance are negligible and
# the name says nothing about its owner or when it was made.
# How long a retired alias still knows whom it stood for: reports that follow a decline
# (Mastodon users report after the fact) must reach the real actor's moderators.
REPORT_WINDOW = timedelta(days=14)
_NAME_BYTES = 7
_NAME_CHARS = 10


class AliasError(Exception):
    """What an alias may not do (post, follow others, boost, like); the message says why."""


class Disclosure(enum.StrEnum):
    """What of the real actor's profile an alias may show."""

    REGION = "region"
    INTERESTS = "interests"


def parse_disclosure(names: Iterable[str]) -> frozenset[Disclosure]:
    """`region`, `interests` (either, both, none); ValueError names an unknown one."""
    chosen = set()
    for name in names:
        name = name.strip().lower()
        if not name:
            continue
        try:
            chosen.add(Disclosure(name))
        except ValueError:
            raise ValueError(f"cannot disclose {name!r}: only region and interests") from None
    return frozenset(chosen)


def new_alias_name() -> str:
    raw = base64.b32encode(secrets.token_bytes(_NAME_BYTES)).decode("ascii")
    return ALIAS_PREFIX + raw[:_NAME_CHARS].lower()


async def create_alias(
    session: AsyncSession,
    *,
    real: Actor,
    recipient_uri: str,
    disclose: frozenset[Disclosure],
    now: datetime,
) -> Actor:
    """A new alias of `real` that may talk to `recipient_uri` only; the caller commits."""
    private_pem = generate_rsa_private_key_pem()
    alias = Actor(
        username=(name := new_alias_name()),
        username_key=name,
        type=ActorType.PERSON.value,
        display_name=ALIAS_DISPLAY_NAME,
        summary=ALIAS_SUMMARY,
        manually_approves=True,
        discoverable=False,
        indexable=False,
        is_instance=False,
        hide_collections=True,
        private_key_pem=private_pem,
        public_key_pem=public_key_pem(private_pem),
        region_code=real.region_code if Disclosure.REGION in disclose else None,
        interests=list(real.interests) if Disclosure.INTERESTS in disclose else [],
        created_at=now,
        updated_at=now,
        profile_changed_at=None,
        is_alias=True,
        alias_of_id=real.id,
        alias_for_uri=recipient_uri,
    )
    session.add(alias)
    await session.flush()
    return alias


def is_live(alias: Actor) -> bool:
    """An alias that still stands for someone (not retired)."""
    return alias.is_alias and alias.alias_of_id is not None and alias.alias_retired_at is None


async def real_actor_of(session: AsyncSession, alias: Actor) -> Actor | None:
    """The actor behind a live alias (None once retired, or for a non-alias)."""
    if not is_live(alias) or alias.alias_of_id is None:
        return None
    return await session.get(Actor, alias.alias_of_id)


async def reported_actor_of(session: AsyncSession, alias: Actor) -> Actor | None:
    """Who a reported alias stands or stood for: live, or retired within the report
    window (its mapping is still there); None otherwise."""
    if not alias.is_alias or alias.alias_of_id is None:
        return None
    return await session.get(Actor, alias.alias_of_id)


async def forget_retired_aliases(session: AsyncSession, *, retired_before: datetime) -> int:
    """Clear the mapping of aliases retired before `retired_before` (the report window
    has passed); returns how many."""
    result = await session.execute(
        update(Actor)
        .where(
            Actor.is_alias.is_(True),
            Actor.alias_of_id.is_not(None),
            Actor.alias_retired_at < retired_before,
        )
        .values(alias_of_id=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def alias_by_name(session: AsyncSession, username: str) -> Actor | None:
    return await session.scalar(
        select(Actor).where(Actor.username_key == username.lower(), Actor.is_alias.is_(True))
    )


def retire_alias(alias: Actor, now: datetime) -> None:
    """The alias stops standing for anyone: nothing is revealed, its profile is emptied,
    and who it stood for is forgotten once the report window has passed. The row (and
    its key) stays so that the `Delete` of the alias can still be signed and retried."""
    alias.alias_retired_at = alias.alias_retired_at or now
    alias.summary = ""
    alias.region_code = None
    alias.interests = []
    alias.updated_at = now


def refuse_alias(actor: Actor, doing: str, *, target_uri: str | None = None) -> None:
    """Raise AliasError if `actor` is an alias and `doing` is not towards its one
    recipient (`target_uri` None: nothing is allowed)."""
    if actor.is_alias and (target_uri is None or target_uri != actor.alias_for_uri):
        raise AliasError(f"{actor.username} is an anonymous contact alias and cannot {doing}")
