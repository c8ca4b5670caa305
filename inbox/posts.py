"""Receiving news: Create, Update, Delete, Announce, Like and their Undo from remote actors.

What is kept follows Mastodon (federation-contract §5, §7): a post is stored only
when it concerns this instance (its author is followed by a local actor, it
addresses or mentions one, or it replies to a local or followed post); its id
must share the actor's origin; a Delete that arrived first leaves a Tombstone
that refuses the later Create; only the author may edit or delete. HTML is
sanitised on ingest, `name`/`summary` are stored as plain text.

Handlers run inside the inbox batch transaction and never touch the network.
The one fetch this module needs (the unknown post a followed actor boosts)
happens in `prefetch_announce`, before the transaction opens. Every handler is
idempotent: unique keys plus insert-or-ignore, and counters move only when a
row was really inserted or deleted.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp
from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actors.base import Base, dialect_name
from actors.models import Actor, RemoteActor
from actors.remote import RemoteActorError
from actors.snowflake import snowflake
from federation.actors import is_http_url, same_origin
from federation.content import plain_text, sanitize_html
from federation.documents import parse_datetime
from federation.errors import FetchError
from federation.fetch import Signer, fetch_json
from federation.media import Attachment, QuestionPoll, parse_attachments, parse_question
from outbox.models import (
    Favourite,
    Mention,
    Poll,
    Status,
    TimelineEntry,
    Tombstone,
    Visibility,
)
from outbox.news import hashtag_key, render_poll_update
from outbox.polls import count_remote_vote, new_remote_poll, refresh_remote_poll, send_update
from outbox.publish import inbox_host, is_blocked_domain
from outbox.timelines import add_to_timelines, local_followers

if TYPE_CHECKING:
    from inbox.handlers import HandlerContext, Incoming

log = logging.getLogger("verbund.inbox")

# Note, Article and Question are Mastodon's own; the rest are what PeerTube (Video),
# Funkwhale (Audio), Pixelfed and others (Image), Mobilizon (Event), Lemmy (Page) and
# some bridges (Document) send. Mastodon converts Article/Page/Event/Image/Video/Audio
# to a status that shows `name`, `summary` and the link (CONVERTED_TYPES in
# app/lib/activitypub/parser/status_parser.rb); we keep their content too.
NEWS_TYPES = frozenset(
    {"Note", "Article", "Page", "Question", "Image", "Video", "Audio", "Event", "Document"}
)
# The three spellings of the public collection that peers send (Mastodon accepts all three).
PUBLIC_COLLECTION = frozenset(
    {"https://www.w3.org/ns/activitystreams#Public", "as:Public", "Public"}
)

MAX_AUDIENCE = 500
MAX_TAGS = 100
MAX_NAME = 2048
MAX_SUMMARY = 10_000
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")

# The longest URI (in UTF-8 bytes) stored in an indexed column. PostgreSQL refuses btree
# entries over about 2.7 kB, so a longer post id or mention would make the handler fail
# and be retried; such references are dropped or the activity ignored instead.
MAX_URI_BYTES = 2048

ObjectFetcher = Callable[[str], Awaitable[object]]
"""GET one ActivityStreams object by id (signed, SSRF-safe); raises `FetchError`."""


def object_fetcher(
    http: Callable[[], aiohttp.ClientSession],
    signer: Callable[[], Awaitable[Signer]],
    *,
    allow_private: bool,
    blocked_domains: Iterable[str] = (),
) -> ObjectFetcher:
    """An `ObjectFetcher` over `federation.fetch.fetch_json`, signed by the instance actor
    (authorized-fetch peers refuse unsigned GETs). Blocked domains are never asked: a
    followed actor's boost must not pull in their posts. The server wires this in."""
    blocked = tuple(blocked_domains)

    async def fetch(uri: str) -> object:
        if blocked and is_blocked_domain(inbox_host(uri), blocked):
            raise FetchError(f"{uri}: domain blocked")
        return await fetch_json(http(), uri, signer=await signer(), allow_private=allow_private)

    return fetch


# --- wire → typed ------------------------------------------------------------------------


def _items(value: object) -> Iterator[object]:
    if isinstance(value, list):
        yield from value
    elif value is not None:
        yield value


