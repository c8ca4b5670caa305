"""Publishing commands: Create, Update and Delete of our Notes and Articles, Announce
and its Undo.

The CLI and the Mastodon client API both call these with one `PublishContext`. Shapes
follow federation-contract §5: a Note carries the full text (Mastodon shows it); an
Article carries `name`, a short `summary` and a canonical `url`, which is all Mastodon
shows of it. Text is rendered in `outbox.content`, recipients picked in
`outbox.addressing`, activities built in `outbox.documents` / `federation.rendering`.

Network work (WebFinger for mentions, `PublishContext.resolve_mentions`) happens before
the caller opens its transaction; everything here only writes rows (the post, its
activity and delivery jobs) in the caller's transaction; the caller commits, then calls
`ctx.wake()`.

Must not import `inbox` or `server`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete as sql_delete
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.aliases import AliasError, refuse_alias
from actors.models import Actor, RemoteActor
from actors.snowflake import snowflake
from actors.uris import LocalUris
from federation import rendering
from federation.content import plain_text
from federation.media import MAX_ATTACHMENTS, Attachment
from federation.rendering import PUBLIC
from outbox.addressing import (
    _earlier_inboxes,
    _local_actor_ids,
    _recipient_inboxes,
    _remote_actors,
    addressing,
)
from outbox.boosts import store_boost
from outbox.content import Rendered, hashtags_in, render_content
from outbox.context import PublishContext
from outbox.documents import (
    create_activity_uri,
    post_view,
    render_announce,
    render_create,
    tags_of,
)
from outbox.groups import distribute_local_post
from outbox.models import Activity, Delivery, Mention, Poll, Status, TimelineEntry, Visibility
from outbox.polls import PollDraft, PollError, check_draft, new_local_poll
from outbox.publish import new_activity_uri
from outbox.statuses import StatusCounter, bump_count, status_columns, store_tags
from outbox.timelines import add_to_timelines, local_followers

MAX_TEXT = 100_000
MAX_TITLE = 300
MAX_SUMMARY = 1_000
MAX_TAGS = 30
ARTICLE_SUMMARY_CHARS = 300

_TAG_NAME = re.compile(r"^\w*[^\W\d_]\w*$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,3}$")


class NewsError(Exception):
    """A post that cannot be published, edited, deleted or boosted; the message says why."""


@dataclass(frozen=True)
class Draft:
    """What the author wrote. `title` makes an Article; `summary` is a Note's content warning
    or an Article's short summary (default: the start of its text)."""

    text: str
    title: str | None = None
    summary: str | None = None
    visibility: Visibility = Visibility.PUBLIC
    language: str | None = None
    sensitive: bool = False
    tags: tuple[str, ...] = ()
    in_reply_to: str | None = None
    poll: PollDraft | None = None  # makes the post a Question (new posts only)
    # Images stored here (`server.media`), federated as Documents (new posts only).
    attachments: tuple[Attachment, ...] = ()


def parse_visibility(text: str) -> Visibility:
    """public, unlisted, followers (or private, followers-only) and direct."""
    value = text.strip().lower()
    aliases = {"followers": Visibility.PRIVATE, "followers-only": Visibility.PRIVATE}
    if value in aliases:
        return aliases[value]
    try:
        return Visibility(value)
    except ValueError:
        raise NewsError(
            f"unknown visibility {text!r}: use public, unlisted, followers or direct"
        ) from None


# --- validation -----------------------------------------------------------------------------


_BOM = "\ufeff"


def post_text(text: str, *, max_chars: int) -> str:
    """A new or edited post's source text, checked before anything is stored: a leading
    byte order mark (Windows editors write one) is dropped, and a text of more than
    `max_chars` characters (code points of the source, as typed) raises NewsError with
    Mastodon's wording. Every local way in (CLI, API) goes through here."""
    text = text.removeprefix(_BOM)
    if len(text) > max_chars:
        raise NewsError(f"Text character limit of {max_chars} exceeded (the text has {len(text)})")
    return text


def _check(draft: Draft) -> None:
    if not draft.text.strip():
        raise NewsError("the post is empty")
    if len(draft.text) > MAX_TEXT:
        raise NewsError(f"the text is longer than {MAX_TEXT} characters")
    if draft.title is not None and len(draft.title) > MAX_TITLE:
        raise NewsError(f"the title is longer than {MAX_TITLE} characters")
    if draft.summary is not None and len(draft.summary) > MAX_SUMMARY:
        raise NewsError(f"the summary is longer than {MAX_SUMMARY} characters")
    if draft.language is not None and not _LANGUAGE.match(draft.language):
        raise NewsError(f"{draft.language!r} is not a language code like de or pt-BR")
    if len(draft.attachments) > MAX_ATTACHMENTS:
        raise NewsError(f"more than {MAX_ATTACHMENTS} attachments")
    if len(draft.tags) > MAX_TAGS:
        raise NewsError(f"more than {MAX_TAGS} tags")
    for tag in draft.tags:
        if not _TAG_NAME.match(tag.strip().lstrip("#")):
            raise NewsError(f"{tag!r} is not a hashtag (letters, digits and _ only)")


