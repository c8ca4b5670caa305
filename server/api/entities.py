"""Mastodon entities (Account, Status, Relationship) rendered from our rows.

Every documented key is emitted, `null` or `[]` when empty: strict decoders
(Tusky, Ice Cubes, Mastodon.py's typed entities) break on a missing key.
Rendering a page loads what it needs in a few batched queries per page, never
one per status.

Account ids are digit-only strings in one number space: a local actor's
`actors.id`, a remote actor's `remote_actors.id + 10**15` (REMOTE_ID_OFFSET).
Status ids are the snowflakes of `statuses.id`.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import CompoundSelect, and_, func, literal_column, null, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from actors.documents import summary_html
from actors.models import (
    Actor,
    ActorType,
    Block,
    DirectoryEntry,
    Follow,
    FollowState,
    RemoteActor,
    RoleName,
)
from actors.regions import Region, region_label
from actors.uris import LocalUris
from federation.content import plain_text, sanitize_html
from federation.documents import INTERESTS_FIELD, REGION_FIELD, Interest, hashtag_link
from federation.hashtags import hashtag_key
from federation.media import Attachment, emoji_of
from federation.webfinger import acct_domain
from outbox.documents import stored_attachments
from outbox.models import Favourite, Mention, Poll, Status, Visibility
from outbox.polls import is_expired, options_of, own_choices, polls_of
from server.api.common import Json, api_datetime, api_datetime_or_none, not_found

REMOTE_ID_OFFSET = 10**15
# A peer's directory entry whose actor is not in remote_actors: its directory_entries id
# plus this (docs/api.md), stable while the entry is cached.
DIRECTORY_ID_OFFSET = 2 * REMOTE_ID_OFFSET
MISSING_AVATAR = "/avatars/original/missing.png"
MISSING_HEADER = "/headers/original/missing.png"
# Mastodon's own role ids would mean nothing here; these name Verbund's staff roles.
ROLE_IDS = {RoleName.OWNER: "1", RoleName.EDITOR: "2", RoleName.MODERATOR: "3"}


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """One actor, local or remote, as the client API shows it."""

    id: str
    uri: str
    username: str
    acct: str
    url: str
    display_name: str
    note_html: str
    note_text: str
    avatar: str | None
    type: str
    locked: bool
    discoverable: bool
    hide_collections: bool
    created_at: datetime
    local_id: int | None
    indexable: bool = False
    region: Region | None = None
    interests: tuple[str, ...] = ()


def _region(code: str | None, locality: str, postal_prefix: str) -> Region | None:
    return Region(code, locality, postal_prefix) if code else None


def _names(values: object) -> tuple[str, ...]:
    return tuple(v for v in values if isinstance(v, str)) if isinstance(values, list) else ()


def local_info(actor: Actor, uris: LocalUris) -> AccountInfo:
    return AccountInfo(
        id=str(actor.id),
        uri=uris.actor(actor.username),
        username=actor.username,
        acct=actor.username,
        url=uris.profile_page(actor.username),
        display_name=actor.display_name,
        note_html=summary_html(actor.summary),
        note_text=actor.summary,
        avatar=actor.icon_url,
        type=actor.type,
        locked=actor.manually_approves,
        discoverable=actor.discoverable,
        hide_collections=actor.hide_collections,
        created_at=actor.created_at,
        local_id=actor.id,
        indexable=actor.indexable,
        region=_region(actor.region_code, actor.locality, actor.postal_prefix),
        interests=_names(actor.interests),
    )


def remote_info(remote: RemoteActor) -> AccountInfo:
    note = sanitize_html(remote.summary) if remote.summary else ""
    return AccountInfo(
        id=str(remote.id + REMOTE_ID_OFFSET),
        uri=remote.uri,
        username=remote.username,
        # The WebFinger domain is the actor id's host (and port) in every peer we talk to.
        acct=f"{remote.username}@{remote.domain}",
        url=remote.url if remote.url and remote.url.startswith("http") else remote.uri,
        display_name=remote.display_name,
        note_html=note,
        note_text=plain_text(note) if note else "",
        avatar=remote.icon_url,
        type=remote.type,
        locked=remote.manually_approves,
        discoverable=remote.discoverable,
        hide_collections=False,
        created_at=remote.fetched_at,
        local_id=None,
        indexable=remote.indexable,
        region=_region(remote.region_code, remote.locality, remote.postal_prefix),
        interests=_names(remote.interests),
    )


def entry_info(entry: DirectoryEntry) -> AccountInfo:
    """A cached directory entry of a peer as an account (its summary is plain text)."""
    return AccountInfo(
        id=str(entry.id + DIRECTORY_ID_OFFSET),
        uri=entry.actor_uri,
        username=entry.username,
        acct=f"{entry.username}@{entry.domain}",
        url=entry.url or entry.actor_uri,
        display_name=entry.display_name,
        note_html=summary_html(entry.summary),
        note_text=entry.summary,
        avatar=entry.icon_url,
        type=entry.type,
        locked=False,
        discoverable=True,
        hide_collections=False,
        created_at=entry.updated_at,
        local_id=None,
        region=_region(entry.region_code, entry.locality, entry.postal_prefix),
        interests=_names(entry.interests),
    )


def unknown_info(uri: str) -> AccountInfo:
    """An actor we hold no document of (should not happen for posts we stored): id "0"."""
    parts = urlsplit(uri)
    name = parts.path.rstrip("/").rsplit("/", 1)[-1] or (parts.hostname or "unknown")
    return AccountInfo(
        id="0",
        uri=uri,
        username=name,
        acct=f"{name}@{acct_domain(uri)}",
        url=uri,
        display_name="",
        note_html="",
        note_text="",
        avatar=None,
        type="Person",
        locked=False,
        discoverable=False,
        hide_collections=False,
        created_at=datetime.fromtimestamp(0, UTC),
        local_id=None,
    )


@dataclass(frozen=True, slots=True)
class AccountStats:
    followers: int = 0
    following: int = 0
    statuses: int = 0
    last_status_at: datetime | None = None


class View:
    """Renders entities for one request, as seen by `viewer_uri` (None: anonymous).

    `viewer_uri` is the actor a token acts for; its own posts, private posts of
    actors it follows and posts mentioning it are visible to it.
    """

    def __init__(
        self,
        session: AsyncSession,
        *,
        uris: LocalUris,
        viewer_uri: str | None,
        now: datetime | None = None,
    ) -> None:
        self.session = session
        self.uris = uris
        self.base_url = uris.base_url
        self.viewer_uri = viewer_uri
        self.now = now or datetime.now(UTC)

    # --- accounts ------------------------------------------------------------------------

    def is_local_uri(self, uri: str) -> bool:
        """A local actor's URI (`LocalUris.actor`)."""
        return self.uris.username_of(uri) is not None

    async def account_infos(self, uris: Iterable[str]) -> dict[str, AccountInfo]:
        """Known actors by URI (local and remote); unknown URIs are left out."""
        wanted = set(uris)
        local_names = {
            name.lower(): u for u in wanted if (name := self.uris.username_of(u)) is not None
        }
        out: dict[str, AccountInfo] = {}
        if local_names:
            for actor in await self.session.scalars(
                select(Actor).where(
                    Actor.username_key.in_(list(local_names)), Actor.is_instance.is_(False)
                )
            ):
                info = local_info(actor, self.uris)
                out[local_names[actor.username_key]] = info
        remote_uris = [u for u in wanted if not self.is_local_uri(u)]
        if remote_uris:
            for remote in await self.session.scalars(
                select(RemoteActor).where(RemoteActor.uri.in_(remote_uris))
            ):
                out[remote.uri] = remote_info(remote)
        return out

    async def account_info_by_id(self, account_id: str) -> AccountInfo | None:
        """The actor behind an API account id (see REMOTE_ID_OFFSET), or None."""
        if not account_id.isdigit() or len(account_id) > 18:
            return None
        number = int(account_id)
        if number >= DIRECTORY_ID_OFFSET:
            entry = await self.session.get(DirectoryEntry, number - DIRECTORY_ID_OFFSET)
            return entry_info(entry) if entry is not None else None
        if number >= REMOTE_ID_OFFSET:
            remote = await self.session.get(RemoteActor, number - REMOTE_ID_OFFSET)
            return remote_info(remote) if remote is not None else None
        actor = await self.session.get(Actor, number)
        if actor is None or actor.is_instance:
            return None
        return local_info(actor, self.uris)

    async def stats(self, infos: Iterable[AccountInfo]) -> dict[str, AccountStats]:
        uris = list({i.uri for i in infos})
        if not uris:
            return {}
        accepted = Follow.state == FollowState.ACCEPTED
        # One round trip for the three counts (a page of statuses renders many accounts):
        # posts (with the newest post's time), followers, following, each tagged by kind.
        counts: CompoundSelect[str, str, int, datetime | None] = union_all(
            select(
                literal_column("'posts'").label("kind"),
                Status.actor_uri.label("uri"),
                func.count().label("n"),
                func.max(Status.published_at).label("last"),
            )
            .where(Status.actor_uri.in_(uris), Status.deleted_at.is_(None))
            .group_by(Status.actor_uri),
            select(literal_column("'followers'"), Follow.followed_uri, func.count(), null())
            .where(Follow.followed_uri.in_(uris), accepted)
            .group_by(Follow.followed_uri),
            select(literal_column("'following'"), Follow.follower_uri, func.count(), null())
            .where(Follow.follower_uri.in_(uris), accepted)
            .group_by(Follow.follower_uri),
        )
        followers: dict[str, int] = {}
        following: dict[str, int] = {}
        posts: dict[str, tuple[int, datetime | None]] = {}
        for kind, uri, n, last in await self.session.execute(counts):
            if kind == "posts":
                posts[uri] = (n, last)
            else:
                (followers if kind == "followers" else following)[uri] = n
        out: dict[str, AccountStats] = {}
        for uri in uris:
            n, last = posts.get(uri, (0, None))
            out[uri] = AccountStats(
                followers=int(followers.get(uri, 0)),
                following=int(following.get(uri, 0)),
                statuses=int(n),
                last_status_at=last if isinstance(last, datetime) else None,
            )
        return out

    def _account_json(self, info: AccountInfo, stats: AccountStats) -> Json:
        avatar = info.avatar or self.base_url + MISSING_AVATAR
        header = self.base_url + MISSING_HEADER
        return {
            "id": info.id,
            "username": info.username,
            "acct": info.acct,
            "url": info.url,
            "uri": info.uri,
            "display_name": info.display_name,
            "note": info.note_html,
            "avatar": avatar,
            "avatar_static": avatar,
            "header": header,
            "header_static": header,
            "locked": info.locked,
            "bot": info.type in (ActorType.APPLICATION, "Service"),
            "group": info.type == ActorType.GROUP,
            "discoverable": info.discoverable,
            "indexable": info.indexable,
            "hide_collections": info.hide_collections,
            "noindex": not info.indexable,
            "created_at": api_datetime(info.created_at),
            "last_status_at": (
                stats.last_status_at.date().isoformat() if stats.last_status_at else None
            ),
            "followers_count": stats.followers,
            "following_count": stats.following,
            "statuses_count": stats.statuses,
            "fields": self.profile_fields(info),
            "emojis": [],
            "roles": [],
        }

    def profile_fields(self, info: AccountInfo) -> list[Json]:
        """Region and interests as Mastodon profile fields (HTML values), the same two
        fields our actor documents carry; interests link to this instance's tag pages."""
        fields: list[Json] = []
        if info.region is not None:
            fields.append(
                {
                    "name": REGION_FIELD,
                    "value": html.escape(region_label(info.region, "en")),
                    "verified_at": None,
                }
            )
        links = [
            hashtag_link(Interest(name, self.uris.tag_page(key)))
            for name in info.interests
            if (key := hashtag_key(name)) is not None
        ]
        if links:
            fields.append({"name": INTERESTS_FIELD, "value": " ".join(links), "verified_at": None})
        return fields

    async def accounts(self, infos: Sequence[AccountInfo]) -> list[Json]:
        stats = await self.stats(infos)
        return [self._account_json(i, stats.get(i.uri, AccountStats())) for i in infos]

    async def account(self, info: AccountInfo) -> Json:
        return (await self.accounts([info]))[0]

    async def credential_account(self, actor: Actor, role: RoleName, follow_requests: int) -> Json:
        """The acting actor, with `source` (plain text) and the person's Verbund role."""
        info = local_info(actor, self.uris)
        doc = await self.account(info)
        doc["source"] = {
            "privacy": Visibility.PUBLIC.value,
            "sensitive": False,
            "language": None,
            "note": actor.summary,
            "fields": [
                {"name": f["name"], "value": plain_text(str(f["value"])), "verified_at": None}
                for f in self.profile_fields(info)
            ],
            "follow_requests_count": follow_requests,
            "hide_collections": actor.hide_collections,
            "discoverable": actor.discoverable,
            "indexable": actor.indexable,
        }
        doc["role"] = {
            "id": ROLE_IDS[role],
            "name": role.value,
            "color": "",
            "permissions": "0",
            "highlighted": False,
        }
        return doc

    # --- relationships -------------------------------------------------------------------

    async def relationships(self, infos: Sequence[AccountInfo]) -> list[Json]:
        """Relationship entities between the viewer and each account, in order."""
        viewer = self.viewer_uri
        uris = [i.uri for i in infos]
        states: dict[tuple[str, str], str] = {}
        blocked_by: set[str] = set()
        if viewer is not None and uris:
            rows = await self.session.execute(
                select(Follow.follower_uri, Follow.followed_uri, Follow.state).where(
                    or_(
                        and_(Follow.follower_uri == viewer, Follow.followed_uri.in_(uris)),
                        and_(Follow.followed_uri == viewer, Follow.follower_uri.in_(uris)),
                    )
                )
            )
            states = {(a, b): state for a, b, state in rows}
            blocked_by = set(
                await self.session.scalars(
                    select(Block.blocker_uri).where(
                        Block.blocked_uri == viewer, Block.blocker_uri.in_(uris)
                    )
                )
            )
        out: list[Json] = []
        for info in infos:
            outgoing = states.get((viewer, info.uri)) if viewer else None
            incoming = states.get((info.uri, viewer)) if viewer else None
            following = outgoing == FollowState.ACCEPTED
            out.append(
                {
                    "id": info.id,
                    "following": following,
                    "showing_reblogs": following,
                    "notifying": False,
                    "languages": None,
                    "followed_by": incoming == FollowState.ACCEPTED,
                    "blocking": False,
                    "blocked_by": info.uri in blocked_by,
                    "muting": False,
                    "muting_notifications": False,
                    "requested": outgoing == FollowState.PENDING,
                    "requested_by": incoming == FollowState.PENDING,
                    "domain_blocking": False,
                    "endorsed": False,
                    "note": "",
                }
            )
        return out

    # --- visibility ----------------------------------------------------------------------

    async def visible(self, rows: Sequence[Status]) -> list[Status]:
        """The posts the viewer may see: public and unlisted to all; the viewer's own;
        followers-only posts of actors the viewer follows; posts that mention the viewer."""
        viewer = self.viewer_uri
        hidden = [
            r
            for r in rows
            if r.visibility not in (Visibility.PUBLIC, Visibility.UNLISTED)
            and r.actor_uri != viewer
        ]
        if not hidden:
            return [r for r in rows if r.deleted_at is None]
        allowed: set[int] = set()
        if viewer is not None:
            allowed = set(
                await self.session.scalars(
                    select(Mention.status_id).where(
                        Mention.actor_uri == viewer,
                        Mention.status_id.in_([r.id for r in hidden]),
                    )
                )
            )
            followed = set(
                await self.session.scalars(
                    select(Follow.followed_uri).where(
                        Follow.follower_uri == viewer,
                        Follow.state == FollowState.ACCEPTED,
                        Follow.followed_uri.in_({r.actor_uri for r in hidden}),
                    )
                )
            )
            allowed |= {
                r.id
                for r in hidden
                if r.visibility == Visibility.PRIVATE and r.actor_uri in followed
            }
        hidden_ids = {r.id for r in hidden} - allowed
        return [r for r in rows if r.deleted_at is None and r.id not in hidden_ids]

    def listed_visibilities(self, actor_uri: str, *, follows: bool) -> list[Visibility]:
        """Which of `actor_uri`'s posts the viewer sees in its profile list."""
        if actor_uri == self.viewer_uri:
            return list(Visibility)
        shown = [Visibility.PUBLIC, Visibility.UNLISTED]
        return [*shown, Visibility.PRIVATE] if follows else shown

    async def follows(self, actor_uri: str) -> bool:
        if self.viewer_uri is None:
            return False
        state = await self.session.scalar(
            select(Follow.state).where(
                Follow.follower_uri == self.viewer_uri, Follow.followed_uri == actor_uri
            )
        )
        return state == FollowState.ACCEPTED

    # --- statuses ------------------------------------------------------------------------

    async def statuses(self, rows: Sequence[Status], *, with_source: bool = False) -> list[Json]:
        """Status entities for `rows` (already checked for visibility), in order."""
        if not rows:
            return []
        target_ids = {r.reblog_of_id for r in rows if r.reblog_of_id is not None}
        targets: dict[int, Status] = {}
        if target_ids:
            targets = {
                s.id: s
                for s in await self.session.scalars(
                    select(Status).where(Status.id.in_(target_ids), Status.deleted_at.is_(None))
                )
            }
        shown = [*rows, *targets.values()]
        ids = [s.id for s in shown]
        mentions: dict[int, list[str]] = {}
        for status_id, uri in await self.session.execute(
            select(Mention.status_id, Mention.actor_uri)
            .where(Mention.status_id.in_(ids))
            .order_by(Mention.id)
        ):
            mentions.setdefault(status_id, []).append(uri)
        parent_uris = {s.in_reply_to_uri for s in shown if s.in_reply_to_uri}
        parents: dict[str, tuple[int, str]] = {}
        if parent_uris:
            parents = {
                uri: (pid, actor_uri)
                for pid, uri, actor_uri in await self.session.execute(
                    select(Status.id, Status.uri, Status.actor_uri).where(
                        Status.uri.in_(parent_uris)
                    )
                )
            }
        actor_uris = {s.actor_uri for s in shown}
        actor_uris |= {u for us in mentions.values() for u in us}
        actor_uris |= {a for _, a in parents.values()}
        infos = await self.account_infos(actor_uris)
        authors = [infos.get(s.actor_uri) or unknown_info(s.actor_uri) for s in shown]
        stats = await self.stats(authors)
        accounts = {a.uri: self._account_json(a, stats.get(a.uri, AccountStats())) for a in authors}
        favourited: set[int] = set()
        reblogged: set[int] = set()
        if self.viewer_uri is not None:  # what the viewer liked and boosted, in one query
            own: CompoundSelect[str, int] = union_all(
                select(literal_column("'favourite'"), Favourite.status_id).where(
                    Favourite.actor_uri == self.viewer_uri, Favourite.status_id.in_(ids)
                ),
                select(literal_column("'reblog'"), Status.reblog_of_id).where(
                    Status.actor_uri == self.viewer_uri,
                    Status.reblog_of_id.in_(ids),
                    Status.deleted_at.is_(None),
                ),
            )
            for kind, status_id in await self.session.execute(own):
                (favourited if kind == "favourite" else reblogged).add(status_id)

        polls = await polls_of(self.session, [s.id for s in shown if s.type == "Question"])
        voted: dict[int, list[int]] = {}
        if self.viewer_uri is not None and polls:
            voted = await own_choices(self.session, self.viewer_uri, polls)

        def render(s: Status, reblog: Json | None) -> Json:
            parent = parents.get(s.in_reply_to_uri) if s.in_reply_to_uri else None
            parent_account = infos.get(parent[1]) if parent else None
            doc: Json = {
                "id": str(s.id),
                "uri": s.uri,
                "url": s.url or s.uri,
                "created_at": api_datetime(s.published_at),
                "edited_at": api_datetime_or_none(s.edited_at),
                "account": accounts[s.actor_uri],
                "in_reply_to_id": str(parent[0]) if parent else None,
                "in_reply_to_account_id": parent_account.id if parent_account else None,
                "reblog": reblog,
                "content": _content_html(s),
                "visibility": s.visibility,
                "sensitive": s.sensitive,
                # An Article's summary is a teaser, not a content warning.
                "spoiler_text": s.summary if s.type in _OWN_SUMMARY_TYPES else "",
                "language": s.language,
                "media_attachments": [
                    media_json(s.id, n, a) for n, a in enumerate(stored_attachments(s))
                ],
                "mentions": self._mentions(mentions.get(s.id, []), infos),
                "tags": self._tags(s.tags),
                "emojis": emojis_json(s.tags),
                "reblogs_count": s.reblogs_count,
                "favourites_count": s.favourites_count,
                "replies_count": s.replies_count,
                "application": None,
                "poll": (
                    self.poll_json(polls[s.id], s, voted.get(s.id, [])) if s.id in polls else None
                ),
                "card": None,
            }
            if self.viewer_uri is not None:
                doc["favourited"] = s.id in favourited
                doc["reblogged"] = s.id in reblogged
                doc["muted"] = False
                doc["bookmarked"] = False
                doc["pinned"] = False
            if with_source:
                # Mastodon answers a delete with the source for "delete and redraft".
                del doc["content"]
                doc["text"] = s.source if s.source is not None else plain_text(s.content)
            return doc

        out: list[Json] = []
        for row in rows:
            if row.reblog_of_id is None:
                out.append(render(row, None))
            elif (target := targets.get(row.reblog_of_id)) is not None:
                out.append(render(row, render(target, None)))
            # A boost of a post that is gone shows nothing (clients crash on an empty boost).
        return out

    async def status(self, row: Status, *, with_source: bool = False) -> Json:
        docs = await self.statuses([row], with_source=with_source)
        if not docs:  # a boost of a post that is gone
            raise not_found()
        return docs[0]

    def poll_json(self, poll: Poll, status: Status, own: Sequence[int]) -> Json:
        """Mastodon's Poll entity; `voted`/`own_votes` only for a viewer. Totals of a poll
        that hides them stay null until it ends, except for its author."""
        expired = is_expired(poll, self.now)
        hidden = poll.hides_totals and not expired and status.actor_uri != self.viewer_uri
        options = options_of(poll)
        doc: Json = {
            "id": str(poll.status_id),
            "expires_at": api_datetime_or_none(poll.expires_at),
            "expired": expired,
            "multiple": poll.is_multiple,
            "votes_count": sum(n for _, n in options),
            "voters_count": poll.voters_count,
            "options": [
                {"title": title, "votes_count": None if hidden else n} for title, n in options
            ],
            "emojis": emojis_json(status.tags),
        }
        if self.viewer_uri is not None:
            doc["voted"] = bool(own) or status.actor_uri == self.viewer_uri
            doc["own_votes"] = list(own)
        return doc

    def _mentions(self, uris: Sequence[str], infos: dict[str, AccountInfo]) -> list[Json]:
        out: list[Json] = []
        for uri in uris:
            info = infos.get(uri)
            if info is not None:
                out.append(
                    {"id": info.id, "username": info.username, "url": info.url, "acct": info.acct}
                )
        return out

    def _tags(self, items: list[Any]) -> list[Json]:
        out: list[Json] = []
        seen: set[str] = set()
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict) or item.get("type") != "Hashtag":
                continue
            name = item.get("name")
            if not isinstance(name, str) or not name.lstrip("#"):
                continue
            name = name.lstrip("#")
            if name.lower() in seen:
                continue
            seen.add(name.lower())
            out.append({"name": name, "url": self.uris.tag_page(name.lower())})
        return out


