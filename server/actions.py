"""Operator and staff actions on follows and profiles, shared by the CLI and the HTTP API.

Orchestration only: resolve names and handles, then call `outbox` and `actors`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.aliases import parse_disclosure
from actors.contacts import ContactView, is_blocked, pending_sent, request_of, sent_since
from actors.contacts import add_block as add_contact_block
from actors.contacts import contact_views as actor_contact_views
from actors.contacts import list_requests as list_contact_requests
from actors.local import get_actor
from actors.models import (
    Actor,
    ContactBox,
    ContactRequest,
    ContactState,
    Follow,
    FollowState,
    RemoteActor,
)
from actors.profile import ProfileChange, apply_profile
from actors.relations import page_relations, pending_requests
from actors.remote import RemoteActorError
from federation.documents import render_actor
from federation.errors import ParseError
from federation.text import load_json
from federation.webfinger import parse_acct
from inbox.models import InboxActivity
from outbox.aliases import alias_delay
from outbox.contacts import (
    accept_contact,
    claim_decision,
    decline_contact,
    send_anonymous_request,
    send_contact_request,
)
from outbox.follows import (
    FollowError,
    accept_follow,
    embeddable_follow,
    find_follow,
    reject_follow,
    send_follow,
    send_unfollow,
)
from outbox.profiles import send_actor_update
from outbox.publish import inbox_host
from server.services import Services


class ActionError(Exception):
    """An action that cannot be done; the message says why."""


@dataclass(frozen=True, slots=True)
class FollowRequestView:
    id: int
    follower_uri: str
    handle: str
    message: str
    created_at: datetime


async def resolve_remote(svc: Services, handle: str) -> RemoteActor:
    """`user@host[:port]` (or an actor URL) → a stored remote actor, fetched if needed.

    Our own port-less host name, on an instance whose domain has a port, means us.
    """
    try:
        if handle.startswith(("https://", "http://")):
            return await svc.directory.get_actor(handle)
        acct = parse_acct(handle)
        host = _acct_host(svc, acct.host)
        return await svc.directory.resolve_handle(acct.user, host, scheme=svc.webfinger_scheme)
    except ParseError:
        raise ActionError(
            f"{handle!r} is not a handle like user@example.org or user@localhost:8080"
        ) from None
    except RemoteActorError as exc:
        raise ActionError(str(exc)) from None


def _acct_host(svc: Services, host: str) -> str:
    """Our own port-less host name, on an instance whose domain has a port, means us."""
    return svc.config.instance.host if host == svc.config.instance.hostname else host


def handle_of(svc: Services, remote: RemoteActor | None, uri: str) -> str:
    """`user@host` of an actor: a remote one's from its stored row, one of ours from its
    URL (one local actor following another has no remote row until the Follow has been
    processed); the URL itself when neither says."""
    if remote is not None:
        return f"{remote.username}@{remote.domain}"
    name = svc.uris.username_of(uri)
    return f"{name}@{svc.config.instance.host}" if name else uri


async def _local(session: AsyncSession, svc: Services, name: str) -> tuple[Actor, str]:
    actor = await get_actor(session, name)
    return actor, svc.uris.actor(actor.username)


async def follow(svc: Services, actor_name: str, handle: str, message: str = "") -> Follow:
    target = await resolve_remote(svc, handle)
    async with svc.sessionmaker() as session:
        actor, uri = await _local(session, svc, actor_name)
        if target.uri == uri:
            raise ActionError("an actor cannot follow itself")
        try:
            row = await send_follow(
                session,
                actor=actor,
                actor_uri=uri,
                target=target,
                now=svc.clock(),
                message=message,
                policy=svc.policy,
            )
        except FollowError as exc:
            raise ActionError(str(exc)) from None
        await session.commit()
        return row


async def unfollow(svc: Services, actor_name: str, handle: str) -> None:
    target = await resolve_remote(svc, handle)
    async with svc.sessionmaker() as session:
        actor, uri = await _local(session, svc, actor_name)
        try:
            await send_unfollow(
                session,
                actor=actor,
                actor_uri=uri,
                target=target,
                now=svc.clock(),
                policy=svc.policy,
            )
        except FollowError as exc:
            raise ActionError(str(exc)) from None
        await session.commit()


async def list_requests(svc: Services, actor_name: str) -> list[FollowRequestView]:
    async with svc.sessionmaker() as session:
        _, uri = await _local(session, svc, actor_name)
        rows = await pending_requests(session, uri)
        remotes = {
            r.uri: r
            for r in await session.scalars(
                select(RemoteActor).where(RemoteActor.uri.in_([f.follower_uri for f in rows]))
            )
        }
    return [
        FollowRequestView(
            f.id,
            f.follower_uri,
            handle_of(svc, remotes.get(f.follower_uri), f.follower_uri),
            f.message,
            f.created_at,
        )
        for f in rows
    ]


async def _find_request(
    session: AsyncSession, svc: Services, followed_uri: str, request: str
) -> Follow:
    """A follow of `followed_uri` by number or by the follower's handle or URI."""
    query = select(Follow).where(Follow.followed_uri == followed_uri)
    if request.isdigit():
        row = await session.scalar(query.where(Follow.id == int(request)))
    elif request.startswith(("https://", "http://")):
        row = await session.scalar(query.where(Follow.follower_uri == request))
    else:
        try:
            acct = parse_acct(request)
        except ParseError:
            raise ActionError(f"{request!r} is neither a request number nor a handle") from None
        row = await session.scalar(
            query.join(RemoteActor, RemoteActor.uri == Follow.follower_uri).where(
                RemoteActor.username.ilike(acct.user),
                RemoteActor.domain == _acct_host(svc, acct.host),
            )
        )
    if row is None:
        raise ActionError(f"no follow request {request!r} for this actor")
    return row