def _short_summary(content: str) -> str:
    """The start of the text, cut at a word, for an Article's `summary`."""
    text = " ".join(plain_text(content).split())
    if len(text) <= ARTICLE_SUMMARY_CHARS:
        return text
    cut = text[:ARTICLE_SUMMARY_CHARS].rsplit(" ", 1)[0]
    return cut.rstrip(",.;:\u2013-") + "…"


def _fill(
    status: Status,
    *,
    draft: Draft,
    rendered: Rendered,
    to: list[str],
    cc: list[str],
) -> None:
    title = (draft.title or "").strip() or None
    # A poll stays a Question through edits; it has no title (Mastodon shows none).
    status.type = (
        "Question" if status.type == "Question" or draft.poll else "Article" if title else "Note"
    )
    status.name = title
    if title:
        status.summary = (draft.summary or "").strip() or _short_summary(rendered.content)
        status.sensitive = draft.sensitive
    else:
        status.summary = (draft.summary or "").strip()
        # Mastodon marks a post with a content warning sensitive.
        status.sensitive = draft.sensitive or bool(status.summary)
    status.content = rendered.content
    status.source = draft.text
    status.language = draft.language
    status.recipients = {"to": to, "cc": cc}
    status.tags = list(rendered.tags)


async def _reply_parent(session: AsyncSession, uri: str | None) -> Status | None:
    if not uri:
        return None
    return await session.scalar(select(Status).where(Status.uri == uri))


# --- publishing -----------------------------------------------------------------------------


def _not_alias(actor: Actor, doing: str) -> None:
    """An anonymous contact alias only ever sends its request (`outbox.aliases`)."""
    try:
        refuse_alias(actor, doing)
    except AliasError as exc:
        raise NewsError(str(exc)) from None


async def publish(
    session: AsyncSession,
    ctx: PublishContext,
    *,
    actor: Actor,
    draft: Draft,
    mentions: dict[str, RemoteActor],
    author_user_id: int | None = None,
) -> Status:
    """Store a new post, show it in local home timelines and enqueue its Create.

    Deliveries go to the followers' (shared) inboxes unless the post is direct, and
    to every mentioned actor; a direct post needs at least one resolved mention.
    Raises NewsError for invalid drafts. The caller commits, then calls `ctx.wake()`.
    """
    _not_alias(actor, "post")
    actor_uri = ctx.actor_uri(actor)
    now = ctx.clock()
    _check(draft)
    if draft.poll is not None:
        if draft.title:
            raise NewsError("a poll has no title")
        try:
            check_draft(draft.poll)
        except PollError as exc:
            raise NewsError(str(exc)) from None
    rendered = render_content(
        draft.text, base_url=ctx.uris.base_url, mentions=mentions, extra_tags=draft.tags
    )
    if draft.visibility == Visibility.DIRECT and not rendered.mentioned:
        raise NewsError("a direct post needs at least one mention that resolves (@user@host)")
    parent = await _reply_parent(session, draft.in_reply_to)
    mentioned_uris = [a.uri for a in rendered.mentioned]
    if parent is not None and parent.actor_uri != actor_uri:
        mentioned_uris.append(parent.actor_uri)
    to, cc = addressing(
        draft.visibility, followers_uri=ctx.uris.followers(actor_uri), mentioned=mentioned_uris
    )
    status_id = snowflake(now)
    status = Status(
        **status_columns(
            id=status_id,
            uri=ctx.uris.status(actor_uri, status_id),
            url=ctx.uris.status_page(actor.username, status_id),
            actor_uri=actor_uri,
            local_actor_id=actor.id,
            author_user_id=author_user_id,
            type="Note",  # _fill decides
            visibility=draft.visibility,
            in_reply_to_uri=draft.in_reply_to,
            published_at=now,
            created_at=now,
            attachments=[a.as_json() for a in draft.attachments],
        )
    )
    _fill(status, draft=draft, rendered=rendered, to=to, cc=cc)
    session.add(status)
    await session.flush()
    await store_tags(session, status.id, status.tags)
    poll = new_local_poll(status.id, draft.poll, now) if draft.poll is not None else None
    if poll is not None:
        session.add(poll)
        await session.flush()
    for uri in dict.fromkeys(mentioned_uris):
        session.add(Mention(status_id=status.id, actor_uri=uri))
    if parent is not None:
        await bump_count(session, StatusCounter.REPLIES, 1, Status.id == parent.id)
    readers = [actor.id, *await _local_actor_ids(session, ctx.uris, mentioned_uris)]
    if draft.visibility != Visibility.DIRECT:
        readers += await local_followers(session, ctx.uris, actor_uri)
    await add_to_timelines(session, status.id, readers)
    addressed = await _remote_actors(session, mentioned_uris)
    inboxes = await _recipient_inboxes(
        session,
        actor_uri=actor_uri,
        uris=ctx.uris,
        visibility=status.visibility,
        addressed=addressed,
    )
    create = render_create(status, poll=poll)
    await ctx.send(session, actor, create, inboxes, now)
    await distribute_local_post(
        session,
        author_uri=actor_uri,
        uris=ctx.uris,
        status=status,
        create=create,
        mentioned=mentioned_uris,
        now=now,
        policy=ctx.policy,
    )
    return status


