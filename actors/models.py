"""Tables for local actors (and, later, cached remote actors and their keys)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from actors.base import Base, str_enum


class ActorType(enum.StrEnum):
    ORGANIZATION = "Organization"
    GROUP = "Group"
    PERSON = "Person"
    APPLICATION = "Application"


class Actor(Base):
    """A local actor. `username_key` is the lower-cased username: lookups ignore case."""

    __tablename__ = "actors"
    # Postal-prefix searches are left-anchored patterns (actors.directory, migration 0011).
    __table_args__ = (
        Index(
            "ix_actors_postal_prefix",
            "postal_prefix",
            postgresql_ops={"postal_prefix": "text_pattern_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    username_key: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[ActorType] = mapped_column(str_enum(ActorType, 20))
    display_name: Mapped[str] = mapped_column(default="")
    summary: Mapped[str] = mapped_column(default="")
    icon_url: Mapped[str | None] = mapped_column(default=None)
    header_url: Mapped[str | None] = mapped_column(default=None)  # the profile's header image
    manually_approves: Mapped[bool] = mapped_column(Boolean, default=False)
    discoverable: Mapped[bool] = mapped_column(Boolean, default=True)
    is_instance: Mapped[bool] = mapped_column(Boolean, default=False)
    hide_collections: Mapped[bool] = mapped_column(Boolean, default=False)
    # A Group whose posts only its members (accepted followers) see (outbox.groups).
    members_only: Mapped[bool] = mapped_column(Boolean, default=False)
    private_key_pem: Mapped[str]
    public_key_pem: Mapped[str]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # The directory profile (actors.regions, actors.profile). `region_code` is an upper-case
    # ISO 3166-1/3166-2 code or None; `interests` the hashtag names as typed, without `#`
    # (their keys are in actor_interests). `indexable` is FEP-5feb's: posts may be indexed.
    region_code: Mapped[str | None] = mapped_column(String(6), default=None, index=True)
    locality: Mapped[str] = mapped_column(default="")
    postal_prefix: Mapped[str] = mapped_column(String(10), default="")
    interests: Mapped[list[Any]] = mapped_column(default=list)
    indexable: Mapped[bool] = mapped_column(Boolean, default=False)
    # When what the directory shows of this actor last changed (its `?since=` cursor),
    # including turning discoverable off: peers learn of that as a Tombstone.
    profile_changed_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    # A one-off alias that sends an anonymous contact request (issue 14, `actors.aliases`):
    # never listed anywhere. `alias_of_id` (the real actor) and `alias_for_uri` (the one
    # recipient it may talk to) exist only on the requester's instance; `alias_of_id` is
    # cleared when the alias is retired, so the mapping goes with it.
    is_alias: Mapped[bool] = mapped_column(Boolean, default=False)
    alias_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("actors.id", ondelete="CASCADE"), default=None, index=True
    )
    alias_for_uri: Mapped[str | None] = mapped_column(default=None)
    # When the alias was retired (declined, expired). `alias_of_id` outlives it by the
    # report window (`contacts.report_window`), so that a report of the alias that
    # arrives after the Reject still names the real actor; then it is cleared.
    alias_retired_at: Mapped[datetime | None] = mapped_column(default=None)


class ActorInterest(Base):
    """One interest of a local actor by its hashtag key (`federation.hashtags.hashtag_key`),
    so that directory searches by interest are an indexed lookup."""

    __tablename__ = "actor_interests"
    # (tag_key, actor_id): an interest search reads the ids from the index alone.
    __table_args__ = (Index("ix_actor_interests_tag_key_actor_id", "tag_key", "actor_id"),)

    actor_id: Mapped[int] = mapped_column(
        ForeignKey("actors.id", ondelete="CASCADE"), primary_key=True
    )
    tag_key: Mapped[str] = mapped_column(String(100), primary_key=True)


class RemoteActor(Base):
    """A cached remote actor document (what we need to address and show it)."""

    __tablename__ = "remote_actors"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    uri: Mapped[str] = mapped_column(unique=True)
    type: Mapped[str] = mapped_column(String(20))
    username: Mapped[str]
    # The host part of the actor's handle: the id's host and its port unless default
    # (`localhost:3000`), as `federation.webfinger.acct_domain` builds it.
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
    # Read back from the actor document: our terms first, else profile fields and tags.
    region_code: Mapped[str | None] = mapped_column(String(6), default=None)
    locality: Mapped[str] = mapped_column(default="")
    postal_prefix: Mapped[str] = mapped_column(String(10), default="")
    interests: Mapped[list[Any]] = mapped_column(default=list)
    indexable: Mapped[bool] = mapped_column(Boolean, default=False)


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
    state: Mapped[FollowState] = mapped_column(str_enum(FollowState, 10))
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


class RoleName(enum.StrEnum):
    """What a person may do for an actor: owners manage staff, editors publish,
    moderators handle requests and remove posts but do not publish."""

    OWNER = "owner"
    EDITOR = "editor"
    MODERATOR = "moderator"


class User(Base):
    """A person with a login. People act for actors through roles, never a shared password."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(default="")
    password_hash: Mapped[str]
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    # The language the person chose for the web pages; "" follows the browser's.
    locale: Mapped[str] = mapped_column(String(8), default="", server_default="")
    # Signed up while registrations need approval, and not approved yet: cannot sign in.
    approval_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    sign_up_reason: Mapped[str] = mapped_column(default="", server_default="")


