"""Receiving: bounded body → parse → rate limit → verify → owner = actor → same origin →
store → 202.

Nothing is stored unless the signature verifies and the signer is the
activity's actor. Rate limits (per remote host, per remote actor, and for
Follows per host) are checked before the costly verification, but only a
request whose signature verified is charged: the host and actor are then the
signer's own, so forged requests cannot spend a victim's budget.

Stores go through a group commit: each request waits for the commit of the
batch that holds it, so a 202 always means durably stored, while SQLite
commits once per batch instead of once per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from federation.activities import Claim, Envelope, parse_activity
from federation.actors import same_origin
from federation.errors import ParseError
from federation.policy import FederationPolicy
from federation.ratelimit import RateLimiter, retry_after_seconds
from federation.signatures import (
    KeyResolver,
    SignatureError,
    SignatureReason,
    require_owner,
    verify_request,
)
from inbox.handlers import HANDLERS
from inbox.store import InboxRow, InboxWriter
from outbox.publish import inbox_host

log = logging.getLogger("verbund.inbox")

# Types whose embedded object must come from the actor's own origin (contract §7).
_SAME_ORIGIN_OBJECT_TYPES = frozenset({"Create", "Update", "Delete", "Undo", "Announce"})


class InboxError(Exception):
    """A request the inbox refuses; `status` is the HTTP answer, `retry_after` (whole
    seconds) the `Retry-After` of a 429."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        retry_after: int | None = None,
        reason: SignatureReason | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        # Why a signature was refused (401s only), for metrics to count by reason.
        self.reason = reason


@dataclass(frozen=True, slots=True)
class InboxLimits:
    """The inbox's rate limits, keyed by the activity's actor and its host (`host[:port]`).

    Requests verified concurrently may all pass `check` before any is charged; all are
    charged afterwards, so the limit holds on average and a burst overshoots it by at
    most the requests in flight.
    """

    per_host: RateLimiter = field(default_factory=RateLimiter.off)
    per_actor: RateLimiter = field(default_factory=RateLimiter.off)
    follows_per_host: RateLimiter = field(default_factory=RateLimiter.off)

    def check(self, host: str, actor: str, act_type: str) -> None:
        """InboxError(429) if any limit that applies has no room; charges nothing."""
        if not self.enabled:
            return
        by_host = self.per_host.wait(host)
        by_actor = self.per_actor.wait(actor)
        by_follows = self.follows_per_host.wait(host) if act_type == "Follow" else 0.0
        if by_host <= 0 and by_actor <= 0 and by_follows <= 0:  # every request but the few
            return
        wait, reason = max(
            (by_host, f"too many activities from {host}"),
            (by_actor, "too many activities from this actor"),
            (by_follows, f"too many follows from {host}"),
        )
        seconds = retry_after_seconds(wait)
        raise InboxError(429, f"{reason}, retry in {seconds} s", retry_after=seconds)

    @property
    def enabled(self) -> bool:
        """Whether any limit is on (a cluster behind its own limits may switch them off)."""
        return bool(self.per_host.limit or self.per_actor.limit or self.follows_per_host.limit)

    def charge(self, host: str, actor: str, act_type: str) -> None:
        """Count one verified request against every limit that applies."""
        if not self.enabled:
            return
        self.per_host.take(host)
        self.per_actor.take(actor)
        if act_type == "Follow":
            self.follows_per_host.take(host)


def read_activity(raw: bytes) -> Envelope:
    """`federation.activities.parse_activity` for a POSTed body; InboxError(400) when it
    does not parse. The type is its pick among the types we handle."""
    try:
        return parse_activity(raw, HANDLERS)
    except ParseError as exc:
        raise InboxError(400, str(exc)) from None


def check_origins(activity: Envelope, *, local_base: str | None = None) -> None:
    """Activity ids, and the ids of objects it creates/changes, share the actor's origin.

    One exception: an `Undo` may name one of our own activities (id and actor on
    `local_base`, our origin) — ActivityRelay answers our unsubscribe with
    `Undo{object: our Undo}`. Undoing takes back only the sender's own relations, so
    naming ours can change nothing else.
    """
    if not same_origin(activity.id, activity.actor):
        raise InboxError(400, "activity id is not on the actor's origin")
    if activity.type not in _SAME_ORIGIN_OBJECT_TYPES:
        return
    # `object` may be a list (a Create of several objects): each one is checked.
    for claim in activity.claims:
        if activity.type == "Undo" and local_base and _ours(claim, local_base):
            continue
        _check_object_origin(claim, activity.type, activity.actor)


def _ours(claim: Claim, local_base: str) -> bool:
    return (
        claim.id is not None
        and same_origin(claim.id, local_base)
        and (claim.actor is None or same_origin(claim.actor, local_base))
    )