def id_of(value: object) -> str | None:
    """A reference as a string: the value itself, or the `id` of an embedded object."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None


def ids_of(value: object, limit: int = MAX_AUDIENCE) -> list[str]:
    """A one-or-many reference field (`to`, `cc`, `attributedTo`) as a list of ids."""
    out = [i for i in (id_of(v) for v in _items(value)) if i]
    return out[:limit]


def _text(value: object, limit: int) -> str | None:
    """A text field that may carry markup (WordPress sends HTML summaries): visible text."""
    if not isinstance(value, str) or not value.strip():
        return None
    return plain_text(value[: limit * 4])[:limit] or None


def _first_map_value(value: object) -> tuple[str, str] | None:
    if isinstance(value, dict):
        for key, text in value.items():
            if isinstance(text, str):
                return key, text
    return None


def _language(obj: Mapping[str, object]) -> str | None:
    """First key of `contentMap` (then `nameMap`, `summaryMap`), as Mastodon reads it."""
    for field in ("contentMap", "nameMap", "summaryMap"):
        first = _first_map_value(obj.get(field))
        if first is not None:
            key = first[0]
            return key if len(key) <= 16 and _LANGUAGE.match(key) else None
    return None


def _same_host(a: str, b: str) -> bool:
    return bool(urlsplit(a).hostname) and urlsplit(a).hostname == urlsplit(b).hostname


def _html_url(value: object, object_id: str) -> str | None:
    """The post's web page: first http(s) link (`text/html` first), on the object's host only."""
    candidates: list[tuple[int, str]] = []
    for item in _items(value):
        href, media = (item, None) if isinstance(item, str) else (None, None)
        if isinstance(item, dict):
            href, media = item.get("href"), item.get("mediaType")
        if isinstance(href, str) and is_http_url(href) and _same_host(href, object_id):
            candidates.append((0 if media in (None, "text/html") else 1, href))
    return min(candidates)[1] if candidates else None


# Prefixes that name an ActivityStreams (or Mastodon `toot:`) term in expanded or
# compacted JSON-LD: `as:Hashtag`, `https://www.w3.org/ns/activitystreams#Hashtag`.
_TERM_PREFIXES = ("https://www.w3.org/ns/activitystreams#", "as:", "toot:")
_TAG_TYPES = ("Mention", "Hashtag", "Emoji")


def fits_index(uri: str) -> bool:
    """Whether `uri` is short enough for an indexed column (`MAX_URI_BYTES`)."""
    return len(uri) <= MAX_URI_BYTES and len(uri.encode("utf-8", "replace")) <= MAX_URI_BYTES


def type_in(value: object, wanted: Iterable[str]) -> str | None:
    """The first of `wanted` that a `type` names: a string or a list of them (`["Note"]`),
    each plain or prefixed (`as:Hashtag`); None if it names none of them."""
    wanted = tuple(wanted)
    for item in _items(value):
        if not isinstance(item, str):
            continue
        for prefix in _TERM_PREFIXES:
            if item.startswith(prefix):
                item = item[len(prefix) :]
                break
        if item in wanted:
            return item
    return None


def type_text(value: object) -> str:
    """A `type` for a log line: its strings, shortened; never the whole untrusted value."""
    shown = [t[:40] for t in _items(value) if isinstance(t, str)][:3]
    return "/".join(shown) or "object without a type"


def _tag_type(item: Mapping[str, object], name: str | None) -> str | None:
    """A tag's kind; a tag without a `type` whose name starts with `#` is a Hashtag
    (Pleroma and some WordPress setups send such tags)."""
    kind = type_in(item.get("type"), _TAG_TYPES)
    if kind is None and item.get("type") is None and name is not None and name.startswith("#"):
        return "Hashtag"
    return kind


def _tags(value: object) -> tuple[list[dict[str, object]], list[str]]:
    """Mention, Hashtag and Emoji tags reduced to the fields we use; and mentioned actor ids.

    Hashtag names are stored as our own posts store theirs, `#` + `hashtag_key`; names
    with no letter left (`#<>`) and repeats of a key are dropped. Types may be lists or
    prefixed terms (`as:Hashtag`, as JSON-LD-compacting peers write it).
    """
    tags: list[dict[str, object]] = []
    mentions: list[str] = []
    hashtags: set[str] = set()
    for item in list(_items(value))[:MAX_TAGS]:
        if not isinstance(item, dict):
            continue
        name, href = item.get("name"), item.get("href")
        name = name[:256] if isinstance(name, str) else None
        kind = _tag_type(item, name)
        href = href if is_http_url(href) and fits_index(str(href)) else None
        if kind == "Mention" and isinstance(href, str):
            if href not in mentions:
                mentions.append(href)
            tags.append({"type": "Mention", "href": href, "name": name or ""})
        elif kind == "Hashtag" and name:
            key = hashtag_key(name)
            if key is not None and key not in hashtags:
                hashtags.add(key)
                tags.append({"type": "Hashtag", "name": f"#{key}", "href": href})
        elif kind == "Emoji" and name:
            icon = item.get("icon")
            url = icon.get("url") if isinstance(icon, dict) else None
            if is_http_url(url):
                tags.append({"type": "Emoji", "name": name, "icon": {"url": url}})
    return tags, mentions


@dataclass(frozen=True, slots=True)
class Post:
    """A received Note/Article/Page, narrowed and cleaned (content sanitised, texts plain)."""

    id: str
    type: str
    author: str
    content: str
    name: str | None
    summary: str
    language: str | None
    sensitive: bool
    to: tuple[str, ...]
    cc: tuple[str, ...]
    tags: tuple[dict[str, object], ...]
    mentions: tuple[str, ...]
    in_reply_to: str | None
    url: str | None
    published: datetime | None
    updated: datetime | None
    attachments: tuple[Attachment, ...] = ()
    poll: QuestionPoll | None = None  # a Question's options and counts


def news_type(value: object) -> str | None:
    """The news type of a `type` that may be a list (`["Note"]`, as some peers send)."""
    return next((t for t in _items(value) if isinstance(t, str) and t in NEWS_TYPES), None)


def parse_post(
    obj: Mapping[str, object], activity: Mapping[str, object] | None = None
) -> Post | None:
    """Narrow a wire object to a `Post`; None for unsupported types or missing ids.

    The audience is the object's `to`/`cc`, else the activity's (Mastodon's status parser).
    The author is the first `attributedTo`, else the activity's actor.
    """
    obj_id, obj_type = obj.get("id"), news_type(obj.get("type"))
    if not isinstance(obj_id, str) or not is_http_url(obj_id) or obj_type is None:
        return None
    envelope = activity or {}
    authors = ids_of(obj.get("attributedTo"))
    author = authors[0] if authors else id_of(envelope.get("actor"))
    if author is None:
        return None
    content = obj.get("content")
    if not isinstance(content, str) or not content:
        mapped = _first_map_value(obj.get("contentMap"))
        content = mapped[1] if mapped else ""
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        mapped = _first_map_value(obj.get("nameMap"))
        name = mapped[1] if mapped else None
    summary = obj.get("summary")
    if not isinstance(summary, str) or not summary:
        mapped = _first_map_value(obj.get("summaryMap"))
        summary = mapped[1] if mapped else None
    tags, mentions = _tags(obj.get("tag"))
    to = obj["to"] if "to" in obj else envelope.get("to")
    cc = obj["cc"] if "cc" in obj else envelope.get("cc")
    return Post(
        id=obj_id,
        type=obj_type,
        author=author,
        content=sanitize_html(content),
        name=_text(name, MAX_NAME),
        summary=_text(summary, MAX_SUMMARY) or "",
        language=_language(obj),
        sensitive=obj.get("sensitive") is True,
        to=tuple(ids_of(to)),
        cc=tuple(ids_of(cc)),
        tags=tuple(tags),
        mentions=tuple(mentions),
        in_reply_to=id_of(obj.get("inReplyTo")),
        url=_html_url(obj.get("url"), obj_id),
        published=parse_datetime(obj.get("published")),
        updated=parse_datetime(obj.get("updated")),
        attachments=tuple(parse_attachments(obj)),
        poll=parse_question(obj) if obj_type == "Question" else None,
    )


def _attachments_json(post: Post) -> str:
    return json.dumps([a.as_json() for a in post.attachments], ensure_ascii=False)


def visibility_of(to: Iterable[str], cc: Iterable[str], followers_uri: str | None) -> Visibility:
    """Mastodon's addressing table: Public in `to` → public, in `cc` → unlisted, the
    author's followers in `to` → private (followers only), anything else → direct."""
    to, cc = list(to), list(cc)
    if any(a in PUBLIC_COLLECTION for a in to):
        return Visibility.PUBLIC
    if any(a in PUBLIC_COLLECTION for a in cc):
        return Visibility.UNLISTED
    if followers_uri and followers_uri in to:
        return Visibility.PRIVATE
    return Visibility.DIRECT


# --- queries -----------------------------------------------------------------------------


def _insert(session: AsyncSession, model: type[Base]) -> postgresql.Insert | sqlite.Insert:
    """INSERT for this engine (both spell ON CONFLICT DO NOTHING the same way)."""
    if dialect_name(session) == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


async def _local_actor_ids(session: AsyncSession, base_url: str, uris: Iterable[str]) -> set[int]:
    """Ids of our (non-instance) actors among `uris`."""
    prefix = base_url + "/users/"
    keys = {u[len(prefix) :].lower() for u in uris if u.startswith(prefix)}
    keys = {k for k in keys if k and "/" not in k}
    if not keys:
        return set()
    return set(
        await session.scalars(
            select(Actor.id).where(Actor.username_key.in_(keys), Actor.is_instance.is_(False))
        )
    )


async def _followers_uri(
    session: AsyncSession, actor_uri: str, prefetched: RemoteActor | None
) -> str | None:
    if prefetched is not None and prefetched.uri == actor_uri:
        return prefetched.followers_uri
    return await session.scalar(
        select(RemoteActor.followers_uri).where(RemoteActor.uri == actor_uri)
    )


async def _tombstoned(session: AsyncSession, uri: str) -> bool:
    return await session.scalar(select(Tombstone.id).where(Tombstone.uri == uri)) is not None


async def _remember_deleted(session: AsyncSession, uri: str, now: datetime) -> None:
    """A Delete (or Undo) that beat its Create: refuse that id from now on."""
    await session.execute(
        _insert(session, Tombstone)
        .values(uri=uri, deleted_at=now)
        .on_conflict_do_nothing(index_elements=["uri"])
    )


async def _status_by_uri(session: AsyncSession, uri: str) -> Status | None:
    return await session.scalar(select(Status).where(Status.uri == uri))


@dataclass(frozen=True, slots=True)
class _Audience:
    """Local actors a post concerns: who follows its author, who is addressed, who is mentioned."""

    followers: set[int]
    addressed: set[int]
    mentioned: set[int]

    def home_timelines(self, visibility: Visibility) -> set[int]:
        """Whose home timeline shows it: direct posts only the addressed, followers-only
        posts also the followers, public and unlisted posts also whoever is mentioned."""
        if visibility == Visibility.DIRECT:
            return set(self.addressed)
        if visibility == Visibility.PRIVATE:
            return self.addressed | self.followers
        return self.addressed | self.followers | self.mentioned


async def _audience(
    session: AsyncSession,
    base_url: str,
    author: str,
    to: Iterable[str],
    cc: Iterable[str],
    mentions: Iterable[str],
) -> _Audience:
    return _Audience(
        followers=set(await local_followers(session, base_url, author)),
        addressed=await _local_actor_ids(session, base_url, [*to, *cc]),
        mentioned=await _local_actor_ids(session, base_url, mentions),
    )


async def _replies_to_relevant(
    session: AsyncSession, base_url: str, parent_uri: str | None
) -> bool:
    """A reply to one of our posts, or to a post by an actor one of ours follows."""
    if parent_uri is None:
        return False
    parent = await session.execute(
        select(Status.local_actor_id, Status.actor_uri).where(Status.uri == parent_uri)
    )
    row = parent.first()
    if row is None:
        return False
    local_actor_id, actor_uri = row
    return local_actor_id is not None or bool(await local_followers(session, base_url, actor_uri))


async def _insert_post(
    session: AsyncSession, post: Post, visibility: Visibility, now: datetime
) -> int | None:
    """Store a received post; its new id, or None if that id was already stored."""
    published = min(post.published, now) if post.published else now
    edited = post.updated if post.updated and post.updated > published else None
    status_id = await session.scalar(
        _insert(session, Status)
        .values(
            id=snowflake(published),
            uri=post.id,
            url=post.url,
            actor_uri=post.author,
            local_actor_id=None,
            author_user_id=None,
            type=post.type,
            name=post.name,
            summary=post.summary,
            content=post.content,
            source=None,
            language=post.language,
            sensitive=post.sensitive,
            visibility=visibility.value,
            in_reply_to_uri=post.in_reply_to,
            reblog_of_id=None,
            recipients=json.dumps({"to": list(post.to), "cc": list(post.cc)}),
            tags=json.dumps(list(post.tags), ensure_ascii=False),
            attachments=_attachments_json(post),
            replies_count=0,
            reblogs_count=0,
            favourites_count=0,
            published_at=published,
            edited_at=edited,
            deleted_at=None,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["uri"])
        .returning(Status.id)
    )
    if status_id is None:
        return None
    if post.poll is not None:
        session.add(new_remote_poll(int(status_id), post.poll, now))
        await session.flush()
    await _add_mentions(session, status_id, post.mentions)
    if post.in_reply_to:
        await session.execute(
            update(Status)
            .where(Status.uri == post.in_reply_to)
            .values(replies_count=Status.replies_count + 1)
            .execution_options(synchronize_session=False)
        )
    return int(status_id)


async def _add_mentions(session: AsyncSession, status_id: int, actor_uris: Iterable[str]) -> None:
    rows = [{"status_id": status_id, "actor_uri": uri} for uri in dict.fromkeys(actor_uris)]
    if rows:
        await session.execute(
            _insert(session, Mention).on_conflict_do_nothing(
                index_elements=["status_id", "actor_uri"]
            ),
            rows,
        )


# --- Create / Update / Delete -------------------------------------------------------------


# How many entries of an `object` list a Create/Update is searched for a post.
MAX_OBJECTS = 10


def _own_post(act: Incoming) -> tuple[Post | None, str]:
    """The embedded post of a Create/Update that is the actor's own and on its origin,
    else None and why not. `object` may be a list: its first such post is taken."""
    reason = "it has no object"
    for obj in list(_items(act.doc.get("object")))[:MAX_OBJECTS]:
        if not isinstance(obj, dict):
            reason = "its object is a reference, not embedded"
            continue
        post = parse_post(obj, act.doc)
        if post is None:
            reason = f"a {type_text(obj.get('type'))} is not a post we store"
        elif not fits_index(post.id):
            reason = "its object id is too long"
        elif post.author != act.actor_uri or not same_origin(post.id, act.actor_uri):
            reason = "its object is not the actor's own"
        else:
            return post, ""
    return None, reason


def _ignore(act: Incoming, reason: str) -> None:
    """An activity that was accepted (202) but is of no use here: said once, at info."""
    log.info("ignoring %s %s from %s: %s", act.type, act.id, act.actor_uri, reason)


async def count_vote(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> bool:
    """A Create that is a vote on one of our polls: counted, never stored as a post.

    Mastodon's `poll_vote?` (app/lib/activitypub/activity/create.rb): a Note with a
    `name` whose `inReplyTo` is one of our Questions. True when it was such a vote
    (counted or not); then the new counts go out in an Update of the Question.
    """
    obj = act.doc.get("object")
    if not isinstance(obj, dict) or news_type(obj.get("type")) != "Note":
        return False
    name, parent_uri = obj.get("name"), id_of(obj.get("inReplyTo"))
    vote_id = id_of(obj)
    if not isinstance(name, str) or not name or parent_uri is None or vote_id is None:
        return False
    if not parent_uri.startswith(ctx.base_url + "/"):
        return False
    question = await session.scalar(
        select(Status).where(
            Status.uri == parent_uri,
            Status.local_actor_id.is_not(None),
            Status.type == "Question",
            Status.deleted_at.is_(None),
        )
    )
    if question is None:
        return False
    authors = ids_of(obj.get("attributedTo"))
    if (authors and authors[0] != act.actor_uri) or not same_origin(vote_id, act.actor_uri):
        return True  # someone else's vote: not counted, and no post either
    counted = await count_remote_vote(
        session,
        status=question,
        voter_uri=act.actor_uri,
        title=name.strip(),
        vote_id=vote_id,
        now=ctx.now,
    )
    poll = await session.get(Poll, question.id)
    if counted and poll is not None:
        await send_update(
            session, status=question, poll=poll, now=ctx.now, render_update=render_poll_update
        )
    return True


async def on_create(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    """Store a relevant post and put it in the home timelines it belongs to."""
    if await count_vote(ctx, session, act):
        return
    post, reason = _own_post(act)
    if post is None:
        _ignore(act, reason)
        return
    if await _tombstoned(session, post.id):
        _ignore(act, f"{post.id} was deleted before")
        return
    if await session.scalar(select(Status.id).where(Status.uri == post.id)) is not None:
        return  # seen already (a redelivery, or the same post through another inbox)
    audience = await _audience(session, ctx.base_url, post.author, post.to, post.cc, post.mentions)
    if not (
        audience.followers
        or audience.addressed
        or audience.mentioned
        or await _replies_to_relevant(session, ctx.base_url, post.in_reply_to)
    ):
        _ignore(act, "nobody here follows its author or is addressed, mentioned or replied to")
        return
    visibility = visibility_of(
        post.to, post.cc, await _followers_uri(session, post.author, act.actor)
    )
    status_id = await _insert_post(session, post, visibility, ctx.now)
    if status_id is not None:
        await add_to_timelines(session, status_id, audience.home_timelines(visibility))


async def on_update(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    """Apply an edit by the post's own author carrying a newer `updated`; ignore the rest.

    Updates of actors and other object types are not news and are ignored here. An
    Update of a Question refreshes its poll's counts even without a newer `updated`
    (Mastodon's implicit update, how it sends new counts).
    """
    post, reason = _own_post(act)
    if post is None:
        _ignore(act, reason)
        return
    status = await _status_by_uri(session, post.id)
    if (
        status is None
        or status.actor_uri != act.actor_uri
        or status.local_actor_id is not None
        or status.reblog_of_id is not None
        or status.deleted_at is not None
    ):
        return
    if post.poll is not None:
        poll = await session.get(Poll, status.id)
        if poll is None:
            session.add(new_remote_poll(status.id, post.poll, ctx.now))
        else:
            refresh_remote_poll(poll, post.poll, ctx.now)
    if post.updated is None or post.updated <= (status.edited_at or status.published_at):
        return
    status.attachments = _attachments_json(post)
    status.content = post.content
    status.name = post.name
    status.summary = post.summary
    status.language = post.language
    status.sensitive = post.sensitive
    status.tags = json.dumps(list(post.tags), ensure_ascii=False)
    status.url = post.url
    status.edited_at = post.updated
    await session.execute(
        delete(Mention).where(
            Mention.status_id == status.id, Mention.actor_uri.not_in(post.mentions)
        )
    )
    await _add_mentions(session, status.id, post.mentions)
    # Whoever the edit newly mentions or addresses sees it now; visibility never changes.
    audience = await _audience(session, ctx.base_url, post.author, post.to, post.cc, post.mentions)
    shown_to = audience.home_timelines(Visibility(status.visibility))
    await add_to_timelines(session, status.id, shown_to)


async def _remove_boosts(session: AsyncSession, wrapper_ids: list[int]) -> None:
    """Delete boost wrappers and decrement their targets' counters."""
    if not wrapper_ids:
        return
    await session.execute(delete(TimelineEntry).where(TimelineEntry.status_id.in_(wrapper_ids)))
    targets = list(
        await session.scalars(
            delete(Status)
            .where(Status.id.in_(wrapper_ids))
            .returning(Status.reblog_of_id)
            .execution_options(synchronize_session=False)
        )
    )
    for target in targets:
        await session.execute(
            update(Status)
            .where(Status.id == target, Status.reblogs_count > 0)
            .values(reblogs_count=Status.reblogs_count - 1)
            .execution_options(synchronize_session=False)
        )


async def mark_deleted(session: AsyncSession, status: Status, now: datetime) -> None:
    """A remote post is gone: keep the row (its id stays refused), drop what it said and
    where it showed, and remove the boosts of it that remote actors made."""
    status.deleted_at = now
    status.content, status.summary, status.name, status.tags = "", "", None, "[]"
    status.attachments = "[]"
    await session.execute(delete(TimelineEntry).where(TimelineEntry.status_id == status.id))
    await session.execute(delete(Mention).where(Mention.status_id == status.id))
    boosts = await session.scalars(
        select(Status.id).where(Status.reblog_of_id == status.id, Status.local_actor_id.is_(None))
    )
    await _remove_boosts(session, list(boosts))
    if status.in_reply_to_uri:
        await session.execute(
            update(Status)
            .where(Status.uri == status.in_reply_to_uri, Status.replies_count > 0)
            .values(replies_count=Status.replies_count - 1)
            .execution_options(synchronize_session=False)
        )


async def on_delete_object(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    """Delete of a post (Tombstone, Note, bare id) by its author.

    An id we do not know yet is remembered as a Tombstone, so a Create that arrives
    after its Delete is refused. Deleting a boost wrapper undoes the boost.
    """
    uri = id_of(act.doc.get("object"))
    if uri is None or not same_origin(uri, act.actor_uri):
        return
    status = await _status_by_uri(session, uri)
    if status is None:
        await _remember_deleted(session, uri, ctx.now)
        return
    if status.actor_uri != act.actor_uri or status.local_actor_id is not None:
        return
    if status.reblog_of_id is not None:
        await _remove_boosts(session, [status.id])
    elif status.deleted_at is None:
        await mark_deleted(session, status, ctx.now)


async def forget_actor_posts(session: AsyncSession, actor_uri: str, now: datetime) -> None:
    """Delete(actor): the account's posts go with it; its boosts are removed."""
    posts = await session.scalars(
        select(Status).where(
            Status.actor_uri == actor_uri,
            Status.local_actor_id.is_(None),
            Status.reblog_of_id.is_(None),
            Status.deleted_at.is_(None),
        )
    )
    for status in list(posts):
        await mark_deleted(session, status, now)
    boosts = await session.scalars(
        select(Status.id).where(
            Status.actor_uri == actor_uri,
            Status.local_actor_id.is_(None),
            Status.reblog_of_id.is_not(None),
        )
    )
    await _remove_boosts(session, list(boosts))


# --- Announce -----------------------------------------------------------------------------


# Activities a group may relay in an Announce (FEP-1b12: Lemmy, Guppe). Only a relayed
# Create is a boost (of its object); the others are not news of their own.
_RELAYED_TYPES = (
    "Create",
    "Update",
    "Delete",
    "Like",
    "Dislike",
    "Undo",
    "Announce",
    "Add",
    "Remove",
    "Block",
    "Follow",
    "Accept",
    "Reject",
    "Flag",
    "Move",
    "EmojiReact",
)


@dataclass(frozen=True, slots=True)
class _Announced:
    """What an Announce's `object` boosts: the post's id and what was sent for it (an
    embedded post or a reference), and the Create that wrapped it (FEP-1b12), if any.
    `target` None: not a boost, `reason` says why."""

    target: str | None
    value: object = None
    relayed_create: Mapping[str, object] | None = None
    reason: str = ""


def _announced(obj: object) -> _Announced:
    """Unwrap an embedded `Create` (Lemmy's `Announce{Create{Page}}`, signed by the group)
    to its object; refuse other embedded activities. A bare reference is taken as the post
    (a reference to a Create is unwrapped after fetching it, in `prefetch_announce`)."""
    if isinstance(obj, dict):
        kind = type_in(obj.get("type"), _RELAYED_TYPES)
        if kind == "Create":
            inner = next(iter(_items(obj.get("object"))), None)
            target = id_of(inner)
            if target is None:
                return _Announced(None, reason="the relayed Create has no object id")
            return _Announced(target, inner, obj)
        if kind is not None:
            return _Announced(None, reason=f"a relayed {kind} is not a boost")
    target = id_of(obj)
    if target is None:
        return _Announced(None, reason="its object has no id")
    return _Announced(target, obj)


def _trusted_embedded(obj: object, booster: str) -> Mapping[str, object] | None:
    """An embedded boosted post we may take as sent: a self-boost on the booster's origin
    (Mastodon treats it like a Create), or a post a group relays in a Create (FEP-1b12)
    when the post, its author and the Create's actor are all on the group's origin (the
    group's server signed it and hosts them). Anything else must be fetched from its
    origin."""
    announced = _announced(obj)
    value = announced.value
    if not isinstance(value, dict):
        return None
    post_id, authors = value.get("id"), ids_of(value.get("attributedTo"))
    if not isinstance(post_id, str) or not authors or not same_origin(post_id, booster):
        return None
    if announced.relayed_create is None:
        return value if authors[0] == booster else None
    creator = id_of(announced.relayed_create.get("actor"))
    if same_origin(authors[0], booster) and creator in (None, authors[0]):
        return value
    return None


def _first_object(activity: Mapping[str, object]) -> object:
    return next(iter(_items(activity.get("object"))), None)


async def prefetch_announce(
    ctx: HandlerContext,
    sessionmaker: async_sessionmaker[AsyncSession],
    actor_uri: str,
    doc: Mapping[str, object],
) -> dict[str, dict[str, object]]:
    """Before the transaction: fetch the boosted post if we lack it and the boost matters.

    Returns {id the Announce names: post document}; empty when nothing needs or may be
    fetched. When that id turns out to be a Create (a group relaying it, FEP-1b12), the
    post is its object: taken as embedded when on the Create's origin, else fetched too,
    so the returned post's id may differ from the key. Network failures are logged and
    leave the boost to be ignored.
    """
    announced = _announced(doc.get("object"))
    target = announced.target
    if (
        ctx.fetch_object is None
        or target is None
        or not is_http_url(target)
        or target.startswith(ctx.base_url + "/")
        or _trusted_embedded(doc.get("object"), actor_uri) is not None
    ):
        return {}
    async with sessionmaker() as session:
        if (
            await session.scalar(select(Status.id).where(Status.uri == target)) is not None
            or await _tombstoned(session, target)
            or not await local_followers(session, ctx.base_url, actor_uri)
        ):
            return {}
    fetched = await _fetch_post(ctx, target)
    if (
        fetched is not None
        and announced.relayed_create is None
        and type_in(fetched.get("type"), ("Create",))
    ):
        inner = _first_object(fetched)
        inner_id = id_of(inner)
        if isinstance(inner, dict) and inner_id and same_origin(inner_id, target):
            fetched = inner
        elif inner_id and is_http_url(inner_id) and not inner_id.startswith(ctx.base_url + "/"):
            fetched = await _fetch_post(ctx, inner_id)
        else:
            fetched = None
    if fetched is None:
        return {}
    post = parse_post(fetched)
    if post is None or not same_origin(post.id, post.author):
        return {}
    try:  # its author, so that the post can be shown with an account and addressed right
        await ctx.directory.get_actor(post.author)
    except RemoteActorError as exc:
        log.info("cannot fetch author %s of boosted post: %s", post.author, exc)
    return {target: fetched}


async def _fetch_post(ctx: HandlerContext, uri: str) -> dict[str, object] | None:
    assert ctx.fetch_object is not None  # prefetch_announce checked
    try:
        fetched = await ctx.fetch_object(uri)
    except FetchError as exc:
        log.info("cannot fetch boosted post %s: %s", uri, exc)
        return None
    return fetched if isinstance(fetched, dict) else None


async def _boosted_post(
    ctx: HandlerContext,
    session: AsyncSession,
    act: Incoming,
    target: str,
    doc: Mapping[str, object] | None,
) -> Status | None:
    """The boosted post: known, or stored from `doc` (an embedded post we may trust, or
    the one the prefetch step fetched)."""
    status = await _status_by_uri(session, target)
    if status is not None:
        return status
    if doc is None or await _tombstoned(session, target):
        return None
    post = parse_post(doc)
    if post is None or post.id != target or not same_origin(post.id, post.author):
        return None
    visibility = visibility_of(
        post.to, post.cc, await _followers_uri(session, post.author, act.actor)
    )
    if await _insert_post(session, post, visibility, ctx.now) is None:
        return None
    return await _status_by_uri(session, target)


async def on_announce(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    """A boost: stored as a wrapper post when the booster is followed here or boosts one
    of our posts; the wrapper goes into the home timelines of the booster's local followers.

    A group's Announce of a Create (FEP-1b12) is a boost of the Create's object by the
    group; Announces of other activities (a relayed Delete, Update or Like) are ignored.
    """
    announced = _announced(act.doc.get("object"))
    target = announced.target
    if target is None or not fits_index(target):
        _ignore(act, announced.reason or "the boosted id is too long")
        return
    doc = _trusted_embedded(act.doc.get("object"), act.actor_uri)
    if doc is None:
        doc = act.objects.get(target)
        fetched_id = id_of(doc)
        if fetched_id is not None and fetched_id != target:
            target = fetched_id  # the Announce named a Create; its object is the post
    if await _tombstoned(session, act.id):
        _ignore(act, "it was undone before it arrived")
        return
    if await session.scalar(select(Status.id).where(Status.uri == act.id)) is not None:
        return
    followers = set(await local_followers(session, ctx.base_url, act.actor_uri))
    known = await _status_by_uri(session, target)
    if not followers and (known is None or known.local_actor_id is None):
        _ignore(act, "nobody here follows the booster and the post is not ours")
        return
    original = known or await _boosted_post(ctx, session, act, target, doc)
    if original is None or original.deleted_at is not None or original.reblog_of_id is not None:
        _ignore(act, f"the boosted post {target} is unavailable, deleted or itself a boost")
        return
    public = original.visibility in (Visibility.PUBLIC.value, Visibility.UNLISTED.value)
    if not public and original.actor_uri != act.actor_uri:
        # Mastodon ignores boosts of non-public posts except self-boosts
        _ignore(act, "a boost of someone else's non-public post")
        return
    already = await session.scalar(
        select(Status.id).where(
            Status.reblog_of_id == original.id, Status.actor_uri == act.actor_uri
        )
    )
    if already is not None:
        return
    to, cc = ids_of(act.doc.get("to")), ids_of(act.doc.get("cc"))
    visibility = visibility_of(to, cc, await _followers_uri(session, act.actor_uri, act.actor))
    published = parse_datetime(act.doc.get("published"))
    published = min(published, ctx.now) if published else ctx.now
    wrapper_id = await session.scalar(
        _insert(session, Status)
        .values(
            id=snowflake(published),
            uri=act.id,
            url=None,
            actor_uri=act.actor_uri,
            local_actor_id=None,
            author_user_id=None,
            type="Announce",
            name=None,
            summary="",
            content="",
            source=None,
            language=None,
            sensitive=False,
            visibility=visibility.value,
            in_reply_to_uri=None,
            reblog_of_id=original.id,
            recipients=json.dumps({"to": to, "cc": cc}),
            tags="[]",
            replies_count=0,
            reblogs_count=0,
            favourites_count=0,
            published_at=published,
            edited_at=None,
            deleted_at=None,
            created_at=ctx.now,
        )
        .on_conflict_do_nothing(index_elements=["uri"])
        .returning(Status.id)
    )
    if wrapper_id is None:
        return
    await session.execute(
        update(Status)
        .where(Status.id == original.id)
        .values(reblogs_count=Status.reblogs_count + 1)
        .execution_options(synchronize_session=False)
    )
    # Only the booster's followers see a boost at home; the boosted author is in `cc`
    # for a notification, not for a timeline entry.
    audience = _Audience(followers=followers, addressed=set(), mentioned=set())
    await add_to_timelines(session, int(wrapper_id), audience.home_timelines(visibility))


async def on_undo_announce(
    ctx: HandlerContext, session: AsyncSession, act: Incoming, inner: object
) -> None:
    """Undo(Announce) by the booster: by the Announce id, or by the boosted post.

    An Undo for a boost we never saw is remembered, so the late Announce is refused.
    """
    inner_id = id_of(inner)
    target = id_of(inner.get("object")) if isinstance(inner, dict) else None
    query = select(Status.id).where(
        Status.actor_uri == act.actor_uri,
        Status.reblog_of_id.is_not(None),
        Status.local_actor_id.is_(None),
    )
    conditions: list[ColumnElement[bool]] = []
    if inner_id:
        conditions.append(Status.uri == inner_id)
    if target:
        conditions.append(Status.reblog_of_id.in_(select(Status.id).where(Status.uri == target)))
    if not conditions:
        return
    found = list(await session.scalars(query.where(or_(*conditions))))
    await _remove_boosts(session, found)
    if not found and isinstance(inner, dict) and inner_id and same_origin(inner_id, act.actor_uri):
        await _remember_deleted(session, inner_id, ctx.now)


# --- Like ---------------------------------------------------------------------------------


async def on_like(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    """Count a Like of one of our own posts; Likes of anything else are not kept."""
    target = id_of(act.doc.get("object"))
    if target is None or not target.startswith(ctx.base_url + "/"):
        return
    status_id = await session.scalar(
        select(Status.id).where(
            Status.uri == target,
            Status.local_actor_id.is_not(None),
            Status.reblog_of_id.is_(None),
            Status.deleted_at.is_(None),
        )
    )
    if status_id is None:
        return
    inserted = await session.scalar(
        _insert(session, Favourite)
        .values(
            status_id=status_id, actor_uri=act.actor_uri, activity_uri=act.id, created_at=ctx.now
        )
        .on_conflict_do_nothing(index_elements=["status_id", "actor_uri"])
        .returning(Favourite.id)
    )
    if inserted is not None:
        await session.execute(
            update(Status)
            .where(Status.id == status_id)
            .values(favourites_count=Status.favourites_count + 1)
            .execution_options(synchronize_session=False)
        )


async def on_undo_like(
    ctx: HandlerContext, session: AsyncSession, act: Incoming, inner: object
) -> None:
    """Undo(Like) by the same actor: by the Like id, or (Mastodon) by the liked post."""
    inner_id = id_of(inner)
    target = id_of(inner.get("object")) if isinstance(inner, dict) else None
    conditions: list[ColumnElement[bool]] = []
    if inner_id:
        conditions.append(Favourite.activity_uri == inner_id)
    if target:
        conditions.append(Favourite.status_id.in_(select(Status.id).where(Status.uri == target)))
    if not conditions:
        return
    removed = list(
        await session.scalars(
            delete(Favourite)
            .where(Favourite.actor_uri == act.actor_uri, or_(*conditions))
            .returning(Favourite.status_id)
            .execution_options(synchronize_session=False)
        )
    )
    for status_id in removed:
        await session.execute(
            update(Status)
            .where(Status.id == status_id, Status.favourites_count > 0)
            .values(favourites_count=Status.favourites_count - 1)
            .execution_options(synchronize_session=False)
        )
