"""Publishing news: Create, Update and Delete of our Notes and Articles, Announce and its Undo.

The CLI and the Mastodon client API both call this module. Shapes follow
federation-contract §5: a Note carries the full text (Mastodon shows it); an
Article carries `name`, a short `summary` and a canonical `url`, which is all
Mastodon shows of it. Markdown is rendered and sanitised, then hashtags and
mentions are linked in Mastodon's markup, so its clients style them as usual.

Network work (WebFinger for mentions) happens in `prepare_mentions`, before the
caller opens its transaction; everything else only writes rows (the post, its
activity and delivery jobs) in the caller's transaction, and the caller commits.

Must not import `inbox` or `server`.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.models import Actor, RemoteActor
from actors.remote import RemoteActorError, RemoteDirectory
from actors.snowflake import snowflake
from federation.content import plain_text, render_markdown
from federation.documents import AS_CONTEXT, format_datetime
from federation.media import Attachment, render_attachment
from federation.webfinger import acct_domain
from outbox.models import Activity, Delivery, Mention, Poll, Status, TimelineEntry, Visibility
from outbox.polls import (
    PollDraft,
    PollError,
    check_draft,
    new_local_poll,
    polls_of,
    question_fields,
)
from outbox.publish import enqueue, follower_inboxes, new_activity_uri
from outbox.timelines import Page, actor_statuses, add_to_timelines, local_followers

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"

# Mastodon's status context, reduced to the terms our objects use.
NOTE_CONTEXT: list[object] = [
    AS_CONTEXT,
    {
        "sensitive": "as:sensitive",
        "Hashtag": "as:Hashtag",
        "toot": "http://joinmastodon.org/ns#",
        "votersCount": "toot:votersCount",
        "blurhash": "toot:blurhash",
    },
]

MAX_TEXT = 100_000
MAX_TITLE = 300
MAX_SUMMARY = 1_000
MAX_TAGS = 30
MAX_MENTIONS = 20
ARTICLE_SUMMARY_CHARS = 300

# Mastodon's MENTION_RE and HASHTAG_RE, simplified: not after a word character or
# `/` (so e-mail addresses and URL fragments stay text), and a tag needs a letter.
# The host may carry a port (`@alice@localhost:3000`), which is part of the handle.
_MENTION = re.compile(
    r"(?<![\w=/@.])@([A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)"
    r"(?:@([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[1-9][0-9]{0,4}(?![0-9]))?))?"
)
_HASHTAG = re.compile(r"(?<![\w/)#])#(\w*[^\W\d_]\w*)")
_TAG_NAME = re.compile(r"^\w*[^\W\d_]\w*$")
_TAG_LETTER = re.compile(r"[^\W\d_]")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,3}$")
_MARKUP = re.compile(r"(<[^>]*>)")
_TAG_OPEN = re.compile(r"^<(/?)([A-Za-z0-9]+)")
# Text inside these stays text: no links inside links, none in code samples.
_NO_LINK_TAGS = frozenset({"a", "code", "pre"})
# Mastodon's ASCII folding of hashtags also maps these letters, not only accents.
_FOLD = str.maketrans({"ß": "ss", "æ": "ae", "ø": "o", "œ": "oe", "ł": "l", "đ": "d", "þ": "th"})


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


@dataclass(frozen=True, slots=True)
class Rendered:
    content: str
    tags: list[dict[str, object]]
    mentioned: list[RemoteActor]


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


def normalize_hashtag(name: str) -> str:
    """Lower-cased and ASCII-folded, as Mastodon keys hashtags: `#Bürger` → `burger`.

    Only accents on Latin letters are dropped; other scripts keep their marks.
    """
    out: list[str] = []
    for ch in unicodedata.normalize("NFD", name.lower().translate(_FOLD)):
        if unicodedata.combining(ch) and out and out[-1].isascii():
            continue
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def hashtag_key(name: str) -> str | None:
    """The key a hashtag name from elsewhere (a peer's `Hashtag` tag) is stored under: its
    `normalize_hashtag` without the `#`, e.g. `#Straße` → `strasse`.

    Only word characters (letters, digits, `_`) and the combining marks of scripts such as
    Devanagari are kept; the `#`, spaces, punctuation and markup are removed first, as
    Mastodon's HashtagNormalizer removes invalid characters. None when no letter is left,
    so `#<>` or `#2025` is no tag.
    """
    kept = "".join(
        ch for ch in name if ch.isalnum() or ch == "_" or unicodedata.category(ch)[0] == "M"
    )
    key = normalize_hashtag(kept)
    return key if _TAG_LETTER.search(key) else None


# --- finding and linking mentions and hashtags ---------------------------------------------


def _text_segments(fragment: str) -> list[tuple[str, bool]]:
    """Split sanitised HTML into (piece, is_linkable_text); markup and text inside
    links or code are not linkable."""
    depth = 0
    out: list[tuple[str, bool]] = []
    for piece in _MARKUP.split(fragment):
        if not piece:
            continue
        if piece.startswith("<"):
            m = _TAG_OPEN.match(piece)
            if m and m.group(2).lower() in _NO_LINK_TAGS and not piece.endswith("/>"):
                depth += -1 if m.group(1) else 1
                depth = max(depth, 0)
            out.append((piece, False))
        else:
            out.append((piece, depth == 0))
    return out


def _mention_key(user: str, host: str | None, local_host: str) -> str:
    host = (host or local_host).lower()
    if host == local_host.partition(":")[0]:
        host = local_host  # our port-less host name, on a domain with a port, is us
    return f"{user}@{host}".lower()


def find_mentions(text: str, *, local_host: str) -> list[str]:
    """The `user@host` keys (lower-cased) that `text` mentions, in order, outside code and links.

    `local_host` is our acct host, port included (`localhost:8080`). A bare `@user`, and
    `@user@localhost` on such a domain, mean an actor of this instance.
    """
    keys: list[str] = []
    for piece, linkable in _text_segments(render_markdown(text)):
        if linkable:
            for m in _MENTION.finditer(piece):
                key = _mention_key(m.group(1), m.group(2), local_host)
                if key not in keys:
                    keys.append(key)
    return keys


async def prepare_mentions(
    directory: RemoteDirectory, text: str, *, local_base_url: str, webfinger_scheme: str
) -> dict[str, RemoteActor]:
    """Resolve the mentions in `text` through WebFinger; call before opening a transaction.

    Returns `user@host` (lower-cased) → actor. Handles that do not resolve are left
    out and stay plain text in the post. At most MAX_MENTIONS handles are looked up.
    Our own actors resolve the same way.
    """
    keys = find_mentions(text, local_host=acct_domain(local_base_url))[:MAX_MENTIONS]

    async def resolve(key: str) -> tuple[str, RemoteActor | None]:
        user, _, host = key.rpartition("@")
        try:
            actor = await directory.resolve_handle(user, host, scheme=webfinger_scheme)
        except RemoteActorError:
            return key, None
        return key, actor

    found = await asyncio.gather(*(resolve(k) for k in keys))
    return {key: actor for key, actor in found if actor is not None}


def _safe_href(url: str | None, fallback: str) -> str:
    """Remote profile URLs go into our HTML: only http(s), always escaped."""
    chosen = url if url and url.startswith(("https://", "http://")) else fallback
    return html.escape(chosen, quote=True)


def _hashtag_link(base_url: str, typed: str) -> str:
    href = html.escape(f"{base_url}/tags/{quote(normalize_hashtag(typed))}", quote=True)
    return f'<a href="{href}" class="mention hashtag" rel="tag">#<span>{typed}</span></a>'


def _mention_link(actor: RemoteActor) -> str:
    href = _safe_href(actor.url, actor.uri)
    return (
        f'<span class="h-card"><a href="{href}" class="u-url mention">'
        f"@<span>{html.escape(actor.username)}</span></a></span>"
    )


def render_content(
    text: str,
    *,
    base_url: str,
    mentions: dict[str, RemoteActor],
    extra_tags: Sequence[str] = (),
) -> Rendered:
    """Markdown → sanitised HTML with hashtags and resolved mentions linked; plus the
    `tag` list (Mention and Hashtag objects) that goes with it.

    Extra tags not already in the text are appended as a last paragraph, so readers
    see every tag the post is filed under.
    """
    local_host = acct_domain(base_url)
    hashtags: dict[str, str] = {}
    mentioned: dict[str, tuple[RemoteActor, str]] = {}

    def link_tag(m: re.Match[str]) -> str:
        hashtags.setdefault(normalize_hashtag(m.group(1)), m.group(1))
        return _hashtag_link(base_url, m.group(1))

    def link_mention(m: re.Match[str]) -> str:
        key = _mention_key(m.group(1), m.group(2), local_host)
        actor = mentions.get(key)
        if actor is None:
            return m.group(0)
        mentioned.setdefault(actor.uri, (actor, key.rpartition("@")[2]))
        return _mention_link(actor)

    pieces: list[str] = []
    for piece, linkable in _text_segments(render_markdown(text)):
        if linkable:
            piece = _MENTION.sub(link_mention, piece)
            # Mention links contain no '#', so linking tags afterwards is safe.
            piece = "".join(
                part if part.startswith("<") else _HASHTAG.sub(link_tag, part)
                for part in _MARKUP.split(piece)
            )
        pieces.append(piece)
    content = "".join(pieces)
    extra = []
    for raw in extra_tags:
        name = raw.strip().lstrip("#")
        if normalize_hashtag(name) not in hashtags:
            hashtags[normalize_hashtag(name)] = name
            extra.append(_hashtag_link(base_url, html.escape(name)))
    if extra:
        content += "<p>" + " ".join(extra) + "</p>"
    tags: list[dict[str, object]] = [
        {"type": "Mention", "href": actor.uri, "name": f"@{actor.username}@{host}"}
        for actor, host in mentioned.values()
    ]
    tags += [
        {"type": "Hashtag", "href": f"{base_url}/tags/{quote(key)}", "name": f"#{key}"}
        for key in hashtags
    ]
    return Rendered(content, tags, [actor for actor, _ in mentioned.values()])


# --- addressing -----------------------------------------------------------------------------


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


def _is_ours(uri: str, base_url: str) -> bool:
    return uri.startswith(base_url + "/")


async def _remote_actors(session: AsyncSession, uris: Iterable[str]) -> list[RemoteActor]:
    wanted = list(set(uris))
    if not wanted:
        return []
    return list(await session.scalars(select(RemoteActor).where(RemoteActor.uri.in_(wanted))))


async def _recipient_inboxes(
    session: AsyncSession,
    *,
    actor_uri: str,
    base_url: str,
    visibility: str,
    addressed: Iterable[RemoteActor],
) -> set[str]:
    """Followers (collapsed onto shared inboxes) unless direct, plus addressed actors.

    Our own inboxes are skipped: local readers get the post through timelines here.
    """
    inboxes: set[str] = set()
    if visibility != Visibility.DIRECT.value:
        inboxes |= await follower_inboxes(session, actor_uri)
    inboxes |= {_inbox_of(a) for a in addressed}
    return {i for i in inboxes if not _is_ours(i, base_url)}


async def _earlier_inboxes(session: AsyncSession, actor: Actor, object_uri: str) -> set[str]:
    """Where this actor's earlier activities about `object_uri` went (edits and deletes
    must reach everyone who got the post, including followers who left since)."""
    rows = await session.scalars(
        select(Delivery.inbox_uri)
        .join(Activity, Activity.id == Delivery.activity_id)
        .where(Activity.object_uri == object_uri, Activity.actor_id == actor.id)
    )
    return set(rows)


async def _local_actor_ids(session: AsyncSession, base_url: str, uris: Iterable[str]) -> list[int]:
    prefix = base_url + "/users/"
    names = [u[len(prefix) :].lower() for u in uris if u.startswith(prefix)]
    if not names:
        return []
    return list(
        await session.scalars(
            select(Actor.id).where(Actor.username_key.in_(names), Actor.is_instance.is_(False))
        )
    )


# --- rendering (typed → wire) ---------------------------------------------------------------


def _recipients(status: Status) -> tuple[list[str], list[str]]:
    data = json.loads(status.recipients or "{}")
    to = data.get("to", []) if isinstance(data, dict) else []
    cc = data.get("cc", []) if isinstance(data, dict) else []
    return [str(x) for x in to], [str(x) for x in cc]


def _tags(status: Status) -> list[object]:
    data = json.loads(status.tags or "[]")
    return data if isinstance(data, list) else []


def stored_attachments(status: Status) -> list[Attachment]:
    """The post's media as stored (JSON list); unreadable entries are left out."""
    try:
        data = json.loads(status.attachments or "[]")
    except ValueError:
        return []
    found = (Attachment.from_json(d) for d in (data if isinstance(data, list) else []))
    return [a for a in found if a is not None]