async def _follower(svc: Services, uri: str) -> RemoteActor:
    try:
        return await svc.directory.get_actor(uri)
    except RemoteActorError as exc:
        raise ActionError(str(exc)) from None


async def decide_request(svc: Services, actor_name: str, request: str, *, approve: bool) -> str:
    """Approve or decline a pending follow request (however old); returns the follower handle."""
    async with svc.sessionmaker() as session:
        actor, uri = await _local(session, svc, actor_name)
        row = await _find_request(session, svc, uri, request)
        if row.state != FollowState.PENDING:
            raise ActionError(f"request {request!r} was already approved")
        follower_uri = row.follower_uri
    follower = await _follower(svc, follower_uri)
    async with svc.sessionmaker() as session:
        actor, uri = await _local(session, svc, actor_name)
        row = await _find_request(session, svc, uri, request)
        if approve:
            received = await session.scalar(
                select(InboxActivity.body).where(InboxActivity.uri == row.activity_uri)
            )
            body = load_json(received) if received else None
            if isinstance(body, dict):
                body = embeddable_follow(body)
            await accept_follow(
                session,
                actor=actor,
                row=row,
                follower=follower,
                now=svc.clock(),
                follow_body=body if isinstance(body, dict) else None,
                policy=svc.policy,
            )
        else:
            await reject_follow(
                session, actor=actor, row=row, follower=follower, now=svc.clock(), policy=svc.policy
            )
        await session.commit()
    return handle_of(svc, follower, follower_uri)


async def remove_follower(svc: Services, actor_name: str, handle: str) -> None:
    """End an accepted follow from our side: Reject(Follow), as Mastodon's remove-follower."""
    async with svc.sessionmaker() as session:
        _, uri = await _local(session, svc, actor_name)
        row = await _find_request(session, svc, uri, handle)
        follower_uri = row.follower_uri
    follower = await _follower(svc, follower_uri)
    async with svc.sessionmaker() as session:
        actor, uri = await _local(session, svc, actor_name)
        current = await find_follow(session, follower_uri, uri)
        if current is None:
            raise ActionError(f"{handle} does not follow {actor_name}")
        await reject_follow(
            session, actor=actor, row=current, follower=follower, now=svc.clock(), policy=svc.policy
        )
        await session.commit()


