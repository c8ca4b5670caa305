"""Remote actors and their public keys: fetched, checked, cached (DB + memory).

`RemoteDirectory.resolve_key` is the `KeyResolver` the inbox and the
authorized-fetch check pass to `federation.signatures.verify_request`.

The directory holds the instance's `FederationPolicy`: nothing on a blocked domain is
fetched (actor, key, WebFinger document) nor handed out from the cache, so every caller
(follows, mentions, the inbox, authorized fetch) gets the block without passing it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actors.base import Base, among, dialect_name
from actors.models import Actor, RemoteActor, RemoteKey
from actors.uris import LocalUris
from federation.actors import ActorDocument, find_key, parse_actor, parse_key_document
from federation.errors import FederationError
from federation.fetch import FetchTimeoutError, Signer, fetch_jrd, fetch_json, webfinger
from federation.policy import BlockedDomainError, FederationPolicy, url_host
from federation.signatures import ResolvedKey, SignatureError, SignatureReason
from federation.webfinger import acct_domain, subscribe_template

log = logging.getLogger("verbund.remote")


class RemoteActorError(Exception):
    """A remote actor could not be fetched or was not acceptable."""


@dataclass(frozen=True, slots=True)
class KeyCacheEntry:
    key: ResolvedKey
    expires: float


async def upsert(
    session: AsyncSession, model: type[Base], values: dict[str, object], key: str
) -> None:
    """INSERT ... ON CONFLICT (key) DO UPDATE, on SQLite and PostgreSQL alike."""
    table = model.__table__
    insert = postgresql.insert if dialect_name(session) == "postgresql" else sqlite.insert
    stmt = insert(table).values(**values)  # type: ignore[arg-type]  # Table is a valid target
    stmt = stmt.on_conflict_do_update(
        index_elements=[key], set_={k: v for k, v in values.items() if k != key}
    )
    await session.execute(stmt)


class RemoteDirectory:
    """Fetches and caches remote actors and keys.

    Keys are cached in the database for `key_ttl` and in this process's memory
    (bounded) so that verifying a signed POST costs no query on the hot path.
    Fetches are signed by the instance actor (authorized-fetch peers need it).
    Actors without `preferredUsername` are stored under the last path segment of their
    id (`federation.actors.parse_actor`); no WebFinger lookup is made for them, as
    resolving a key must cost at most the key and actor fetches.
    A key that could not be obtained is remembered as unavailable for
    `key_failure_ttl` seconds, so a peer sending unknown or broken `keyId`s costs
    one outgoing GET per key and period, not one per request.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        http: Callable[[], aiohttp.ClientSession],
        *,
        uris: LocalUris,
        policy: FederationPolicy,
        signer: Callable[[], Awaitable[Signer]],
        allow_private: bool,
        key_ttl: float,
        clock: Callable[[], datetime],
        key_failure_ttl: float,
        memory_limit: int = 10_000,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._http = http
        self._uris = uris
        self.policy = policy
        self._signer = signer
        self._allow_private = allow_private
        self._key_ttl = key_ttl
        self._clock = clock
        self._memory: dict[str, KeyCacheEntry] = {}
        self._memory_limit = memory_limit
        self._key_failure_ttl = timedelta(seconds=key_failure_ttl)
        self._failed_keys: dict[str, tuple[datetime, str]] = {}  # key id → (until, why)
        self._locks: dict[str, asyncio.Lock] = {}

    # --- keys -------------------------------------------------------------------------------

    async def resolve_key(self, key_id: str, *, refresh: bool) -> ResolvedKey:
        """KeyResolver: memory → database → network; `refresh` skips both caches.

        Any failure to fetch, parse or store the key (and a recent such failure) is
        `SignatureError(KEY_UNAVAILABLE)`, which the inbox answers with 401; so is a key on
        a blocked domain, which is neither fetched nor taken from a cache.
        """
        if not self.policy.allows_url(key_id):
            raise SignatureError(
                SignatureReason.KEY_UNAVAILABLE, f"key {key_id} unavailable: domain blocked"
            )
        if not refresh:
            entry = self._memory.get(key_id)
            if entry is not None and entry.expires > time.monotonic():
                return entry.key
        local = await self._local_key(key_id)
        if local is not None:
            return self._remember(local)
        lock = self._locks.setdefault(key_id, asyncio.Lock())
        async with lock:
            if not refresh:
                cached = await self._stored_key(key_id)
                if cached is not None:
                    return self._remember(cached)
            try:
                self._check_not_failed(key_id)
                key = await self._fetch_key(key_id)
            except (FederationError, RemoteActorError, SQLAlchemyError, ValueError) as exc:
                # ValueError covers text no database accepts; the actor is simply unusable.
                log.info("key %s unavailable: %s", key_id, exc)
                self._remember_failure(key_id, str(exc))
                raise SignatureError(
                    SignatureReason.KEY_UNAVAILABLE, f"key {key_id} unavailable: {exc}"
                ) from None
            finally:
                self._locks.pop(key_id, None)
        self._failed_keys.pop(key_id, None)
        return self._remember(key)

    def _check_not_failed(self, key_id: str) -> None:
        failed = self._failed_keys.get(key_id)
        if failed is not None:
            until, why = failed
            if until > self._clock():
                raise RemoteActorError(f"failed recently, not asking again yet ({why})")
            del self._failed_keys[key_id]

    def _remember_failure(self, key_id: str, why: str) -> None:
        if key_id in self._failed_keys or self._key_failure_ttl <= timedelta(0):
            return
        if len(self._failed_keys) >= self._memory_limit:
            self._failed_keys.clear()
        self._failed_keys[key_id] = (self._clock() + self._key_failure_ttl, why[:200])

    def _remember(self, key: ResolvedKey) -> ResolvedKey:
        if len(self._memory) >= self._memory_limit:
            self._memory.clear()
        self._memory[key.key_id] = KeyCacheEntry(key, time.monotonic() + min(self._key_ttl, 3600))
        return key

    async def _local_key(self, key_id: str) -> ResolvedKey | None:
        """Our own actors' keys never need HTTP (local-to-local follows, tests)."""
        owner = self._uris.key_owner(key_id)
        if owner is None:
            return None
        username = self._uris.username_of(owner)
        async with self._sessionmaker() as session:
            if username is None:  # the instance actor
                actor = await session.scalar(select(Actor).where(Actor.is_instance.is_(True)))
            else:
                actor = await session.scalar(
                    select(Actor).where(
                        Actor.username_key == username.lower(), Actor.is_instance.is_(False)
                    )
                )
        if actor is None:
            return None
        return ResolvedKey(key_id=key_id, owner=owner, public_key_pem=actor.public_key_pem)

    async def _stored_key(self, key_id: str) -> ResolvedKey | None:
        async with self._sessionmaker() as session:
            row = await session.scalar(select(RemoteKey).where(RemoteKey.key_uri == key_id))
        if row is None or row.fetched_at < self._clock() - timedelta(seconds=self._key_ttl):
            return None
        return ResolvedKey(
            key_id=row.key_uri, owner=row.owner_uri, public_key_pem=row.public_key_pem
        )

    async def _fetch_key(self, key_id: str) -> ResolvedKey:
        doc = await self._fetch(key_id)
        if isinstance(doc, dict) and "inbox" in doc:
            actor = parse_actor(doc)
            key = find_key(actor, key_id)
            if key is None:
                raise RemoteActorError(f"actor {actor.id} does not list key {key_id}")
            await self._store(actor)
            return ResolvedKey(key_id=key.id, owner=actor.id, public_key_pem=key.pem)
        # A separate key document: its owner must list the very same key.
        key = parse_key_document(doc, key_id)
        actor = parse_actor(await self._fetch(key.owner))
        listed = find_key(actor, key_id)
        if listed is None or listed.pem.strip() != key.pem.strip():
            raise RemoteActorError(f"owner {key.owner} does not list key {key_id}")
        await self._store(actor)
        return ResolvedKey(key_id=key_id, owner=actor.id, public_key_pem=listed.pem)

    # --- actors -----------------------------------------------------------------------------

    async def _fetch(self, url: str) -> object:
        return await fetch_json(
            self._http(),
            url,
            signer=await self._signer(),
            allow_private=self._allow_private,
            policy=self.policy,
        )

    async def fetch_actor(self, uri: str) -> RemoteActor:
        """Fetch (always) and store a remote actor and its keys; RemoteActorError if either
        fails (a document the database refuses included, and an actor on a blocked
        domain, which is not asked)."""
        try:
            actor = parse_actor(await self._fetch(uri))
        except FederationError as exc:
            raise RemoteActorError(f"cannot fetch actor {uri}: {exc}") from None
        return await self._store(actor)

    async def store_actor(self, doc: ActorDocument) -> RemoteActor:
        """Store an actor document that arrived signed by that actor itself (its own
        Update), as `fetch_actor` stores a fetched one; RemoteActorError as there."""
        if not self.policy.allows_url(doc.id):
            raise RemoteActorError(
                f"cannot use actor {doc.id}: {BlockedDomainError(url_host(doc.id))}"
            )
        return await self._store(doc)

    async def get_actor(self, uri: str, *, max_age: timedelta = timedelta(days=1)) -> RemoteActor:
        """A stored actor if fresh enough, else fetched; RemoteActorError for one on a
        blocked domain, stored or not (nothing is fetched from or sent to it)."""
        if not self.policy.allows_url(uri):
            raise RemoteActorError(f"cannot use actor {uri}: {BlockedDomainError(url_host(uri))}")
        async with self._sessionmaker() as session:
            row = await session.scalar(select(RemoteActor).where(RemoteActor.uri == uri))
        if row is not None and row.fetched_at > self._clock() - max_age:
            return row
        return await self.fetch_actor(uri)

    async def stored_actors(
        self, uris: Iterable[str], *, max_age: timedelta = timedelta(days=1)
    ) -> dict[str, RemoteActor]:
        """Of `uris`, the actors stored and fresh enough, on domains the policy allows, in
        one query: what `get_actor` would return for them without fetching. The rest are
        for `get_actor` (the inbox processor asks for a whole batch's senders at once)."""
        wanted = [uri for uri in set(uris) if self.policy.allows_url(uri)]
        if not wanted:
            return {}
        oldest = self._clock() - max_age
        async with self._sessionmaker() as session:
            rows = await session.scalars(
                select(RemoteActor).where(
                    among(RemoteActor.uri, wanted), RemoteActor.fetched_at > oldest
                )
            )
            return {row.uri: row for row in rows}

    async def resolve_handle(self, user: str, host: str, *, scheme: str = "https") -> RemoteActor:
        """`user@host` → actor, through WebFinger; RemoteActorError, before any request,
        when `host` (or the actor WebFinger names) is on a blocked domain."""
        try:
            uri = await webfinger(
                self._http(),
                user,
                host,
                scheme=scheme,
                allow_private=self._allow_private,
                policy=self.policy,
            )
        except FederationError as exc:
            raise RemoteActorError(f"cannot resolve {user}@{host}: {exc}") from None
        return await self.get_actor(uri)

    async def interaction_template(
        self, user: str, host: str, *, scheme: str = "https", wait: float = 10.0
    ) -> str | None:
        """The remote-follow template (`{uri}` in it) that `user@host`'s WebFinger names,
        None when it names none; RemoteActorError when the handle does not resolve (or
        `host` is blocked), FetchTimeoutError when the server does not answer in time;
        through the same SSRF-safe client as every fetch."""
        if not user or not host or any(c.isspace() or c in "/?#@" for c in user + host):
            raise RemoteActorError(f"bad handle {user!r}@{host!r}")
        if scheme not in ("http", "https") or not self.policy.allows_host(host):
            raise RemoteActorError(f"cannot resolve {user}@{host}: blocked")
        url = f"{scheme}://{host}/.well-known/webfinger?resource=acct:{user}@{host}"
        try:
            jrd = await fetch_jrd(
                self._http(),
                url,
                allow_private=self._allow_private,
                policy=self.policy,
                timeout=wait,
            )
        except FetchTimeoutError:
            raise
        except FederationError as exc:
            raise RemoteActorError(f"cannot resolve {user}@{host}: {exc}") from None
        subject = jrd.get("subject")
        if not isinstance(subject, str) or subject.lower() != f"acct:{user}@{host}".lower():
            raise RemoteActorError(f"cannot resolve {user}@{host}: wrong subject")
        return subscribe_template(jrd)

    async def _store(self, doc: ActorDocument) -> RemoteActor:
        try:
            return await self._upsert_actor(doc)
        except (SQLAlchemyError, ValueError) as exc:
            raise RemoteActorError(f"cannot store actor {doc.id}: {type(exc).__name__}") from None

    async def _upsert_actor(self, doc: ActorDocument) -> RemoteActor:
        now = self._clock()
        values: dict[str, object] = {
            "uri": doc.id,
            "type": doc.type,
            "username": doc.preferred_username,
            "domain": acct_domain(doc.id),
            "inbox_uri": doc.inbox,
            "shared_inbox_uri": doc.shared_inbox,
            "outbox_uri": doc.outbox,
            "followers_uri": doc.followers,
            "following_uri": doc.following,
            "display_name": doc.name or "",
            "summary": doc.summary or "",
            "url": doc.url,
            "icon_url": doc.icon_url,
            "manually_approves": doc.manually_approves,
            "discoverable": doc.discoverable,
            "indexable": doc.indexable,
            "region_code": doc.region_code,
            "locality": doc.locality,
            "postal_prefix": doc.postal_prefix,
            "interests": list(doc.interests),
            "fetched_at": now,
        }
        async with self._sessionmaker() as session:
            await upsert(session, RemoteActor, values, "uri")
            for key in doc.public_keys:
                await upsert(
                    session,
                    RemoteKey,
                    {
                        "key_uri": key.id,
                        "owner_uri": doc.id,
                        "public_key_pem": key.pem,
                        "fetched_at": now,
                    },
                    "key_uri",
                )
                self._memory.pop(key.id, None)
            await session.commit()
            row = await session.scalar(select(RemoteActor).where(RemoteActor.uri == doc.id))
        assert row is not None
        return row