def render_note(
    status: Status, *, context: bool = True, poll: Poll | None = None
) -> dict[str, object]:
    """Our Note, Article or Question as the wire and our object pages show it (typed → wire).

    A Question needs its `poll` (options and counts); without it, it renders as a Note."""
    to, cc = _recipients(status)
    doc: dict[str, object] = {}
    if context:
        doc["@context"] = NOTE_CONTEXT
    doc |= {
        "id": status.uri,
        "type": status.type,
        "attributedTo": status.actor_uri,
        "url": status.url or status.uri,
        "published": format_datetime(status.published_at),
        "to": to,
        "cc": cc,
    }
    if status.type == "Article":
        doc["name"] = status.name or ""
    # Absent rather than null (no summary, not a reply): strict ActivityStreams
    # validators refuse `null`, and Mastodon reads a missing key the same way.
    if status.summary:
        doc["summary"] = status.summary
    doc["sensitive"] = status.sensitive
    doc["content"] = status.content
    if status.language:
        doc["contentMap"] = {status.language: status.content}
    if status.in_reply_to_uri:
        doc["inReplyTo"] = status.in_reply_to_uri
    if status.edited_at is not None:
        doc["updated"] = format_datetime(status.edited_at)
    doc["tag"] = _tags(status)
    doc["attachment"] = [render_attachment(a) for a in stored_attachments(status)]
    if status.type == "Question":
        if poll is not None:
            doc |= question_fields(poll)
        else:
            doc["type"] = "Note"
    return doc