async def relations(svc: Services, actor_name: str, *, followers: bool) -> list[str]:
    async with svc.sessionmaker() as session:
        _, uri = await _local(session, svc, actor_name)
        uris = await page_relations(session, uri, followers=followers, offset=0, limit=100_000)
        remotes = {
            r.uri: r
            for r in await session.scalars(select(RemoteActor).where(RemoteActor.uri.in_(uris)))
        }
        pending = []
        if not followers:
            pending = list(
                await session.scalars(
                    select(Follow.followed_uri).where(
                        Follow.follower_uri == uri, Follow.state == FollowState.PENDING
                    )
                )
            )
    out = [handle_of(svc, remotes.get(u), u) for u in uris]
    return out + [f"{u} (pending)" for u in pending]


async def update_actor(
    svc: Services,
    actor_name: str,
    *,
    display_name: str | None = None,
    summary: str | None = None,
    locked: bool | None = None,
    hide_collections: bool | None = None,
    discoverable: bool | None = None,
) -> Actor:
    """Change an actor's profile or settings (`update_profile`, which federates them)."""
    change = ProfileChange(
        display_name=display_name, summary=summary, locked=locked, discoverable=discoverable
    )
    return await update_profile(svc, actor_name, change, hide_collections=hide_collections)


async def update_profile(
    svc: Services,
    actor_name: str,
    change: ProfileChange,
    *,
    hide_collections: bool | None = None,
    wake: Callable[[], None] | None = None,
) -> Actor:
    """Change an actor's profile (`actors.profile.update_profile`); when its document
    changed, an Update of it goes to its followers in the same transaction, and the
    cached documents are refreshed. Raises `actors.profile.InvalidProfileError`."""
    ctx = svc.publish_context(wake)
    async with svc.sessionmaker() as session:
        actor = await get_actor(session, actor_name)
        changed = await apply_profile(session, actor, change, now=svc.clock())
        if hide_collections is not None and hide_collections != actor.hide_collections:
            actor.hide_collections = hide_collections
            actor.updated_at = svc.clock()
        if changed:
            document = render_actor(svc.documents.view_of(actor))
            await send_actor_update(session, ctx, actor, document)
        await session.commit()
    svc.documents.invalidate(actor.username)
    if changed:
        ctx.wake()
    return actor


async def set_profile_image(
    svc: Services,
    actor_name: str,
    *,
    header: bool,
    url: str | None,
    wake: Callable[[], None] | None = None,
) -> Actor:
    """Set or remove (None) an actor's avatar (`icon`) or, with `header`, its header image
    (`image`); when that changes its document, the Update goes to its followers as in
    `update_profile`."""
    ctx = svc.publish_context(wake)
    async with svc.sessionmaker() as session:
        actor = await get_actor(session, actor_name)
        changed = (actor.header_url if header else actor.icon_url) != url
        if changed:
            if header:
                actor.header_url = url
            else:
                actor.icon_url = url
            actor.updated_at = svc.clock()
            await session.flush()
            document = render_actor(svc.documents.view_of(actor))
            await send_actor_update(session, ctx, actor, document)
        await session.commit()
    svc.documents.invalidate(actor.username)
    if changed:
        ctx.wake()
    return actor


async def set_hide_collections(svc: Services, actor_name: str, *, hidden: bool) -> None:
    await update_actor(svc, actor_name, hide_collections=hidden)


# --- contact requests (issue 14) -------------------------------------------------------------


class ContactRefusal(enum.StrEnum):
    """Why a contact request was not sent (the API answers 429 for `rate_limited`, else
    422; the CLI prints the message)."""

    EMPTY = "empty"
    TOO_LONG = "too_long"
    SELF = "self"
    DUPLICATE = "duplicate"
    RATE_LIMITED = "rate_limited"
    BLOCKED = "blocked"
    UNREACHABLE = "unreachable"
    ALIAS = "alias"  # an anonymous contact alias cannot itself send requests
    DISCLOSURE = "disclosure"  # `disclose` names something other than region, interests