# Types whose `summary` is a content warning; for the others it is a teaser or description.
_OWN_SUMMARY_TYPES = frozenset({"Note", "Question", "Document"})
# Mastodon's CONVERTED_TYPES (minus Article, shown with its text): name, summary, link.
CONVERTED_TYPES = frozenset({"Page", "Image", "Video", "Audio", "Event"})


def media_json(status_id: int, n: int, attachment: Attachment) -> Json:
    """Mastodon's MediaAttachment for a remote file: we neither proxy nor cache media, so
    `url`, `remote_url` and `preview_url` are the remote URLs. The id is the post's id
    and the attachment's position, digits only."""
    meta: Json = {}
    if attachment.width and attachment.height:
        original: Json = {
            "width": attachment.width,
            "height": attachment.height,
            "size": f"{attachment.width}x{attachment.height}",
            "aspect": attachment.width / attachment.height,
        }
        meta = {"original": original, "small": dict(original)}
    return {
        "id": f"{status_id}{n:02d}",
        "type": attachment.kind,
        "url": attachment.url,
        "preview_url": attachment.preview_url or attachment.url,
        "remote_url": attachment.url,
        "preview_remote_url": attachment.preview_url,
        "text_url": None,
        "meta": meta,
        "description": attachment.description,
        "blurhash": attachment.blurhash,
    }