def create_activity_uri(status: Status) -> str:
    """Mastodon's form: the post's id plus `/activity` (dereferenceable)."""
    return f"{status.uri}/activity"


def render_create(
    status: Status, *, context: bool = True, poll: Poll | None = None
) -> dict[str, object]:
    to, cc = _recipients(status)
    doc: dict[str, object] = {"@context": NOTE_CONTEXT} if context else {}
    return doc | {
        "id": create_activity_uri(status),
        "type": "Create",
        "actor": status.actor_uri,
        "published": format_datetime(status.published_at),
        "to": to,
        "cc": cc,
        "object": render_note(status, context=False, poll=poll),
    }


def render_poll_update(status: Status, poll: Poll, now: datetime) -> dict[str, object]:
    """The Update that carries our Question's new counts (no `updated`: it is no edit,
    and Mastodon applies such an Update as a poll refresh)."""
    to, cc = _recipients(status)
    return {
        "@context": NOTE_CONTEXT,
        "id": new_activity_uri(status.actor_uri, "updates"),
        "published": format_datetime(now),
        "type": "Update",
        "actor": status.actor_uri,
        "to": to,
        "cc": cc,
        "object": render_note(status, context=False, poll=poll),
    }


def render_announce(wrapper: Status, target_uri: str, *, context: bool = True) -> dict[str, object]:
    """A boost as Mastodon sends it: the object is the boosted post's id only."""
    to, cc = _recipients(wrapper)
    doc: dict[str, object] = {"@context": AS_CONTEXT} if context else {}
    return doc | {
        "id": create_activity_uri(wrapper),
        "type": "Announce",
        "actor": wrapper.actor_uri,
        "published": format_datetime(wrapper.published_at),
        "to": to,
        "cc": cc,
        "object": target_uri,
    }