def _newer(now: datetime, *previous: datetime | None) -> datetime:
    """`now`, or one second past the latest earlier stamp: peers compare `updated` at
    second precision (our timestamps have no fractions) and drop an edit that is not newer."""
    latest = max(p for p in previous if p is not None)
    floor = latest.replace(microsecond=0) + timedelta(seconds=1)
    return now if now >= floor else floor


def _own(status: Status, actor: Actor) -> None:
    if status.local_actor_id != actor.id or status.reblog_of_id is not None:
        raise NewsError(f"post {status.id} is not a post of {actor.username}")
    if status.deleted_at is not None:
        raise NewsError(f"post {status.id} was deleted")


async def edit(
    session: AsyncSession,
    ctx: PublishContext,
    *,
    status: Status,
    actor: Actor,
    draft: Draft,
    mentions: dict[str, RemoteActor],
) -> Status:
    """Re-render the post from `draft` and enqueue an Update with a newer `updated`.

    Visibility and the reply target cannot change (Mastodon does not allow it either):
    `draft.visibility` and `draft.in_reply_to` are ignored. The Update goes to everyone
    the post went to, plus current followers and newly mentioned actors. The caller commits.
    """
    actor_uri = ctx.actor_uri(actor)
    now = ctx.clock()
    _own(status, actor)
    _check(draft)
    visibility = Visibility(status.visibility)
    rendered = render_content(
        draft.text, base_url=ctx.uris.base_url, mentions=mentions, extra_tags=draft.tags
    )
    if visibility == Visibility.DIRECT and not rendered.mentioned:
        raise NewsError("a direct post needs at least one mention that resolves (@user@host)")
    parent = await _reply_parent(session, status.in_reply_to_uri)
    mentioned_uris = [a.uri for a in rendered.mentioned]
    if parent is not None and parent.actor_uri != actor_uri:
        mentioned_uris.append(parent.actor_uri)
    to, cc = addressing(
        visibility, followers_uri=ctx.uris.followers(actor_uri), mentioned=mentioned_uris
    )
    kept = Draft(
        text=draft.text,
        title=draft.title,
        summary=draft.summary,
        visibility=visibility,
        language=draft.language,
        sensitive=draft.sensitive,
        tags=draft.tags,
        in_reply_to=status.in_reply_to_uri,
    )
    _fill(status, draft=kept, rendered=rendered, to=to, cc=cc)
    status.edited_at = _newer(now, status.published_at, status.edited_at)
    await store_tags(session, status.id, status.tags)
    await session.execute(sql_delete(Mention).where(Mention.status_id == status.id))
    for uri in dict.fromkeys(mentioned_uris):
        session.add(Mention(status_id=status.id, actor_uri=uri))
    await add_to_timelines(
        session, status.id, await _local_actor_ids(session, ctx.uris, mentioned_uris)
    )
    inboxes = await _recipient_inboxes(
        session,
        actor_uri=actor_uri,
        uris=ctx.uris,
        visibility=status.visibility,
        addressed=await _remote_actors(session, mentioned_uris),
    )
    inboxes |= await _earlier_inboxes(session, actor, status.uri)
    update = rendering.render_update(
        post_view(status, poll=await session.get(Poll, status.id)),
        activity_uri=new_activity_uri(actor_uri, "updates"),
    )
    await ctx.send(session, actor, update, inboxes, now)
    return status


