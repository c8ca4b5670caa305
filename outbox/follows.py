"""Follow, Accept, Reject and Undo as we send them, with the Follow rows they change.

Shapes follow Mastodon (federation-contract §4): an Accept is signed by the
followed actor, embeds the Follow exactly as received, and goes to the
follower's personal inbox, never a shared one.

Every function that sends takes the instance's `FederationPolicy`: nothing is queued
for an inbox on a blocked domain, and following an actor there fails at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.aliases import AliasError, refuse_alias
from actors.contacts import settle_received, settle_received_many
from actors.models import Actor, ContactState, Follow, FollowState, RemoteActor
from federation.documents import drop_nulls
from federation.policy import FederationPolicy
from outbox.publish import Outgoing, enqueue, enqueue_many, new_activity_uri

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"


class FollowError(Exception):
    """A follow action that cannot be done (unknown request, not following...)."""


def _context(doc: dict[str, object]) -> dict[str, object]:
    return {"@context": AS_CONTEXT, **doc}


async def find_follow(session: AsyncSession, follower_uri: str, followed_uri: str) -> Follow | None:
    return await session.scalar(
        select(Follow).where(
            Follow.follower_uri == follower_uri, Follow.followed_uri == followed_uri
        )
    )


async def send_follow(
    session: AsyncSession,
    *,
    actor: Actor,
    actor_uri: str,
    target: RemoteActor,
    now: datetime,
    message: str = "",
    policy: FederationPolicy,
    extra: Mapping[str, object] | None = None,
    not_before: datetime | None = None,
) -> Follow:
    """Follow `target` (a new Follow id each time) and record the relation as pending.

    Following again while pending or accepted re-sends the Follow with a fresh id,
    which is how Mastodon repairs a relation the other side lost. FollowError, with
    nothing recorded or queued, when `policy` blocks the target's domain or its inbox's.
    `extra` adds keys to the Follow (a contact request's terms and their `@context`).
    """
    for url in (target.uri, target.inbox_uri):
        if not policy.allows_url(url):
            raise FollowError(f"cannot follow {target.uri}: its domain is blocked")
    try:
        refuse_alias(actor, "follow anyone but its one recipient", target_uri=target.uri)
    except AliasError as exc:
        raise FollowError(str(exc)) from None
    follow_uri = new_activity_uri(actor_uri, "follows")
    activity: dict[str, object] = _context(
        {"id": follow_uri, "type": "Follow", "actor": actor_uri, "object": target.uri}
    )
    if message:
        activity["content"] = message
    activity.update(extra or {})
    row = await find_follow(session, actor_uri, target.uri)
    if row is None:
        row = Follow(
            follower_uri=actor_uri,
            followed_uri=target.uri,
            activity_uri=follow_uri,
            state=FollowState.PENDING,
            message=message,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
    else:
        row.activity_uri = follow_uri
        row.updated_at = now
    await enqueue(
        session,
        actor=actor,
        activity=activity,
        inboxes=[target.inbox_uri],
        now=now,
        policy=policy,
        not_before=not_before,
    )
    return row


async def send_unfollow(
    session: AsyncSession,
    *,
    actor: Actor,
    actor_uri: str,
    target: RemoteActor,
    now: datetime,
    policy: FederationPolicy,
    not_before: datetime | None = None,
) -> None:
    """Undo our Follow of `target` (embedding it, as Mastodon does) and forget the relation;
    the Undo is not queued for a target on a domain `policy` blocks. `not_before` holds
    it back (an anonymous contact alias's, see `outbox.aliases`)."""
    row = await find_follow(session, actor_uri, target.uri)
    if row is None:
        raise FollowError(f"{actor_uri} does not follow {target.uri}")
    undo = _context(
        {
            "id": new_activity_uri(actor_uri, "undos"),
            "type": "Undo",
            "actor": actor_uri,
            "object": {
                "id": row.activity_uri,
                "type": "Follow",
                "actor": actor_uri,
                "object": target.uri,
            },
        }
    )
    await session.delete(row)
    await enqueue(
        session,
        actor=actor,
        activity=undo,
        inboxes=[target.inbox_uri],
        now=now,
        policy=policy,
        not_before=not_before,
    )


def _received_follow(row: Follow) -> dict[str, object]:
    """The Follow as we recorded it, for embedding in Accept/Reject."""
    return {
        "id": row.activity_uri,
        "type": "Follow",
        "actor": row.follower_uri,
        "object": row.followed_uri,
    }


def _reply_doc(
    kind: str,
    *,
    followed_uri: str,
    follower_uri: str,
    follow: dict[str, object],
    extra: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """An Accept or Reject of `follow` by `followed_uri`, to the follower only."""
    return _context(
        {
            "id": new_activity_uri(followed_uri, kind.lower() + "s"),
            "type": kind,
            "actor": followed_uri,
            "to": [follower_uri],
            "object": follow,
            **(extra or {}),
        }
    )


async def _reply(
    session: AsyncSession,
    *,
    kind: str,
    actor: Actor,
    row: Follow,
    follower: RemoteActor,
    now: datetime,
    follow_body: dict[str, object] | None,
    policy: FederationPolicy,
    extra: Mapping[str, object] | None = None,
) -> None:
    reply = _reply_doc(
        kind,
        followed_uri=row.followed_uri,
        follower_uri=row.follower_uri,
        follow=follow_body or _received_follow(row),
        extra=extra,
    )
    await enqueue(
        session,
        actor=actor,
        activity=reply,
        inboxes=[follower.inbox_uri],
        now=now,
        policy=policy,
    )


async def accept_follow(
    session: AsyncSession,
    *,
    actor: Actor,
    row: Follow,
    follower: RemoteActor,
    now: datetime,
    follow_body: dict[str, object] | None = None,
    policy: FederationPolicy,
) -> None:
    """Accept a follow (again, if already accepted) and send the Accept (not queued for a
    follower on a domain `policy` blocks); a pending contact request it carries is
    accepted with it."""
    row.state = FollowState.ACCEPTED
    row.updated_at = now
    await settle_received(
        session,
        sender_uri=row.follower_uri,
        recipient_uri=row.followed_uri,
        state=ContactState.ACCEPTED,
        now=now,
    )
    await _reply(
        session,
        kind="Accept",
        actor=actor,
        row=row,
        follower=follower,
        now=now,
        follow_body=follow_body,
        policy=policy,
    )


@dataclass(frozen=True, slots=True)
class Acceptance:
    """One received Follow that `accept_follows` accepts (its relation recorded accepted)."""

    actor: Actor  # ours, the followed
    followed_uri: str  # its canonical id
    follower_uri: str
    follower_inbox: str  # the follower's personal inbox (never a shared one)
    follow_body: dict[str, object]  # the Follow as Accept embeds it (`embeddable_follow`)


async def accept_follows(
    session: AsyncSession,
    acceptances: Sequence[Acceptance],
    *,
    now: datetime,
    policy: FederationPolicy,
) -> None:
    """`accept_follow` of several Follows of distinct pairs whose rows the caller already
    recorded as accepted: the pending contact requests they carry settled in one query,
    the Accepts and their deliveries stored in one INSERT each."""
    if not acceptances:
        return
    await settle_received_many(
        session,
        {(a.follower_uri, a.followed_uri) for a in acceptances},
        state=ContactState.ACCEPTED,
        now=now,
    )
    replies: list[Outgoing] = [
        (
            a.actor,
            _reply_doc(
                "Accept",
                followed_uri=a.followed_uri,
                follower_uri=a.follower_uri,
                follow=a.follow_body,
            ),
            [a.follower_inbox],
        )
        for a in acceptances
    ]
    await enqueue_many(session, replies, now=now, policy=policy)


async def reject_follow(
    session: AsyncSession,
    *,
    actor: Actor,
    row: Follow,
    follower: RemoteActor,
    now: datetime,
    policy: FederationPolicy,
    extra: Mapping[str, object] | None = None,
) -> None:
    """Decline a request or remove an existing follower: send Reject (not queued for a
    follower on a domain `policy` blocks), drop the relation. `extra` adds keys to the
    Reject (an expired contact request says so). A pending contact request it carries
    is declined with it (`outbox.contacts` marks an expired one itself)."""
    await settle_received(
        session,
        sender_uri=row.follower_uri,
        recipient_uri=row.followed_uri,
        state=ContactState.DECLINED,
        now=now,
    )
    await _reply(
        session,
        kind="Reject",
        actor=actor,
        row=row,
        follower=follower,
        now=now,
        follow_body=None,
        policy=policy,
        extra=extra,
    )
    await session.delete(row)


def embeddable_follow(doc: dict[str, object]) -> dict[str, object]:
    """A received Follow as Accept embeds it: as received, minus envelope keys and any
    `null` (we send none; Mastodon matches the Follow by its id and actor)."""
    return {
        k: drop_nulls(v)
        for k, v in doc.items()
        if v is not None and k not in ("@context", "signature", "proof")
    }


async def remove_follows_between(session: AsyncSession, a: str, b: str) -> None:
    await session.execute(
        delete(Follow).where(
            ((Follow.follower_uri == a) & (Follow.followed_uri == b))
            | ((Follow.follower_uri == b) & (Follow.followed_uri == a))
        )
    )