class Role(Base):
    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("user_id", "actor_id"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    role: Mapped[RoleName] = mapped_column(str_enum(RoleName, 16))
    created_at: Mapped[datetime]


class OAuthApp(Base):
    """A client registered through POST /api/v1/apps (Mastodon's shape)."""

    __tablename__ = "oauth_apps"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret: Mapped[str] = mapped_column(String(64))
    name: Mapped[str]
    website: Mapped[str | None]
    redirect_uris: Mapped[str]  # newline-separated, stored byte-exact
    scopes: Mapped[str]  # space-separated
    created_at: Mapped[datetime]


class OAuthCode(Base):
    """A short-lived authorization code from /oauth/authorize; only its hash is stored."""

    __tablename__ = "oauth_codes"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("oauth_apps.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str]
    scopes: Mapped[str]
    code_challenge: Mapped[str | None]
    expires_at: Mapped[datetime]


class ApiToken(Base):
    """A bearer token: one person acting for one actor within their role. Only the hash is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    app_id: Mapped[int | None] = mapped_column(ForeignKey("oauth_apps.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(default="")
    scopes: Mapped[str]
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class DirectoryPeer(Base):
    """A peer instance whose directory we read (`directory.peers`, later linked instances).

    `cursor` is the newest `updated` seen, sent back as `?since=`; `etag` the last
    response's ETag for If-None-Match. `last_success_at` decides when a peer that stopped
    answering has its entries dropped.
    """

    __tablename__ = "directory_peers"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    etag: Mapped[str | None] = mapped_column(default=None)
    cursor: Mapped[datetime | None] = mapped_column(default=None)
    last_sync_at: Mapped[datetime | None] = mapped_column(default=None)
    last_success_at: Mapped[datetime | None] = mapped_column(default=None)
    last_full_sync_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(default="")
    entry_count: Mapped[int] = mapped_column(Integer, default=0)
    # Set while a process syncs this peer (to the end of its time budget), so that no other
    # process syncs it at the same time (actors.peers).
    claimed_until: Mapped[datetime | None] = mapped_column(default=None)
    # Set when the operator added the peer on the admin pages (not `directory.peers`):
    # such a peer stays until the operator removes it.
    operator_added_at: Mapped[datetime | None] = mapped_column(default=None)


class DirectoryEntry(Base):
    """A discoverable actor of a peer instance, as its directory listed it (the cache).

    `search_text` is the lower-cased name, username and summary text for `?q=`;
    `seen_at` the last sync that listed it (a full sync drops entries it did not see).
    """

    __tablename__ = "directory_entries"
    __table_args__ = (
        # Region, then the order of results: a region's entries come from the index alone
        # (PostgreSQL joins them with the interest index's entry ids without the heap).
        Index("ix_directory_entries_region_updated", "region_code", "updated_at", "id"),
        Index("ix_directory_entries_peer_seen", "peer_id", "seen_at"),
        Index(
            "ix_directory_entries_postal_prefix",
            "postal_prefix",
            postgresql_ops={"postal_prefix": "text_pattern_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    peer_id: Mapped[int] = mapped_column(ForeignKey("directory_peers.id", ondelete="CASCADE"))
    actor_uri: Mapped[str] = mapped_column(unique=True)
    type: Mapped[str] = mapped_column(String(20), index=True)
    username: Mapped[str]
    domain: Mapped[str]
    display_name: Mapped[str] = mapped_column(default="")
    summary: Mapped[str] = mapped_column(default="")
    url: Mapped[str | None] = mapped_column(default=None)
    icon_url: Mapped[str | None] = mapped_column(default=None)
    region_code: Mapped[str | None] = mapped_column(String(6), default=None)
    locality: Mapped[str] = mapped_column(default="")
    postal_prefix: Mapped[str] = mapped_column(String(10), default="")
    interests: Mapped[list[Any]] = mapped_column(default=list)
    search_text: Mapped[str] = mapped_column(default="")
    updated_at: Mapped[datetime] = mapped_column(index=True)
    seen_at: Mapped[datetime]


class DirectoryEntryInterest(Base):
    """One interest key of a cached directory entry, for indexed interest searches."""

    __tablename__ = "directory_entry_interests"
    __table_args__ = (
        Index("ix_directory_entry_interests_tag_key_entry_id", "tag_key", "entry_id"),
    )

    entry_id: Mapped[int] = mapped_column(
        ForeignKey("directory_entries.id", ondelete="CASCADE"), primary_key=True
    )
    tag_key: Mapped[str] = mapped_column(String(100), primary_key=True)


class VisitorContactState(enum.StrEnum):
    """`unverified` until the visitor opens the link mailed to them; only `open` ones
    reach staff; `closed` ones keep no address."""

    UNVERIFIED = "unverified"
    OPEN = "open"
    CLOSED = "closed"


class VisitorContact(Base):
    """A contact request from a visitor without an account, by e-mail (`actors.visitors`).

    `email` is None once the request is closed; the row itself goes after
    `visitors.keep_seconds` (unverified ones after `visitors.verify_hours`). Only the
    verification token's sha256 is kept, and only until it is used.
    """

    __tablename__ = "visitor_contacts"
    __table_args__ = (Index("ix_visitor_contacts_actor_state", "actor_id", "state", "id"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    state: Mapped[VisitorContactState] = mapped_column(str_enum(VisitorContactState, 12))
    email: Mapped[str | None] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(default="")
    message: Mapped[str]
    region_code: Mapped[str | None] = mapped_column(String(6), default=None)
    interests: Mapped[list[Any]] = mapped_column(default=list)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    verify_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(index=True)
    verified_at: Mapped[datetime | None] = mapped_column(default=None)
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)


class VisitorContactCount(Base):
    """Contact-form submissions per address or client IP and UTC day, counted in the
    database so that every process agrees. `key_hash` is an HMAC (the instance's form
    secret) of the address or IP, never the value itself."""

    __tablename__ = "visitor_contact_counts"

    scope: Mapped[str] = mapped_column(String(10), primary_key=True)  # "address" or "ip"
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD (UTC)
    count: Mapped[int] = mapped_column(Integer, default=0)


class ContactState(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"  # the sender took the Follow back (Undo); sent side: we did


class ContactBox(enum.StrEnum):
    """Which side of a contact request a row is: one of ours sent it, or received it.
    A request between two local actors has a row of each."""

    SENT = "sent"
    RECEIVED = "received"


class ContactRequest(Base):
    """A contact request (issue 14): a Follow with a message, decided by the recipient.

    `follow_uri` is the Follow's id as sent, by which Accept, Reject and the accompanying
    direct message are matched; `note_uri` that message's id (sent side). A request
    expires `contacts.expire_after` after `created_at` (each side by its own config).
    `sender_user_id` is the person who sent it for one of our actors (the per-person
    daily limit); the state moves from pending to accepted, declined or expired, never back.
    """

    __tablename__ = "contact_requests"
    __table_args__ = (
        UniqueConstraint("box", "follow_uri"),
        Index("ix_contact_requests_box_state_created_at", "box", "state", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    box: Mapped[ContactBox] = mapped_column(str_enum(ContactBox, 10))
    sender_uri: Mapped[str] = mapped_column(index=True)
    recipient_uri: Mapped[str] = mapped_column(index=True)
    follow_uri: Mapped[str]
    note_uri: Mapped[str | None] = mapped_column(default=None)
    message: Mapped[str] = mapped_column(default="")
    state: Mapped[ContactState] = mapped_column(str_enum(ContactState, 10))
    sender_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    follow_back: Mapped[bool] = mapped_column(Boolean, default=False)
    # An anonymous request (sent side only): our real actor behind the alias `sender_uri`.
    requester_uri: Mapped[str | None] = mapped_column(default=None, index=True)
    # Received side: the Follow said its sender is a one-off alias (`contactAnonymous`).
    is_anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ContactBlock(Base):
    """One of our actors refuses further contact requests (and follows) from an actor.
    Blocking an anonymous alias also refuses further anonymous requests from its server
    (`anonymous_domain`, its host): who is behind the next alias is unknown, but it can
    only come from there; named requests from that server still arrive."""

    __tablename__ = "contact_blocks"
    __table_args__ = (UniqueConstraint("blocker_uri", "blocked_uri"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    blocker_uri: Mapped[str]
    blocked_uri: Mapped[str]
    anonymous_domain: Mapped[str | None] = mapped_column(default=None)
    created_at: Mapped[datetime]


class LinkKind(enum.StrEnum):
    """What the other actor of an organisation link is to ours (issue 15). Mirrored on
    the other side: our `branch` is its `parent`; `partner` is symmetric."""

    PARENT = "parent"
    BRANCH = "branch"
    PARTNER = "partner"


class LinkState(enum.StrEnum):
    """`pending` until the offered side's staff decide; only `confirmed` links are shown
    anywhere. `declined` and `ended` are final."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    ENDED = "ended"


class RelayMode(enum.StrEnum):
    ALL = "all"
    TAGS = "tags"
    NONE = "none"


class OrgLink(Base):
    """One of our actors' view of an organisation link (`actors.links`): a local pair has a
    row for each side. `offer_uri` is the Offer's id, by which Accept, Reject and Undo are
    matched on both sides; `accept_uri` the Accept's id once confirmed. `outgoing`: our
    actor offered it. `other_domain` is the other side's handle host (`host[:port]`), for
    the directory's linked peers."""

    __tablename__ = "org_links"
    __table_args__ = (
        UniqueConstraint("actor_uri", "offer_uri"),
        Index("ix_org_links_actor_uri_state", "actor_uri", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    actor_uri: Mapped[str]
    other_uri: Mapped[str] = mapped_column(index=True)
    other_domain: Mapped[str] = mapped_column(String(255))
    kind: Mapped[LinkKind] = mapped_column(str_enum(LinkKind, 10))
    outgoing: Mapped[bool] = mapped_column(Boolean)
    state: Mapped[LinkState] = mapped_column(str_enum(LinkState, 10), index=True)
    offer_uri: Mapped[str] = mapped_column(index=True)
    accept_uri: Mapped[str | None] = mapped_column(default=None)
    # Relayed news (our side of a confirmed branch link): which of the branch's new public
    # posts our actor Announces to its followers: all, those with one of `relay_tags`
    # (hashtag keys), or none.
    relay: Mapped[RelayMode] = mapped_column(str_enum(RelayMode, 10), default=RelayMode.NONE)
    relay_tags: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class LinkTreeNode(Base):
    """One node of a local actor's network tree of confirmed branches, as the worker last
    read it (`actors.links.refresh_tree`); pages read these rows, never the network.
    `position` orders the rows depth-first, so a tree is one ordered query."""

    __tablename__ = "link_tree_nodes"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    root_uri: Mapped[str] = mapped_column(index=True)
    node_uri: Mapped[str]
    parent_uri: Mapped[str]
    depth: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    display_name: Mapped[str] = mapped_column(default="")
    handle: Mapped[str] = mapped_column(default="")
    url: Mapped[str | None] = mapped_column(default=None)
    refreshed_at: Mapped[datetime]


class ContactDirection(enum.StrEnum):
    """Which way a message of a contact request's thread went, seen from its row's side."""

    IN = "in"  # from the other side
    OUT = "out"  # from our side


class ContactMessage(Base):
    """A direct message between the two sides of a pending contact request (its thread).

    `note_uri` is the Note's id, so that a message processed twice is stored once. On
    the requester's side of an anonymous request, what the recipient says to the alias is
    kept here only, never as a status of the alias."""

    __tablename__ = "contact_messages"
    __table_args__ = (UniqueConstraint("request_id", "note_uri"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("contact_requests.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[ContactDirection] = mapped_column(str_enum(ContactDirection, 3))
    text: Mapped[str]
    note_uri: Mapped[str]
    created_at: Mapped[datetime]


class ReportState(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class Report(Base):
    """A report (`Flag`) another instance sent about one of our actors, for our operators.

    `reporter_uri` is the Flag's actor (an instance actor, as Mastodon sends it);
    `object_uris` what it named besides the actor (posts, direct messages). When the
    reported actor is an anonymous contact alias, `real_actor_uri` is who stood behind it
    (known only here, on the requester's instance)."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("flag_uri", "reported_uri"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    flag_uri: Mapped[str]
    reporter_uri: Mapped[str]
    reported_uri: Mapped[str] = mapped_column(index=True)
    real_actor_uri: Mapped[str | None] = mapped_column(default=None)
    object_uris: Mapped[list[Any]] = mapped_column(default=list)
    comment: Mapped[str] = mapped_column(default="")
    state: Mapped[ReportState] = mapped_column(str_enum(ReportState, 10))
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)


class InstanceSetting(Base):
    """An instance setting the operator changed at run time (the admin pages), over the
    config file's value: `server.instance_settings` names the keys and reads them."""

    __tablename__ = "instance_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str]
    updated_at: Mapped[datetime]


class DomainRuleKind(enum.StrEnum):
    BLOCK = "block"  # nothing is fetched from or sent to it; its requests get 403
    ALLOW = "allow"  # on the allow-list (federation with listed domains only, when on)


class DomainRule(Base):
    """A domain block or allow-list entry added at run time (the admin pages), on top of
    `federation.blocked_domains`. Subdomains are covered too."""

    __tablename__ = "domain_rules"
    __table_args__ = (UniqueConstraint("kind", "domain"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    kind: Mapped[DomainRuleKind] = mapped_column(str_enum(DomainRuleKind, 8))
    domain: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(default="")
    created_at: Mapped[datetime]