def render_tombstone(status: Status) -> dict[str, object]:
    doc: dict[str, object] = {"@context": AS_CONTEXT, "id": status.uri, "type": "Tombstone"}
    if status.deleted_at is not None:
        doc["deleted"] = format_datetime(status.deleted_at)
    return doc


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
    status.recipients = json.dumps({"to": to, "cc": cc}, ensure_ascii=False)
    status.tags = json.dumps(rendered.tags, ensure_ascii=False)


async def _reply_parent(session: AsyncSession, uri: str | None) -> Status | None:
    if not uri:
        return None
    return await session.scalar(select(Status).where(Status.uri == uri))


# --- publishing -----------------------------------------------------------------------------


async def publish(
    session: AsyncSession,
    *,
    actor: Actor,
    actor_uri: str,
    base_url: str,
    draft: Draft,
    mentions: dict[str, RemoteActor],
    now: datetime,
    author_user_id: int | None = None,
    blocked_domains: Iterable[str] = (),
) -> Status:
    """Store a new post, show it in local home timelines and enqueue its Create.

    Deliveries go to the followers' (shared) inboxes unless the post is direct, and
    to every mentioned actor; a direct post needs at least one resolved mention.
    Raises NewsError for invalid drafts. The caller commits.
    """
    _check(draft)
    if draft.poll is not None:
        if draft.title:
            raise NewsError("a poll has no title")
        try:
            check_draft(draft.poll)
        except PollError as exc:
            raise NewsError(str(exc)) from None
    rendered = render_content(
        draft.text, base_url=base_url, mentions=mentions, extra_tags=draft.tags
    )
    if draft.visibility == Visibility.DIRECT and not rendered.mentioned:
        raise NewsError("a direct post needs at least one mention that resolves (@user@host)")
    parent = await _reply_parent(session, draft.in_reply_to)
    mentioned_uris = [a.uri for a in rendered.mentioned]
    if parent is not None and parent.actor_uri != actor_uri:
        mentioned_uris.append(parent.actor_uri)
    to, cc = addressing(
        draft.visibility, followers_uri=f"{actor_uri}/followers", mentioned=mentioned_uris
    )
    status_id = snowflake(now)
    status = Status(
        id=status_id,
        uri=f"{actor_uri}/statuses/{status_id}",
        url=f"{base_url}/@{actor.username}/{status_id}",
        actor_uri=actor_uri,
        local_actor_id=actor.id,
        author_user_id=author_user_id,
        visibility=draft.visibility.value,
        in_reply_to_uri=draft.in_reply_to,
        reblog_of_id=None,
        replies_count=0,
        reblogs_count=0,
        favourites_count=0,
        published_at=now,
        edited_at=None,
        deleted_at=None,
        created_at=now,
    )
    _fill(status, draft=draft, rendered=rendered, to=to, cc=cc)
    session.add(status)
    await session.flush()
    poll = new_local_poll(status.id, draft.poll, now) if draft.poll is not None else None
    if poll is not None:
        session.add(poll)
        await session.flush()
    for uri in dict.fromkeys(mentioned_uris):
        session.add(Mention(status_id=status.id, actor_uri=uri))
    if parent is not None:
        parent.replies_count += 1
    readers = [actor.id, *await _local_actor_ids(session, base_url, mentioned_uris)]
    if draft.visibility != Visibility.DIRECT:
        readers += await local_followers(session, base_url, actor_uri)
    await add_to_timelines(session, status.id, readers)
    addressed = await _remote_actors(session, mentioned_uris)
    inboxes = await _recipient_inboxes(
        session,
        actor_uri=actor_uri,
        base_url=base_url,
        visibility=status.visibility,
        addressed=addressed,
    )
    await enqueue(
        session,
        actor=actor,
        activity=render_create(status, poll=poll),
        inboxes=inboxes,
        now=now,
        blocked_domains=blocked_domains,
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
    *,
    status: Status,
    actor: Actor,
    actor_uri: str,
    base_url: str,
    draft: Draft,
    mentions: dict[str, RemoteActor],
    now: datetime,
    blocked_domains: Iterable[str] = (),
) -> Status:
    """Re-render the post from `draft` and enqueue an Update with a newer `updated`.

    Visibility and the reply target cannot change (Mastodon does not allow it either):
    `draft.visibility` and `draft.in_reply_to` are ignored. The Update goes to everyone
    the post went to, plus current followers and newly mentioned actors. The caller commits.
    """
    _own(status, actor)
    _check(draft)
    visibility = Visibility(status.visibility)
    rendered = render_content(
        draft.text, base_url=base_url, mentions=mentions, extra_tags=draft.tags
    )
    if visibility == Visibility.DIRECT and not rendered.mentioned:
        raise NewsError("a direct post needs at least one mention that resolves (@user@host)")
    parent = await _reply_parent(session, status.in_reply_to_uri)
    mentioned_uris = [a.uri for a in rendered.mentioned]
    if parent is not None and parent.actor_uri != actor_uri:
        mentioned_uris.append(parent.actor_uri)
    to, cc = addressing(
        visibility, followers_uri=f"{actor_uri}/followers", mentioned=mentioned_uris
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
    await session.execute(sql_delete(Mention).where(Mention.status_id == status.id))
    for uri in dict.fromkeys(mentioned_uris):
        session.add(Mention(status_id=status.id, actor_uri=uri))
    await add_to_timelines(
        session, status.id, await _local_actor_ids(session, base_url, mentioned_uris)
    )
    inboxes = await _recipient_inboxes(
        session,
        actor_uri=actor_uri,
        base_url=base_url,
        visibility=status.visibility,
        addressed=await _remote_actors(session, mentioned_uris),
    )
    inboxes |= await _earlier_inboxes(session, actor, status.uri)
    update: dict[str, object] = {
        "@context": NOTE_CONTEXT,
        "id": new_activity_uri(actor_uri, "updates"),
        "type": "Update",
        "actor": actor_uri,
        "published": format_datetime(status.edited_at),
        "to": to,
        "cc": cc,
        "object": render_note(status, context=False, poll=await session.get(Poll, status.id)),
    }
    await enqueue(
        session,
        actor=actor,
        activity=update,
        inboxes=inboxes,
        now=now,
        blocked_domains=blocked_domains,
    )
    return status


async def delete(
    session: AsyncSession,
    *,
    status: Status,
    actor: Actor,
    actor_uri: str,
    now: datetime,
    blocked_domains: Iterable[str] = (),
) -> None:
    """Mark the post deleted (its pages answer 410) and enqueue Delete{Tombstone} to
    everyone it went to. Local boosts of it go too. The caller commits."""
    _own(status, actor)
    to, cc = _recipients(status)
    mentioned = list(
        await session.scalars(select(Mention.actor_uri).where(Mention.status_id == status.id))
    )
    base_url = actor_uri.split("/users/", 1)[0]
    inboxes = await _recipient_inboxes(
        session,
        actor_uri=actor_uri,
        base_url=base_url,
        visibility=status.visibility,
        addressed=await _remote_actors(session, mentioned),
    )
    inboxes |= await _earlier_inboxes(session, actor, status.uri)
    status.deleted_at = now
    parent = await _reply_parent(session, status.in_reply_to_uri)
    if parent is not None and parent.replies_count > 0:
        parent.replies_count -= 1
    await session.execute(sql_delete(TimelineEntry).where(TimelineEntry.status_id == status.id))
    await session.execute(sql_delete(Status).where(Status.reblog_of_id == status.id))
    activity: dict[str, object] = {
        "@context": AS_CONTEXT,
        "id": new_activity_uri(actor_uri, "deletes"),
        "type": "Delete",
        "actor": actor_uri,
        "to": to,
        "cc": cc,
        "object": {"id": status.uri, "type": "Tombstone", "atomUri": status.uri},
    }
    await enqueue(
        session,
        actor=actor,
        activity=activity,
        inboxes=inboxes,
        now=now,
        blocked_domains=blocked_domains,
    )


# --- boosts ---------------------------------------------------------------------------------


async def find_boost(session: AsyncSession, actor_uri: str, target: Status) -> Status | None:
    return await session.scalar(
        select(Status).where(Status.actor_uri == actor_uri, Status.reblog_of_id == target.id)
    )


async def _boost_inboxes(
    session: AsyncSession, *, actor_uri: str, base_url: str, target: Status
) -> set[str]:
    return await _recipient_inboxes(
        session,
        actor_uri=actor_uri,
        base_url=base_url,
        visibility=Visibility.PUBLIC.value,
        addressed=await _remote_actors(session, [target.actor_uri]),
    )


async def boost(
    session: AsyncSession,
    *,
    actor: Actor,
    actor_uri: str,
    base_url: str,
    target: Status,
    now: datetime,
    blocked_domains: Iterable[str] = (),
) -> Status:
    """Announce `target` to our followers and its author: how a parent organisation
    relays its branches' news.

    Only public and unlisted posts can be boosted (Mastodon ignores boosts of others).
    Boosting twice returns the first boost. The caller commits.
    """
    if target.reblog_of_id is not None:
        raise NewsError("boost the original post, not a boost of it")
    if target.deleted_at is not None:
        raise NewsError("the post was deleted")
    if target.visibility not in (Visibility.PUBLIC.value, Visibility.UNLISTED.value):
        raise NewsError("only public and unlisted posts can be boosted")
    existing = await find_boost(session, actor_uri, target)
    if existing is not None:
        return existing
    cc = [f"{actor_uri}/followers"]
    if target.actor_uri != actor_uri:
        cc.append(target.actor_uri)
    wrapper_id = snowflake(now)
    wrapper = Status(
        id=wrapper_id,
        uri=f"{actor_uri}/statuses/{wrapper_id}",
        url=f"{base_url}/@{actor.username}/{wrapper_id}",
        actor_uri=actor_uri,
        local_actor_id=actor.id,
        author_user_id=None,
        type="Announce",
        name=None,
        summary="",
        content="",
        source=None,
        language=None,
        sensitive=False,
        visibility=Visibility.PUBLIC.value,
        in_reply_to_uri=None,
        reblog_of_id=target.id,
        recipients=json.dumps({"to": [PUBLIC], "cc": cc}),
        tags="[]",
        replies_count=0,
        reblogs_count=0,
        favourites_count=0,
        published_at=now,
        edited_at=None,
        deleted_at=None,
        created_at=now,
    )
    session.add(wrapper)
    await session.flush()
    target.reblogs_count += 1
    readers = [actor.id, *await local_followers(session, base_url, actor_uri)]
    await add_to_timelines(session, wrapper.id, readers)
    inboxes = await _boost_inboxes(session, actor_uri=actor_uri, base_url=base_url, target=target)
    await enqueue(
        session,
        actor=actor,
        activity=render_announce(wrapper, target.uri),
        inboxes=inboxes,
        now=now,
        blocked_domains=blocked_domains,
    )
    return wrapper


async def unboost(
    session: AsyncSession,
    *,
    actor: Actor,
    actor_uri: str,
    base_url: str,
    target: Status,
    now: datetime,
    blocked_domains: Iterable[str] = (),
) -> None:
    """Undo our Announce of `target` (embedding it) and drop the boost. The caller commits."""
    wrapper = await find_boost(session, actor_uri, target)
    if wrapper is None:
        raise NewsError(f"{actor.username} has not boosted this post")
    announce = render_announce(wrapper, target.uri, context=False)
    inboxes = await _boost_inboxes(session, actor_uri=actor_uri, base_url=base_url, target=target)
    inboxes |= set(
        await session.scalars(
            select(Delivery.inbox_uri)
            .join(Activity, Activity.id == Delivery.activity_id)
            .where(Activity.uri == create_activity_uri(wrapper))
        )
    )
    undo: dict[str, object] = {
        "@context": AS_CONTEXT,
        "id": new_activity_uri(actor_uri, "undos"),
        "type": "Undo",
        "actor": actor_uri,
        "to": announce["to"],
        "cc": announce["cc"],
        "object": announce,
    }
    await session.delete(wrapper)
    if target.reblogs_count > 0:
        target.reblogs_count -= 1
    await enqueue(
        session,
        actor=actor,
        activity=undo,
        inboxes=inboxes,
        now=now,
        blocked_domains=blocked_domains,
    )


# --- reading our published posts (outbox, pages, feeds) ------------------------------------

LISTED = (Visibility.PUBLIC.value, Visibility.UNLISTED.value)


async def count_listed(session: AsyncSession, actor_uri: str) -> int:
    """How many public and unlisted posts and boosts an actor has (the outbox's totalItems)."""
    n = await session.scalar(
        select(func.count())
        .select_from(Status)
        .where(
            Status.actor_uri == actor_uri,
            Status.deleted_at.is_(None),
            Status.visibility.in_(LISTED),
        )
    )
    return int(n or 0)


async def boosted_uris(session: AsyncSession, wrappers: Iterable[Status]) -> dict[int, str]:
    """reblog_of_id → the boosted post's id, for rendering Announces."""
    ids = {w.reblog_of_id for w in wrappers if w.reblog_of_id is not None}
    if not ids:
        return {}
    rows = await session.execute(select(Status.id, Status.uri).where(Status.id.in_(ids)))
    return {row_id: uri for row_id, uri in rows}


async def outbox_items(
    session: AsyncSession, actor_uri: str, page: Page
) -> list[tuple[Status, dict[str, object]]]:
    """A page of the outbox, newest first: Create for posts, Announce for boosts."""
    rows = await actor_statuses(session, actor_uri, page, visibilities=LISTED)
    targets = await boosted_uris(session, rows)
    polls = await polls_of(session, [r.id for r in rows if r.type == "Question"])
    out: list[tuple[Status, dict[str, object]]] = []
    for row in rows:
        if row.reblog_of_id is None:
            out.append((row, render_create(row, context=False, poll=polls.get(row.id))))
        elif row.reblog_of_id in targets:
            out.append((row, render_announce(row, targets[row.reblog_of_id], context=False)))
    return out


async def public_posts(session: AsyncSession, actor_uri: str, *, limit: int = 20) -> list[Status]:
    """An actor's newest public posts, boosts left out (feeds, profile pages)."""
    rows = await session.scalars(
        select(Status)
        .where(
            Status.actor_uri == actor_uri,
            Status.deleted_at.is_(None),
            Status.visibility == Visibility.PUBLIC.value,
            Status.reblog_of_id.is_(None),
        )
        .order_by(Status.id.desc())
        .limit(limit)
    )
    return list(rows)


async def tagged_posts(session: AsyncSession, tag: str, *, limit: int = 40) -> list[Status]:
    """Our public posts filed under a hashtag (newest first)."""
    name = normalize_hashtag(tag)
    needle = json.dumps({"name": f"#{name}"}, ensure_ascii=False)[1:-1]
    rows = await session.scalars(
        select(Status)
        .where(
            Status.local_actor_id.is_not(None),
            Status.deleted_at.is_(None),
            Status.visibility == Visibility.PUBLIC.value,
            Status.reblog_of_id.is_(None),
            Status.tags.contains(needle),
        )
        .order_by(Status.id.desc())
        .limit(limit)
    )
    # LIKE narrows the search; the tag list decides.
    return [
        s
        for s in rows
        if any(isinstance(t, dict) and t.get("name") == f"#{name}" for t in _tags(s))
    ]


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
    in_text = {normalize_hashtag(m.group(1)) for m in _HASHTAG.finditer(source)}
    extra = tuple(
        name[1:]
        for t in _tags(status)
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
