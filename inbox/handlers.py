"""Per-type handlers, run from the stored record after the 202: the dispatch table.

Handlers are idempotent (a record may be processed twice after a crash) and
reply only through `outbox`'s public functions. `HANDLERS` maps each activity type
to its `HandlerSpec`; unknown types are stored and ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from actors.models import RemoteActor
from actors.remote import RemoteActorError, RemoteDirectory
from inbox.context import BatchHandler, Handler, Prefetcher
from inbox.creates import on_create, on_creates
from inbox.posts import on_update
from inbox.reactions import on_announce, on_like, prefetch_announce
from inbox.relations import on_accept, on_block, on_delete, on_follow, on_reject, on_undo

log = logging.getLogger("verbund.inbox")


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """How one activity type is handled.

    `needs_actor`: the sender's actor document is fetched (usually cached already:
    verifying the signature stored it) before the transaction, e.g. for the followers
    collection that the addressing is read against. `prefetcher`: remote documents the
    handler needs, fetched before its transaction opens. `batch`: handles a run of
    consecutive records of this type at once, with the same outcome as `handler` on
    each in turn (a record of another type ends the run); `handler` still serves a
    record retried on its own.
    """

    handler: Handler
    needs_actor: bool = False
    prefetcher: Prefetcher | None = None
    batch: BatchHandler | None = None


HANDLERS: dict[str, HandlerSpec] = {
    "Follow": HandlerSpec(on_follow, needs_actor=True),
    "Accept": HandlerSpec(on_accept),
    "Reject": HandlerSpec(on_reject),
    "Undo": HandlerSpec(on_undo),
    "Block": HandlerSpec(on_block),
    "Delete": HandlerSpec(on_delete),
    "Create": HandlerSpec(on_create, needs_actor=True, batch=on_creates),
    "Update": HandlerSpec(on_update),
    "Announce": HandlerSpec(on_announce, needs_actor=True, prefetcher=prefetch_announce),
    "Like": HandlerSpec(on_like),
}


async def prefetch_actor(directory: RemoteDirectory, actor_uri: str) -> RemoteActor | None:
    """The sender's actor, fetched before the transaction opens; None if unavailable."""
    try:
        return await directory.get_actor(actor_uri)
    except RemoteActorError as exc:
        log.info("cannot fetch %s: %s", actor_uri, exc)
        return None
