"""Our posts on the wire (typed → wire): Note, Article, Question, and the activities that
carry them (Create, Update, Announce, Delete, Undo), plus Tombstone.

The outbox turns its rows into the frozen dataclasses here; only this module builds the
JSON. Shapes follow federation-contract §5 and Mastodon's serializers
(note_serializer.rb, activity_serializer.rb). Pure: no database, no clock, no config.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from federation.documents import AS_CONTEXT, format_datetime
from federation.media import Attachment, QuestionPoll, render_attachment

__all__ = [
    "NOTE_CONTEXT",
    "PUBLIC",
    "PostTag",
    "PostView",
    "render_announce",
    "render_create",
    "render_delete",
    "render_note",
    "render_poll_update",
    "render_tombstone",
    "render_undo_announce",
    "render_update",
    "render_vote",
]

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


@dataclass(frozen=True, slots=True)
class PostTag:
    """A `Mention` or `Hashtag` of a post."""

    type: str
    href: str
    name: str


@dataclass(frozen=True, slots=True)
class PostView:
    """One of our posts (or boosts) as the wire shows it.

    `type` is Note, Article, Question or Announce. A Question renders its `poll`; without
    one it renders as a Note.
    """

    uri: str
    type: str
    actor_uri: str
    url: str
    published_at: datetime
    to: tuple[str, ...]
    cc: tuple[str, ...]
    name: str | None = None
    summary: str = ""
    sensitive: bool = False
    content: str = ""
    language: str | None = None
    in_reply_to_uri: str | None = None
    edited_at: datetime | None = None
    deleted_at: datetime | None = None
    tags: tuple[PostTag, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    poll: QuestionPoll | None = None
    activity_uri: str = ""  # the Create (or Announce) that published it; ours only


def _render_tag(tag: PostTag) -> dict[str, object]:
    return {"type": tag.type, "href": tag.href, "name": tag.name}


def _question_fields(poll: QuestionPoll) -> dict[str, object]:
    """The poll part of our Question (Mastodon's NoteSerializer)."""
    options = [
        {"type": "Note", "name": title, "replies": {"type": "Collection", "totalItems": votes}}
        for title, votes in poll.options
    ]
    doc: dict[str, object] = {"anyOf" if poll.multiple else "oneOf": options}
    if poll.expires_at is not None:
        doc["endTime"] = format_datetime(poll.expires_at)
    if poll.closed_at is not None:
        doc["closed"] = format_datetime(poll.closed_at)
    doc["votersCount"] = poll.voters_count or 0
    return doc


def render_note(post: PostView, *, context: bool = True) -> dict[str, object]:
    """Our Note, Article or Question as the wire and our object pages show it."""
    doc: dict[str, object] = {}
    if context:
        doc["@context"] = NOTE_CONTEXT
    doc |= {
        "id": post.uri,
        "type": post.type,
        "attributedTo": post.actor_uri,
        "url": post.url,
        "published": format_datetime(post.published_at),
        "to": list(post.to),
        "cc": list(post.cc),
    }
    if post.type == "Article":
        doc["name"] = post.name or ""
    # Absent rather than null (no summary, not a reply): strict ActivityStreams
    # validators refuse `null`, and Mastodon reads a missing key the same way.
    if post.summary:
        doc["summary"] = post.summary
    doc["sensitive"] = post.sensitive
    doc["content"] = post.content
    if post.language:
        doc["contentMap"] = {post.language: post.content}
    if post.in_reply_to_uri:
        doc["inReplyTo"] = post.in_reply_to_uri
    if post.edited_at is not None:
        doc["updated"] = format_datetime(post.edited_at)
    doc["tag"] = [_render_tag(t) for t in post.tags]
    doc["attachment"] = [render_attachment(a) for a in post.attachments]
    if post.type == "Question":
        if post.poll is not None:
            doc |= _question_fields(post.poll)
        else:
            doc["type"] = "Note"
    return doc


def render_create(post: PostView, *, context: bool = True) -> dict[str, object]:
    doc: dict[str, object] = {"@context": NOTE_CONTEXT} if context else {}
    return doc | {
        "id": post.activity_uri,
        "type": "Create",
        "actor": post.actor_uri,
        "published": format_datetime(post.published_at),
        "to": list(post.to),
        "cc": list(post.cc),
        "object": render_note(post, context=False),
    }


def render_update(post: PostView, *, activity_uri: str) -> dict[str, object]:
    """An edit: `published` is the post's new `updated`."""
    assert post.edited_at is not None, "an edited post has edited_at"
    return {
        "@context": NOTE_CONTEXT,
        "id": activity_uri,
        "type": "Update",
        "actor": post.actor_uri,
        "published": format_datetime(post.edited_at),
        "to": list(post.to),
        "cc": list(post.cc),
        "object": render_note(post, context=False),
    }


def render_poll_update(post: PostView, *, activity_uri: str, now: datetime) -> dict[str, object]:
    """The Update that carries our Question's new counts (no `updated`: it is no edit,
    and Mastodon applies such an Update as a poll refresh)."""
    return {
        "@context": NOTE_CONTEXT,
        "id": activity_uri,
        "published": format_datetime(now),
        "type": "Update",
        "actor": post.actor_uri,
        "to": list(post.to),
        "cc": list(post.cc),
        "object": render_note(post, context=False),
    }


def render_announce(boost: PostView, target_uri: str, *, context: bool = True) -> dict[str, object]:
    """A boost as Mastodon sends it: the object is the boosted post's id only."""
    doc: dict[str, object] = {"@context": AS_CONTEXT} if context else {}
    return doc | {
        "id": boost.activity_uri,
        "type": "Announce",
        "actor": boost.actor_uri,
        "published": format_datetime(boost.published_at),
        "to": list(boost.to),
        "cc": list(boost.cc),
        "object": target_uri,
    }


def render_undo_announce(
    boost: PostView, target_uri: str, *, activity_uri: str
) -> dict[str, object]:
    """Undo of our Announce of `target_uri`, embedding it with its addressing."""
    return {
        "@context": AS_CONTEXT,
        "id": activity_uri,
        "type": "Undo",
        "actor": boost.actor_uri,
        "to": list(boost.to),
        "cc": list(boost.cc),
        "object": render_announce(boost, target_uri, context=False),
    }


def render_delete(post: PostView, *, activity_uri: str) -> dict[str, object]:
    """Delete of a post, its object a Tombstone (Mastodon's `atomUri` included)."""
    return {
        "@context": AS_CONTEXT,
        "id": activity_uri,
        "type": "Delete",
        "actor": post.actor_uri,
        "to": list(post.to),
        "cc": list(post.cc),
        "object": {"id": post.uri, "type": "Tombstone", "atomUri": post.uri},
    }


def render_tombstone(post: PostView) -> dict[str, object]:
    doc: dict[str, object] = {"@context": AS_CONTEXT, "id": post.uri, "type": "Tombstone"}
    if post.deleted_at is not None:
        doc["deleted"] = format_datetime(post.deleted_at)
    return doc


def render_vote(
    *,
    voter_uri: str,
    vote_uri: str,
    activity_uri: str,
    title: str,
    question_uri: str,
    author_uri: str,
) -> dict[str, object]:
    """A Create(Note) carrying one vote on a remote Question, exactly as Mastodon's
    VoteSerializer shapes it (`vote_uri` is `LocalUris.vote`, `activity_uri` the
    Create's id)."""
    return {
        "@context": AS_CONTEXT,
        "id": activity_uri,
        "type": "Create",
        "actor": voter_uri,
        "to": author_uri,  # one URI, not a list: Mastodon's serializer sends it so
        "object": {
            "id": vote_uri,
            "type": "Note",
            "name": title,
            "attributedTo": voter_uri,
            "to": author_uri,
            "inReplyTo": question_uri,
        },
    }
