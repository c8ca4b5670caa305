"""Tables for local actors (and, later, cached remote actors and their keys)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Identity, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from actors.base import Base


class ActorType(enum.StrEnum):
    ORGANIZATION = "Organization"
    GROUP = "Group"
    PERSON = "Person"
    APPLICATION = "Application"


class Actor(Base):
    """A local actor. `username_key` is the lower-cased username: lookups ignore case."""

    __tablename__ = "actors"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    username_key: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(20))
    display_name: Mapped[str] = mapped_column(default="")
    summary: Mapped[str] = mapped_column(default="")
    icon_url: Mapped[str | None] = mapped_column(default=None)
    manually_approves: Mapped[bool] = mapped_column(Boolean, default=False)
    discoverable: Mapped[bool] = mapped_column(Boolean, default=True)
    is_instance: Mapped[bool] = mapped_column(Boolean, default=False)
    hide_collections: Mapped[bool] = mapped_column(Boolean, default=False)
    private_key_pem: Mapped[str]
    public_key_pem: Mapped[str]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RemoteActor(Base):
    """A cached remote actor document (what we need to address and show it)."""

    __tablename__ = "remote_actors"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    uri: Mapped[str] = mapped_column(unique=True)
    type: Mapped[str] = mapped_column(String(20))
    username: Mapped[str]
    domain: Mapped[str] = mapped_column(index=True)
    inbox_uri: Mapped[str]
    shared_inbox_uri: Mapped[str | None]
    outbox_uri: Mapped[str | None]
    followers_uri: Mapped[str | None]
    following_uri: Mapped[str | None]
    display_name: Mapped[str] = mapped_column(default="")
    summary: Mapped[str] = mapped_column(default="")
    url: Mapped[str | None]
    icon_url: Mapped[str | None]
    manually_approves: Mapped[bool] = mapped_column(Boolean, default=False)
    discoverable: Mapped[bool] = mapped_column(Boolean, default=False)
    fetched_at: Mapped[datetime]


class RemoteKey(Base):
    """A remote public key by its keyId; `owner_uri` was checked to list this key."""

    __tablename__ = "remote_keys"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    key_uri: Mapped[str] = mapped_column(unique=True)
    owner_uri: Mapped[str] = mapped_column(index=True)
    public_key_pem: Mapped[str]
    fetched_at: Mapped[datetime]


class FollowState(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"


class Follow(Base):
    """One follow relation between two actors, identified by URI (either side may be local).

    `activity_uri` is the Follow's id exactly as sent or received: Mastodon
    matches Accept/Reject by it, and it need not be dereferenceable.
    """

    __tablename__ = "follows"
    __table_args__ = (UniqueConstraint("follower_uri", "followed_uri"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    follower_uri: Mapped[str]
    followed_uri: Mapped[str] = mapped_column(index=True)
    activity_uri: Mapped[str] = mapped_column(index=True)
    state: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Block(Base):
    """A remote actor blocked one of ours: nothing more is delivered to it from that actor."""

    __tablename__ = "blocks"
    __table_args__ = (UniqueConstraint("blocker_uri", "blocked_uri"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    blocker_uri: Mapped[str] = mapped_column(index=True)
    blocked_uri: Mapped[str]
    activity_uri: Mapped[str]
    created_at: Mapped[datetime]
