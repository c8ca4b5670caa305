"""What an anonymous contact request's alias sends after the recipient decided (issue 14).

Accepted: the alias sends the recipient a direct message that reveals the real actor
(handle and URL), and the real actor follows the recipient with a plain Follow.
Declined or expired: the alias sends a `Delete` of itself to the recipient and is
retired (`actors.aliases.retire_alias`); nothing is revealed.

Everything the alias sends is its own activity, signed with its own key and queued in a
transaction that holds no activity of the real actor, so no delivery of the alias is
batched with one of the real actor's. The one exception is the reveal, whose point is
to link the two.

Must not import `inbox`.
"""

from __future__ import annotations

import contextlib
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from actors.aliases import is_live, real_actor_of, retire_alias
from actors.models import Actor, RemoteActor
from actors.uris import LocalUris
from federation.contacts import Addressee, render_direct_note
from federation.documents import AS_CONTEXT, format_datetime
from federation.policy import FederationPolicy
from outbox.follows import FollowError, find_follow, send_follow
from outbox.publish import enqueue, new_activity_uri


def alias_delay(most: float) -> timedelta:
    """A random hold-back of up to `most` seconds (`contacts.alias_delay_seconds`) for what
    an alias sends, so that its deliveries' time does not follow the real actor's."""
    return timedelta(seconds=secrets.SystemRandom().uniform(0, most)) if most > 0 else timedelta(0)


def addressee(target: RemoteActor) -> Addressee:
    """The remote actor a direct message goes to, as the wire renderer takes it."""
    return Addressee(target.uri, target.username, target.domain, target.url)


def reveal_text(handle: str, url: str) -> str:
    return (
        f"Danke! Diese Kontaktanfrage kam von {handle} ({url}). / "
        f"Thank you! This contact request came from {handle} ({url})."
    )


async def reveal_alias(
    session: AsyncSession,
    *,
    alias: Actor,
    target: RemoteActor,
    uris: LocalUris,
    now: datetime,
    policy: FederationPolicy,
    not_before: datetime | None = None,
) -> None:
    """The recipient accepted: the reveal message, then the real actor's Follow (unless it
    follows the recipient already), neither before `not_before`. A retired alias (nobody
    behind it) reveals nothing."""
    real = await real_actor_of(session, alias)
    if real is None:
        return
    alias_uri, real_uri = uris.actor(alias.username), uris.actor(real.username)
    note_uri = new_activity_uri(alias_uri, "contacts")
    host = urlsplit(uris.base_url).netloc
    text = reveal_text(f"@{real.username}@{host}", real_uri)
    activity = render_direct_note(
        note_uri=note_uri,
        actor_uri=alias_uri,
        to=addressee(target),
        text=text,
        now=now,
    )
    await enqueue(
        session,
        actor=alias,
        activity=activity,
        inboxes=[target.inbox_uri],
        now=now,
        policy=policy,
        not_before=not_before,
    )
    if await find_follow(session, real_uri, target.uri) is None:
        # A domain blocked meanwhile: the reveal stands, no Follow goes out.
        with contextlib.suppress(FollowError):
            await send_follow(
                session,
                actor=real,
                actor_uri=real_uri,
                target=target,
                now=now,
                policy=policy,
                not_before=not_before,
            )


def render_alias_delete(*, alias_uri: str, target_uri: str, now: datetime) -> dict[str, object]:
    return {
        "@context": AS_CONTEXT,
        "id": alias_uri + "#delete",
        "type": "Delete",
        "actor": alias_uri,
        "object": alias_uri,
        "to": [target_uri],
        "published": format_datetime(now),
    }


async def delete_alias(
    session: AsyncSession,
    *,
    alias: Actor,
    target: RemoteActor | None,
    uris: LocalUris,
    now: datetime,
    policy: FederationPolicy,
    not_before: datetime | None = None,
) -> None:
    """The request was declined or expired: send `Delete` of the alias to the recipient
    (when known, not before `not_before`) and retire the alias."""
    if target is not None and is_live(alias):
        alias_uri = uris.actor(alias.username)
        await enqueue(
            session,
            actor=alias,
            activity=render_alias_delete(alias_uri=alias_uri, target_uri=target.uri, now=now),
            inboxes=[target.inbox_uri],
            now=now,
            policy=policy,
            not_before=not_before,
        )
    retire_alias(alias, now)
