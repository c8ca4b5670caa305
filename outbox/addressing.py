"""Who a post goes to: `to`/`cc` by visibility, and the inboxes that receive it.

Must not import `inbox` or `server`.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.models import Actor, RemoteActor
from actors.relays import relay_inboxes
from actors.uris import LocalUris
from federation.rendering import PUBLIC
from outbox.models import Activity, Delivery, Visibility
from outbox.publish import follower_inboxes


def addressing(
    visibility: Visibility, *, followers_uri: str, mentioned: Iterable[str]
) -> tuple[list[str], list[str]]:
    """(to, cc) exactly as federation-contract §5's table (Mastodon's tag_manager.rb)."""
    mentioned = list(dict.fromkeys(mentioned))
    if visibility == Visibility.PUBLIC:
        return [PUBLIC], [followers_uri, *mentioned]
    if visibility == Visibility.UNLISTED:
        return [followers_uri], [PUBLIC, *mentioned]
    if visibility == Visibility.PRIVATE:
        return [followers_uri], mentioned
    return mentioned, []


def _inbox_of(actor: RemoteActor) -> str:
    return actor.shared_inbox_uri or actor.inbox_uri


async def _remote_actors(session: AsyncSession, uris: Iterable[str]) -> list[RemoteActor]:
    wanted = list(set(uris))
    if not wanted:
        return []
    return list(await session.scalars(select(RemoteActor).where(RemoteActor.uri.in_(wanted))))


async def _recipient_inboxes(
    session: AsyncSession,
    *,
    actor_uri: str,
    uris: LocalUris,
    visibility: str,
    addressed: Iterable[RemoteActor],
) -> set[str]:
    """Followers (collapsed onto shared inboxes) unless direct, plus addressed actors,
    plus the subscribed relays for a public post (FEP-ae0c; Mastodon relays public posts).

    Our own inboxes are skipped: local readers get the post through timelines here.
    """
    inboxes: set[str] = set()
    if visibility != Visibility.DIRECT:
        inboxes |= await follower_inboxes(session, actor_uri)
    if visibility == Visibility.PUBLIC:
        inboxes |= await relay_inboxes(session)
    inboxes |= {_inbox_of(a) for a in addressed}
    return {i for i in inboxes if not uris.is_local(i)}


async def _earlier_inboxes(session: AsyncSession, actor: Actor, object_uri: str) -> set[str]:
    """Where this actor's earlier activities about `object_uri` went (edits and deletes
    must reach everyone who got the post, including followers who left since)."""
    rows = await session.scalars(
        select(Delivery.inbox_uri)
        .join(Activity, Activity.id == Delivery.activity_id)
        .where(Activity.object_uri == object_uri, Activity.actor_id == actor.id)
    )
    return set(rows)


async def _local_actor_ids(
    session: AsyncSession, local: LocalUris, actor_uris: Iterable[str]
) -> list[int]:
    names = [n.lower() for u in actor_uris if (n := local.username_of(u)) is not None]
    if not names:
        return []
    return list(
        await session.scalars(
            select(Actor.id).where(Actor.username_key.in_(names), Actor.is_instance.is_(False))
        )
    )
