"""Every local URL, built and parsed in one place.

`LocalUris(base_url)` is a value object (like GoToSocial's `internal/uris`): it knows
the URL layout of this instance and nothing else — no config lookup, no database.
Everything that puts a local URL on the wire or reads one back (actor documents,
keys, collections, posts and their activities, pages, feeds, tag pages) goes through
it, so the layout can change in one module.

Layout (`B` is the base URL, `scheme://host[:port]`):

    B/actor                      the instance actor (key `B/actor#main-key`)
    B/inbox                      the shared inbox
    B/users/NAME                 a local actor (key `…#main-key`)
    B/users/NAME/inbox|outbox|followers|following|feed.rss|feed.atom
    B/users/NAME/statuses/ID     a post; `…/activity` is the activity that published it
    B/@NAME, B/@NAME/ID          HTML pages of an actor and of a post
    B/tags/TAG                   a hashtag page
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

from federation.documents import ActorUris

__all__ = ["KEY_FRAGMENT", "ActorUris", "LocalUris", "StatusRef"]

KEY_FRAGMENT = "#main-key"
_USERS = "/users/"
_STATUSES = "/statuses/"


@dataclass(frozen=True, slots=True)
class StatusRef:
    """A local post URI read back: whose it is and its id."""

    username: str
    status_id: int


@dataclass(frozen=True, slots=True)
class LocalUris:
    base_url: str

    def __post_init__(self) -> None:
        if self.base_url.endswith("/"):
            object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    # --- the instance -------------------------------------------------------------

    @property
    def instance_actor(self) -> str:
        return f"{self.base_url}/actor"

    @property
    def instance_key_id(self) -> str:
        return self.instance_actor + KEY_FRAGMENT

    @property
    def shared_inbox(self) -> str:
        return f"{self.base_url}/inbox"

    @property
    def front_page(self) -> str:
        return self.base_url

    # --- actors -------------------------------------------------------------------

    def actor(self, username: str) -> str:
        return f"{self.base_url}{_USERS}{username}"

    def key_id(self, actor_uri: str) -> str:
        """The key id of a local actor (or of the instance actor) given its URI."""
        return actor_uri + KEY_FRAGMENT

    def actor_uris(self, username: str) -> ActorUris:
        actor_id = self.actor(username)
        return ActorUris(
            id=actor_id,
            key_id=actor_id + KEY_FRAGMENT,
            inbox=f"{actor_id}/inbox",
            outbox=f"{actor_id}/outbox",
            followers=f"{actor_id}/followers",
            following=f"{actor_id}/following",
            profile_page=self.profile_page(username),
            shared_inbox=self.shared_inbox,
        )

    def followers(self, actor_uri: str) -> str:
        return f"{actor_uri}/followers"

    def following(self, actor_uri: str) -> str:
        return f"{actor_uri}/following"

    def outbox(self, actor_uri: str) -> str:
        return f"{actor_uri}/outbox"

    def inbox(self, actor_uri: str) -> str:
        return f"{actor_uri}/inbox"

    def feed(self, username: str, kind: str) -> str:
        """`kind` is `rss` or `atom`."""
        return f"{self.actor(username)}/feed.{kind}"

    def profile_page(self, username: str) -> str:
        return f"{self.base_url}/@{username}"

    # --- posts --------------------------------------------------------------------

    def status(self, actor_uri: str, status_id: int) -> str:
        return f"{actor_uri}{_STATUSES}{status_id}"

    def status_page(self, username: str, status_id: int) -> str:
        return f"{self.base_url}/@{username}/{status_id}"

    def activity_of(self, status_uri: str) -> str:
        """The Create (or Announce) that published a local post."""
        return f"{status_uri}/activity"

    def tag_page(self, tag: str) -> str:
        """`tag` is the normalised key; it is percent-encoded here."""
        return f"{self.base_url}/tags/{quote(tag)}"

    # --- reading local URIs back --------------------------------------------------

    def is_local(self, uri: str) -> bool:
        return uri == self.base_url or uri.startswith(self.base_url + "/")

    def username_of(self, actor_uri: str) -> str | None:
        """The username of a local actor URI (`B/users/NAME`), else None."""
        prefix = self.base_url + _USERS
        if not actor_uri.startswith(prefix):
            return None
        name = actor_uri[len(prefix) :]
        if not name or "/" in name or "#" in name or "?" in name:
            return None
        return unquote(name)

    def key_owner(self, key_id: str) -> str | None:
        """The local actor URI whose key `key_id` is (`…#main-key`), else None.

        Covers the instance actor and `B/users/NAME`; the caller looks the actor up.
        """
        if not key_id.endswith(KEY_FRAGMENT):
            return None
        owner = key_id[: -len(KEY_FRAGMENT)]
        if owner == self.instance_actor or self.username_of(owner) is not None:
            return owner
        return None

    def status_ref(self, uri: str) -> StatusRef | None:
        """`B/users/NAME/statuses/ID` (or its page `B/@NAME/ID`) read back, else None."""
        if uri.startswith(self.base_url + _USERS):
            rest = uri[len(self.base_url + _USERS) :]
            name, sep, tail = rest.partition(_STATUSES)
        elif uri.startswith(self.base_url + "/@"):
            rest = uri[len(self.base_url + "/@") :]
            name, sep, tail = rest.partition("/")
        else:
            return None
        if not sep or not name or "/" in name or not tail.isdigit() or len(tail) > 19:
            return None
        return StatusRef(username=unquote(name), status_id=int(tail))

    def page_username(self, url: str) -> str | None:
        """The username of a local profile page URL (`B/@NAME`), else None."""
        prefix = self.base_url + "/@"
        if not url.startswith(prefix):
            return None
        name = url[len(prefix) :]
        if not name or "/" in name or "#" in name or "?" in name:
            return None
        return unquote(name)

    def instance_actor_uris(self) -> ActorUris:
        """The instance actor's URLs; its page is the front page."""
        actor_id = self.instance_actor
        return ActorUris(
            id=actor_id,
            key_id=self.key_id(actor_id),
            inbox=self.inbox(actor_id),
            outbox=self.outbox(actor_id),
            followers=self.followers(actor_id),
            following=self.following(actor_id),
            profile_page=self.front_page,
            shared_inbox=self.shared_inbox,
        )

    @classmethod
    def of_actor(cls, actor_uri: str) -> LocalUris:
        """The layout a local actor URI (`B/users/NAME`) belongs to, for code that holds
        only a stored post of ours and no configuration (polls closed by the worker)."""
        base, sep, _name = actor_uri.partition(_USERS)
        if not sep:
            raise ValueError(f"{actor_uri!r} is not a local actor URI")
        return cls(base)

    def vote(self, voter_uri: str, vote_id: int) -> str:
        """Mastodon's `<account>#votes/<id>` (dereferenceable through its account)."""
        return f"{voter_uri}#votes/{vote_id}"

    @staticmethod
    def activity_under(actor_uri: str, kind: str, token: str) -> str:
        """An activity of one of our actors (the instance actor too): `ACTOR/KIND/TOKEN`,
        e.g. `B/users/NAME/follows/3f2a…`; `token` makes it unique."""
        return f"{actor_uri}/{kind}/{token}"
