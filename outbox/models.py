"""Tables of the transactional outbox: activities we published and their delivery jobs."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from actors.base import Base, str_enum


class Activity(Base):
    """An activity one of our actors published; `body` is the exact JSON we send."""

    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    uri: Mapped[str] = mapped_column(unique=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    object_uri: Mapped[str | None] = mapped_column(index=True)
    body: Mapped[str]
    created_at: Mapped[datetime]


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    DEAD = "dead"


class Delivery(Base):
    """One POST of one activity to one inbox. Stored unsigned; signed at each attempt.

    A worker claims a job by setting `locked_until`/`locked_by`; a job whose lock
    has lapsed (its worker died) is claimed again, so only attempts in flight at
    a crash are ever repeated.
    """

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), index=True
    )
    inbox_uri: Mapped[str]
    host: Mapped[str] = mapped_column(index=True)
    state: Mapped[DeliveryState] = mapped_column(str_enum(DeliveryState, 10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    locked_by: Mapped[str | None] = mapped_column(String(64))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class DeliveryAttempt(Base):
    """One attempt of one delivery, kept for `verbund deliveries show`: when, what the
    peer answered (or what went wrong), and with which signature scheme. A push past a
    paused host's pause counts as an attempt too (outcome "deferred", no status)."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(10))  # outbox.retry.Outcome or "deferred"
    status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(default="")
    signature_scheme: Mapped[str | None] = mapped_column(String(20))


class DeliveryHost(Base):
    """Per remote host: failure streak, pause, and the signature scheme that worked."""

    __tablename__ = "delivery_hosts"

    host: Mapped[str] = mapped_column(primary_key=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    paused_until: Mapped[datetime | None]
    signature_scheme: Mapped[str | None] = mapped_column(String(20))
    last_success_at: Mapped[datetime | None]
    last_failure_at: Mapped[datetime | None]


class Visibility(enum.StrEnum):
    PUBLIC = "public"
    UNLISTED = "unlisted"
    PRIVATE = "private"  # followers only
    DIRECT = "direct"


class Status(Base):
    """A post (Note, Article, Question or another object type), ours or received, or a
    boost wrapper (`reblog_of_id`).

    Lives in `outbox` because both publishing and `inbox` use it and `inbox` may
    import `outbox`. `id` is a Mastodon-style snowflake (digit-only, sorted by age).
    `author_user_id` records which person wrote a local post (staff-only, never
    published). A deleted post keeps its row with `deleted_at` set (Tombstone, 410).
    """

    __tablename__ = "statuses"
    __table_args__ = (
        Index("ix_statuses_actor_uri_id", "actor_uri", "id"),
        # Account stats (posts, last post) count an author's posts from the index alone:
        # every Account entity in a timeline asks for them.
        Index("ix_statuses_actor_uri_deleted_published", "actor_uri", "deleted_at", "published_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    uri: Mapped[str] = mapped_column(unique=True)
    url: Mapped[str | None]
    actor_uri: Mapped[str]
    local_actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("actors.id", ondelete="CASCADE"), index=True
    )
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    type: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None]
    summary: Mapped[str] = mapped_column(default="")
    content: Mapped[str] = mapped_column(default="")
    source: Mapped[str | None]
    language: Mapped[str | None] = mapped_column(String(16))
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    visibility: Mapped[Visibility] = mapped_column(str_enum(Visibility, 10))
    in_reply_to_uri: Mapped[str | None]
    reblog_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("statuses.id", ondelete="CASCADE"), index=True
    )
    recipients: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"to": [...], "cc": [...]}
    # AS tag objects; the hashtags among them are also rows of `status_tags`, for search.
    tags: Mapped[list[Any]] = mapped_column(default=list)
    # Media (`outbox.media.Attachment.as_json`); only http(s) URLs, never fetched.
    attachments: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    replies_count: Mapped[int] = mapped_column(Integer, default=0)
    reblogs_count: Mapped[int] = mapped_column(Integer, default=0)
    favourites_count: Mapped[int] = mapped_column(Integer, default=0)
    published_at: Mapped[datetime]
    edited_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class StatusTag(Base):
    """A hashtag a post is filed under, by `outbox.content.hashtag_key` (no `#`): the tag
    timeline and the API's `tagged` filter look posts up here, not in the `tags` JSON.
    Kept in step with `Status.tags` by `outbox.statuses.store_tags`."""

    __tablename__ = "status_tags"
    __table_args__ = (Index("ix_status_tags_tag_status_id", "tag", "status_id"),)

    status_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("statuses.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(primary_key=True)


class Mention(Base):
    """An actor a post mentions (addressing for direct posts, notifications)."""

    __tablename__ = "mentions"
    __table_args__ = (UniqueConstraint("status_id", "actor_uri"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    status_id: Mapped[int] = mapped_column(ForeignKey("statuses.id", ondelete="CASCADE"))
    actor_uri: Mapped[str] = mapped_column(index=True)


class Favourite(Base):
    """A Like received for (or sent about) a post."""

    __tablename__ = "favourites"
    __table_args__ = (UniqueConstraint("status_id", "actor_uri"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    status_id: Mapped[int] = mapped_column(ForeignKey("statuses.id", ondelete="CASCADE"))
    actor_uri: Mapped[str]
    activity_uri: Mapped[str] = mapped_column(index=True)
    created_at: Mapped[datetime]


class TimelineEntry(Base):
    """Fan-out on write: a post shown in a local actor's home timeline."""

    __tablename__ = "timeline_entries"
    __table_args__ = (UniqueConstraint("actor_id", "status_id"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    status_id: Mapped[int] = mapped_column(
        ForeignKey("statuses.id", ondelete="CASCADE"), index=True
    )


class Tombstone(Base):
    """A Delete seen for an id we do not (yet) have: a later Create for it is refused."""

    __tablename__ = "tombstones"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    uri: Mapped[str] = mapped_column(unique=True)
    deleted_at: Mapped[datetime]


class Poll(Base):
    """The poll of a `Question` post (ours or received); one per post, its id is the post's.

    `options` is a JSON list of `{"title", "votes_count"}` in the Question's order. For our
    polls the counts are derived from `poll_votes`; for remote ones they are the author's
    counts (`replies.totalItems`) as last sent, plus the votes cast here since.
    """

    __tablename__ = "polls"

    status_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("statuses.id", ondelete="CASCADE"), primary_key=True
    )
    is_multiple: Mapped[bool] = mapped_column(Boolean, default=False)
    hides_totals: Mapped[bool] = mapped_column(Boolean, default=False)
    options: Mapped[list[Any]] = mapped_column(default=list)
    voters_count: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class PollVote(Base):
    """One choice of one voter (local or remote actor) in a poll; a voter picks an option
    once, and only one option unless the poll is `is_multiple`."""

    __tablename__ = "poll_votes"
    __table_args__ = (UniqueConstraint("poll_id", "voter_uri", "choice"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    poll_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("polls.status_id", ondelete="CASCADE"), index=True
    )
    voter_uri: Mapped[str]
    choice: Mapped[int] = mapped_column(Integer)
    uri: Mapped[str | None]  # the vote Note's id (received), or the one we sent
    created_at: Mapped[datetime]