async def delete(
    session: AsyncSession, ctx: PublishContext, *, status: Status, actor: Actor
) -> None:
    """Mark the post deleted (its pages answer 410) and enqueue Delete{Tombstone} to
    everyone it went to. Local boosts of it go too. The caller commits."""
    actor_uri = ctx.actor_uri(actor)
    now = ctx.clock()
    _own(status, actor)
    gone = post_view(status)
    mentioned = list(
        await session.scalars(select(Mention.actor_uri).where(Mention.status_id == status.id))
    )
    inboxes = await _recipient_inboxes(
        session,
        actor_uri=actor_uri,
        uris=ctx.uris,
        visibility=status.visibility,
        addressed=await _remote_actors(session, mentioned),
    )
    inboxes |= await _earlier_inboxes(session, actor, status.uri)
    status.deleted_at = now
    parent = await _reply_parent(session, status.in_reply_to_uri)
    if parent is not None:
        await bump_count(session, StatusCounter.REPLIES, -1, Status.id == parent.id)
    await session.execute(sql_delete(TimelineEntry).where(TimelineEntry.status_id == status.id))
    await session.execute(sql_delete(Status).where(Status.reblog_of_id == status.id))
    activity = rendering.render_delete(gone, activity_uri=new_activity_uri(actor_uri, "deletes"))
    await ctx.send(session, actor, activity, inboxes, now)


# --- boosts ---------------------------------------------------------------------------------


async def find_boost(session: AsyncSession, actor_uri: str, target: Status) -> Status | None:
    return await session.scalar(
        select(Status).where(Status.actor_uri == actor_uri, Status.reblog_of_id == target.id)
    )


async def _boost_inboxes(
    session: AsyncSession, *, actor_uri: str, uris: LocalUris, target: Status
) -> set[str]:
    return await _recipient_inboxes(
        session,
        actor_uri=actor_uri,
        uris=uris,
        visibility=Visibility.PUBLIC,
        addressed=await _remote_actors(session, [target.actor_uri]),
    )


async def boost(
    session: AsyncSession, ctx: PublishContext, *, actor: Actor, target: Status
) -> Status:
    """Announce `target` to our followers and its author: how a parent organisation
    relays its branches' news.

    Only public and unlisted posts can be boosted (Mastodon ignores boosts of others).
    Boosting twice returns the first boost. The caller commits.
    """
    _not_alias(actor, "boost")
    actor_uri = ctx.actor_uri(actor)
    now = ctx.clock()
    if target.reblog_of_id is not None:
        raise NewsError("boost the original post, not a boost of it")
    if target.deleted_at is not None:
        raise NewsError("the post was deleted")
    if target.visibility not in (Visibility.PUBLIC, Visibility.UNLISTED):
        raise NewsError("only public and unlisted posts can be boosted")
    existing = await find_boost(session, actor_uri, target)
    if existing is not None:
        return existing
    cc = [ctx.uris.followers(actor_uri)]
    if target.actor_uri != actor_uri:
        cc.append(target.actor_uri)
    wrapper = await store_boost(
        session,
        uris=ctx.uris,
        actor=actor,
        target=target,
        visibility=Visibility.PUBLIC,
        to=[PUBLIC],
        cc=cc,
        now=now,
    )
    inboxes = await _boost_inboxes(session, actor_uri=actor_uri, uris=ctx.uris, target=target)
    await ctx.send(session, actor, render_announce(wrapper, target.uri), inboxes, now)
    return wrapper


async def unboost(
    session: AsyncSession, ctx: PublishContext, *, actor: Actor, target: Status
) -> None:
    """Undo our Announce of `target` (embedding it) and drop the boost. The caller commits."""
    actor_uri = ctx.actor_uri(actor)
    now = ctx.clock()
    wrapper = await find_boost(session, actor_uri, target)
    if wrapper is None:
        raise NewsError(f"{actor.username} has not boosted this post")
    inboxes = await _boost_inboxes(session, actor_uri=actor_uri, uris=ctx.uris, target=target)
    inboxes |= set(
        await session.scalars(
            select(Delivery.inbox_uri)
            .join(Activity, Activity.id == Delivery.activity_id)
            .where(Activity.uri == create_activity_uri(wrapper))
        )
    )
    undo = rendering.render_undo_announce(
        post_view(wrapper), target.uri, activity_uri=new_activity_uri(actor_uri, "undos")
    )
    await session.delete(wrapper)
    await bump_count(session, StatusCounter.REBLOGS, -1, Status.id == target.id)
    await ctx.send(session, actor, undo, inboxes, now)


def draft_of(status: Status) -> Draft:
    """The Draft a stored post was made from, as a starting point for edits.

    An Article's summary counts as written only if it differs from the automatic one;
    extra tags are the hashtags the source text does not contain.
    """
    title = status.name if status.type == "Article" else None
    summary: str | None = status.summary or None
    if title and summary == _short_summary(status.content):
        summary = None
    source = status.source or ""
    in_text = hashtags_in(source)
    extra = tuple(
        name[1:]
        for t in tags_of(status)
        if isinstance(t, dict)
        and t.get("type") == "Hashtag"
        and isinstance(name := t.get("name"), str)
        and name[1:] not in in_text
    )
    return Draft(
        text=source,
        title=title,
        summary=summary,
        visibility=Visibility(status.visibility),
        language=status.language,
        sensitive=status.sensitive,
        tags=extra,
        in_reply_to=status.in_reply_to_uri,
    )