def emojis_json(items: list[Any]) -> list[Json]:
    """Mastodon's CustomEmoji for each `Emoji` tag (remote images, never in our picker)."""
    out: list[Json] = []
    seen: set[str] = set()
    for item in items if isinstance(items, list) else []:
        emoji = emoji_of(item)
        if emoji is None or emoji.shortcode in seen:
            continue
        seen.add(emoji.shortcode)
        out.append(
            {
                "shortcode": emoji.shortcode,
                "url": emoji.url,
                "static_url": emoji.url,
                "visible_in_picker": False,
            }
        )
    return out


def _content_html(status: Status) -> str:
    """An Article shows its title first: Mastodon clients have no field for it. Converted
    types (Video, Event…) show, like Mastodon, their `name` when there is no content
    (with the `summary`), and end with the link to the original."""
    if status.type == "Article" and status.name:
        return f"<p><strong>{html.escape(status.name)}</strong></p>{status.content}"
    if status.type not in CONVERTED_TYPES and status.type != "Document":
        return status.content
    parts: list[str] = []
    if status.content:
        if status.name:
            parts.append(f"<p><strong>{html.escape(status.name)}</strong></p>")
        parts.append(status.content)
    else:
        if status.name:
            parts.append(f"<p>{html.escape(status.name)}</p>")
        if status.summary:
            parts.append(f"<p>{html.escape(status.summary)}</p>")
    link = status.url or status.uri
    if status.type in CONVERTED_TYPES and link.startswith(("https://", "http://")):
        href = html.escape(link, quote=True)
        parts.append(f'<p><a href="{href}" rel="nofollow noopener" target="_blank">{href}</a></p>')
    return "".join(parts)