class ContactRefusedError(ActionError):
    """A contact request refused before anything was recorded or queued."""

    def __init__(self, reason: ContactRefusal, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ContactConflictError(ActionError):
    """The request is no longer pending (decided, expired or withdrawn): the API answers
    409; the message names its state."""


async def contact_views(svc: Services, rows: list[ContactRequest]) -> list[ContactView]:
    async with svc.sessionmaker() as session:
        return await actor_contact_views(session, svc.uris, svc.config.instance.host, rows)


async def send_contact(
    svc: Services,
    actor_name: str,
    handle: str,
    message: str,
    *,
    user_id: int | None = None,
    wake: Callable[[], None] | None = None,
    anonymous: bool = False,
    disclose: Iterable[str] = (),
) -> ContactView:
    """Send a contact request from our `actor_name` to `handle` (local or remote): the
    Follow with the message and the direct message, in one transaction.

    `ContactRefusedError` (nothing recorded) for an empty or too long message, a request
    to itself, a second pending request to the same recipient, more than
    `contacts.per_person_per_day` in 24 hours (by `user_id`, else by the actor), or a
    local recipient that blocked the sender; `ActionError` for an unknown handle.

    `anonymous`: a one-off alias sends it (`outbox.contacts.send_anonymous_request`),
    showing only the profile parts named in `disclose` (`region`, `interests`); the
    request is still the real actor's, in its limits and its list. A second pending
    anonymous request to the same recipient is refused like a named one."""
    limits = svc.config.contacts
    try:
        disclosed = parse_disclosure(disclose)
    except ValueError as exc:
        raise ContactRefusedError(ContactRefusal.DISCLOSURE, str(exc)) from None
    if disclosed and not anonymous:
        raise ContactRefusedError(
            ContactRefusal.DISCLOSURE, "disclose only applies to anonymous requests"
        )
    message = message.strip()
    if not message:
        raise ContactRefusedError(ContactRefusal.EMPTY, "a contact request needs a message")
    if len(message) > limits.message_limit:
        raise ContactRefusedError(
            ContactRefusal.TOO_LONG,
            f"the message has {len(message)} characters; at most {limits.message_limit} fit",
        )
    target = await resolve_remote(svc, handle)
    now = svc.clock()
    async with svc.sessionmaker() as session:
        actor, uri = await _local(session, svc, actor_name)
        if actor.is_alias:
            raise ContactRefusedError(
                ContactRefusal.ALIAS, f"{actor_name} is an anonymous contact alias"
            )
        if target.uri == uri:
            raise ContactRefusedError(ContactRefusal.SELF, "an actor cannot contact itself")
        if await pending_sent(session, actor_uri=uri, recipient_uri=target.uri):
            raise ContactRefusedError(
                ContactRefusal.DUPLICATE,
                f"{actor_name} has a pending contact request to {handle} already",
            )
        sent = await sent_since(session, user_id=user_id, actor_uri=uri, now=now)
        if sent >= limits.per_person_per_day:
            raise ContactRefusedError(
                ContactRefusal.RATE_LIMITED,
                f"at most {limits.per_person_per_day} contact requests per day; try again later",
            )
        if svc.uris.is_local(target.uri) and await is_blocked(
            session, blocker_uri=target.uri, blocked_uri=uri
        ):
            raise ContactRefusedError(
                ContactRefusal.BLOCKED,
                f"{handle} does not accept contact requests from {actor_name}",
            )
        try:
            if anonymous:
                row = await send_anonymous_request(
                    session,
                    real=actor,
                    target=target,
                    message=message,
                    disclose=disclosed,
                    now=now,
                    user_id=user_id,
                    uris=svc.uris,
                    policy=svc.policy,
                    delay=alias_delay(limits.alias_delay_seconds),
                )
            else:
                row = await send_contact_request(
                    session,
                    actor=actor,
                    actor_uri=uri,
                    target=target,
                    message=message,
                    now=now,
                    user_id=user_id,
                    policy=svc.policy,
                )
        except FollowError as exc:
            raise ContactRefusedError(ContactRefusal.UNREACHABLE, str(exc)) from None
        await session.commit()
    if wake is not None:
        wake()
    [view] = await contact_views(svc, [row])
    return view


async def list_contacts(
    svc: Services,
    actor_name: str,
    *,
    box: ContactBox | None = None,
    state: ContactState | None = None,
) -> list[ContactView]:
    """The requests our actor sent or received (or one box), newest first."""
    async with svc.sessionmaker() as session:
        _, uri = await _local(session, svc, actor_name)
        rows = await list_contact_requests(session, uri, box=box, state=state)
        return await actor_contact_views(session, svc.uris, svc.config.instance.host, rows)


async def _received_request(
    session: AsyncSession, svc: Services, actor_name: str, request: str
) -> tuple[Actor, ContactRequest]:
    actor, uri = await _local(session, svc, actor_name)
    row = await request_of(session, uri, int(request)) if request.isdigit() else None
    if row is None or row.box != ContactBox.RECEIVED:
        raise ActionError(f"no contact request {request!r} received by {actor_name}")
    return actor, row


async def _follow_body(session: AsyncSession, activity_uri: str) -> dict[str, object] | None:
    """The Follow as received, for the Accept to embed."""
    received = await session.scalar(
        select(InboxActivity.body).where(InboxActivity.uri == activity_uri)
    )
    body = load_json(received) if received else None
    return embeddable_follow(body) if isinstance(body, dict) else None


async def decide_contact(
    svc: Services,
    actor_name: str,
    request: str,
    *,
    accept: bool,
    follow_back: bool = True,
    block: bool = False,
    wake: Callable[[], None] | None = None,
) -> ContactView:
    """Accept (with a follow back unless `follow_back` is false) or decline a pending
    request our actor received; `block` declines it if pending and refuses further
    requests and follows from its sender. `ActionError` for an unknown request;
    `ContactConflictError` for one decided, expired or withdrawn already, also when
    another moderator decided it at the same moment (blocking works on any). The
    decision is a compare-and-set (`outbox.contacts.claim_decision`): one Accept or
    Reject is ever sent."""
    async with svc.sessionmaker() as session:
        _, row = await _received_request(session, svc, actor_name, request)
        if row.state != ContactState.PENDING and not block:
            raise ContactConflictError(f"contact request {request} is {row.state} already")
        sender_uri, request_id = row.sender_uri, row.id
    sender = await _follower(svc, sender_uri)
    now = svc.clock()
    decided = ContactState.ACCEPTED if accept else ContactState.DECLINED
    async with svc.sessionmaker() as session:
        claimed = await claim_decision(session, request_id, decided, now)
        actor, row = await _received_request(session, svc, actor_name, request)
        if not claimed and not block:
            raise ContactConflictError(f"contact request {request} is {row.state} already")
        # Accepting a Follow approved already as a follow request only repeats the Accept.
        follow = await find_follow(session, row.sender_uri, row.recipient_uri)
        if block:
            await add_contact_block(
                session,
                blocker_uri=row.recipient_uri,
                blocked_uri=row.sender_uri,
                now=now,
                anonymous_domain=inbox_host(row.sender_uri) if row.is_anonymous else None,
            )
        if claimed and accept:
            if follow is None:  # rolled back with the claim
                raise ContactConflictError(f"the sender of contact request {request} withdrew it")
            await accept_contact(
                session,
                actor=actor,
                request=row,
                follow=follow,
                sender=sender,
                now=now,
                follow_body=await _follow_body(session, follow.activity_uri),
                follow_back=follow_back,
                policy=svc.policy,
            )
        elif claimed:
            await decline_contact(
                session,
                actor=actor,
                request=row,
                follow=follow,
                sender=sender,
                now=now,
                policy=svc.policy,
            )
        await session.commit()
        [view] = await actor_contact_views(session, svc.uris, svc.config.instance.host, [row])
    if wake is not None:
        wake()
    return view