def _check_object_origin(claim: Claim, act_type: str, actor: str) -> None:
    if act_type != "Announce" and claim.id is not None and not same_origin(claim.id, actor):
        raise InboxError(400, "object id is not on the actor's origin")
    if act_type in ("Undo", "Create", "Update") and claim.actor not in (None, actor):
        raise InboxError(400, "object belongs to another actor")


# At most this many extra loop turns, and this many seconds, before a batch is written
# (`GroupCommitter._run`).
_GATHER_TURNS: Final = 8
_GATHER_SECONDS: Final = 0.003


class GroupCommitter:
    """Batches inbox inserts: one transaction for every request waiting at that moment.

    The waiting rows are a plain list and the writer task sleeps on a future of its own:
    an `asyncio.Queue` cost every request a put, a get and their bookkeeping."""

    def __init__(
        self,
        writer: InboxWriter,
        *,
        max_batch: int = 500,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._writer = writer
        self._waiting: list[tuple[InboxRow, asyncio.Future[None]]] = []
        self._wakeup: asyncio.Future[None] | None = None  # set while the task sleeps
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="inbox-group-commit")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._writer.close()

    async def store(self, row: InboxRow) -> None:
        """Wait until `row` is committed (a duplicate id counts as stored)."""
        self.start()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, fut))
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)
        await fut

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._waiting:
                self._wakeup = loop.create_future()
                try:
                    await self._wakeup
                finally:
                    self._wakeup = None
            # While requests keep arriving, gather them for a few more turns of the loop:
            # a commit costs SQLite as much as ten rows (most of it writing the WAL), and
            # under load a batch of two or three rows paid it for each. A request that
            # arrives alone waits one turn. Never past 3 ms: a turn in which the
            # inbox processor parses a stretch of its batch takes milliseconds itself.
            deadline = loop.time() + _GATHER_SECONDS
            for _ in range(_GATHER_TURNS):
                seen = len(self._waiting)
                if seen >= self._max_batch:
                    break
                await asyncio.sleep(0)
                if len(self._waiting) == seen or loop.time() > deadline:
                    break
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            try:
                await self._writer.write([row for row, _ in batch])
            except Exception as exc:  # worker-loop top: fail the waiting requests, keep serving
                log.exception("inbox batch of %d failed", len(batch))
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(InboxError(503, f"could not store: {type(exc).__name__}"))
                continue
            for _, fut in batch:
                if not fut.done():
                    fut.set_result(None)
            self._on_commit()


class InboxReceiver:
    """The receiving pipeline, free of HTTP framework types so it is easy to test."""

    def __init__(
        self,
        committer: GroupCommitter,
        resolver: KeyResolver,
        *,
        clock: Callable[[], datetime],
        policy: FederationPolicy,
        url_scheme: str = "https",
        limits: InboxLimits | None = None,
        local_base: str | None = None,
    ) -> None:
        self._url_scheme = url_scheme
        self._local_base = local_base
        self._limits = limits or InboxLimits()
        self._committer = committer
        self._resolver = resolver
        self._clock = clock
        self._policy = policy

    async def receive(
        self,
        *,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        recipient_uri: str | None,
        only_from: str | None = None,
        flags_from: str | None = None,
    ) -> str:
        """Verify and store one POSTed activity; the id of the key that signed it. Raises
        InboxError. `only_from`: the one
        actor this inbox takes activities from (an anonymous contact alias's recipient);
        anyone else's, signed or not, is refused with 403 and nothing stored, except a
        `Flag` from the server of `flags_from` (a report of the alias)."""
        activity = read_activity(body)
        act_type, actor = activity.type, activity.actor
        host = inbox_host(actor)
        if not self._policy.allows_host(host):
            raise InboxError(403, "domain blocked")
        self._limits.check(host, actor, act_type)
        now = self._clock()
        try:
            verified = await verify_request(
                method=method,
                target=target,
                headers=headers,
                body=body,
                resolver=self._resolver,
                now=now,
                url_scheme=self._url_scheme,
            )
            require_owner(verified, actor)
        except SignatureError as exc:
            raise InboxError(
                401, f"signature: {exc.reason.value}: {exc}", reason=exc.reason
            ) from None
        flag_ok = act_type == "Flag" and flags_from is not None and host == inbox_host(flags_from)
        if only_from is not None and actor != only_from and not flag_ok:
            raise InboxError(403, "this inbox takes activities from one actor only")
        self._limits.charge(host, actor, act_type)
        check_origins(activity, local_base=self._local_base)
        await self._committer.store(
            InboxRow(activity.id, actor, act_type, recipient_uri, body.decode("utf-8"), now)
        )
        return verified.key_id
