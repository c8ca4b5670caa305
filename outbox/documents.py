"""Our stored posts as the wire shows them: rows → `federation.rendering.PostView`, then
the converters there build the JSON (Note/Article/Question, Create, Update, Announce,
Tombstone).

Must not import `inbox` or `server`.
"""

from __future__ import annotations

from datetime import datetime

from actors.uris import LocalUris
from federation import rendering
from federation.media import Attachment, QuestionPoll
from federation.rendering import NOTE_CONTEXT, PostTag, PostView
from outbox.models import Poll, Status
from outbox.polls import options_of
from outbox.publish import new_activity_uri

__all__ = [
    "NOTE_CONTEXT",
    "create_activity_uri",
    "post_view",
    "recipients_of",
    "render_announce",
    "render_create",
    "render_note",
    "render_poll_update",
    "render_tombstone",
    "stored_attachments",
    "tags_of",
]


def recipients_of(status: Status) -> tuple[list[str], list[str]]:
    """The stored (to, cc) of a post."""
    data = status.recipients
    to = data.get("to", []) if isinstance(data, dict) else []
    cc = data.get("cc", []) if isinstance(data, dict) else []
    return [str(x) for x in to], [str(x) for x in cc]


def tags_of(status: Status) -> list[object]:
    """The stored `tag` list of a post (JSON objects, as rendered when it was written)."""
    data = status.tags
    return data if isinstance(data, list) else []


def stored_attachments(status: Status) -> list[Attachment]:
    """The post's media as stored (JSON list); unreadable entries are left out."""
    data = status.attachments
    found = (Attachment.from_json(d) for d in (data if isinstance(data, list) else []))
    return [a for a in found if a is not None]


def _post_tags(status: Status) -> tuple[PostTag, ...]:
    return tuple(
        PostTag(type=t["type"], href=t["href"], name=t["name"])
        for t in tags_of(status)
        if isinstance(t, dict)
        and isinstance(t.get("type"), str)
        and isinstance(t.get("href"), str)
        and isinstance(t.get("name"), str)
    )


def _question(poll: Poll) -> QuestionPoll:
    return QuestionPoll(
        options=tuple(options_of(poll)),
        multiple=poll.is_multiple,
        expires_at=poll.expires_at,
        closed_at=poll.closed_at,
        voters_count=poll.voters_count,
    )


def _activity_uri(status: Status) -> str:
    try:
        return create_activity_uri(status)
    except ValueError:  # not a post of ours: nothing published it here
        return ""


def post_view(status: Status, *, poll: Poll | None = None) -> PostView:
    """A stored post (and its poll, for a Question) as `federation.rendering` takes it."""
    to, cc = recipients_of(status)
    return PostView(
        uri=status.uri,
        type=status.type,
        actor_uri=status.actor_uri,
        url=status.url or status.uri,
        published_at=status.published_at,
        to=tuple(to),
        cc=tuple(cc),
        name=status.name,
        summary=status.summary or "",
        sensitive=status.sensitive,
        content=status.content,
        language=status.language,
        in_reply_to_uri=status.in_reply_to_uri,
        edited_at=status.edited_at,
        deleted_at=status.deleted_at,
        tags=_post_tags(status),
        attachments=tuple(stored_attachments(status)),
        poll=_question(poll) if poll is not None else None,
        activity_uri=_activity_uri(status),
    )


def render_note(
    status: Status, *, context: bool = True, poll: Poll | None = None
) -> dict[str, object]:
    """Our Note, Article or Question as the wire and our object pages show it (typed → wire).

    A Question needs its `poll` (options and counts); without it, it renders as a Note."""
    return rendering.render_note(post_view(status, poll=poll), context=context)


def create_activity_uri(status: Status) -> str:
    """The Create (or Announce) that published one of our posts: Mastodon's form, the
    post's id plus `/activity` (dereferenceable)."""
    return LocalUris.of_actor(status.actor_uri).activity_of(status.uri)


def render_create(
    status: Status, *, context: bool = True, poll: Poll | None = None
) -> dict[str, object]:
    return rendering.render_create(post_view(status, poll=poll), context=context)


def render_poll_update(status: Status, poll: Poll, now: datetime) -> dict[str, object]:
    """The Update that carries our Question's new counts (no `updated`: it is no edit,
    and Mastodon applies such an Update as a poll refresh)."""
    return rendering.render_poll_update(
        post_view(status, poll=poll),
        activity_uri=new_activity_uri(status.actor_uri, "updates"),
        now=now,
    )


def render_announce(wrapper: Status, target_uri: str, *, context: bool = True) -> dict[str, object]:
    """A boost as Mastodon sends it: the object is the boosted post's id only."""
    return rendering.render_announce(post_view(wrapper), target_uri, context=context)


def render_tombstone(status: Status) -> dict[str, object]:
    return rendering.render_tombstone(post_view(status))
