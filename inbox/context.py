"""What every inbox handler receives: the context it runs in and the typed activity.

Handlers get an `Incoming` (the parsed `Envelope`, the sender's cached actor when the
type needs it, and remote objects a prefetcher fetched) and a `HandlerContext` (the
directory, the instance's `LocalUris`, the time). They never read wire JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actors.models import RemoteActor
from actors.remote import RemoteDirectory
from actors.uris import LocalUris
from federation.activities import Activity, AsObject, parse_object
from federation.errors import FetchError
from federation.fetch import Signer, fetch_json
from federation.policy import FederationPolicy
from federation.records import record
from outbox.publish import inbox_host

log = logging.getLogger("verbund.inbox")

# Records parsed between two turns of the event loop: parsing one costs 50-200 µs, so
# requests wait a few milliseconds for a batch's parsing, not tens.
YIELD_EVERY = 25

ObjectFetcher = Callable[[str], Awaitable[AsObject]]
"""GET one ActivityStreams object by id (signed, SSRF-safe), parsed; raises `FetchError`."""


def object_fetcher(
    http: Callable[[], aiohttp.ClientSession],
    signer: Callable[[], Awaitable[Signer]],
    *,
    allow_private: bool,
    policy: FederationPolicy,
) -> ObjectFetcher:
    """An `ObjectFetcher` over `federation.fetch.fetch_json`, signed by the instance actor
    (authorized-fetch peers refuse unsigned GETs). Domains the policy blocks are never
    asked: a followed actor's boost must not pull in their posts. The server wires this in."""

    async def fetch(uri: str) -> AsObject:
        if not policy.allows_host(inbox_host(uri)):
            raise FetchError(f"{uri}: domain blocked")
        doc = await fetch_json(http(), uri, signer=await signer(), allow_private=allow_private)
        return parse_object(doc)

    return fetch


@dataclass(frozen=True, slots=True)
class HandlerContext:
    directory: RemoteDirectory
    uris: LocalUris
    now: datetime
    # Signed GET of a remote object; only prefetchers use it (never inside a transaction).
    fetch_object: ObjectFetcher | None = None
    # Serving as a relay (config `relay`): the instance domains that may subscribe; None
    # when not serving.
    relay_subscribers: frozenset[str] | None = None
    # `contacts.alias_delay_seconds`: what an alias sends in answer (its reveal, its
    # Delete) waits a random time up to this, as its first deliveries do.
    alias_delay_seconds: float = 0.0

    @property
    def policy(self) -> FederationPolicy:
        """The instance's one federation policy (the directory was built with it)."""
        return self.directory.policy


@record
class Incoming:
    """A stored activity being processed: the parsed activity and the actor it comes from."""

    activity: Activity
    actor: RemoteActor | None  # pre-fetched outside the transaction, when the type needs it
    # Remote objects a prefetcher fetched for this activity, by id (e.g. a boosted post).
    objects: Mapping[str, AsObject] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.activity.id

    @property
    def type(self) -> str:
        return self.activity.type

    @property
    def actor_uri(self) -> str:
        return self.activity.actor


Handler = Callable[[HandlerContext, AsyncSession, Incoming], Awaitable[None]]
BatchHandler = Callable[[HandlerContext, AsyncSession, Sequence[Incoming]], Awaitable[None]]
Prefetcher = Callable[
    [HandlerContext, async_sessionmaker[AsyncSession], Activity],
    Awaitable[dict[str, AsObject]],
]


def ignore(act: Incoming, reason: str) -> None:
    """An activity that was accepted (202) but is of no use here: said once, at info."""
    log.info("ignoring %s %s from %s: %s", act.type, act.id, act.actor_uri, reason)
