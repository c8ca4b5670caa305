"""What every publishing command needs besides its own arguments, in one value.

The API and the CLI each build one `PublishContext` from the same parts (see
`PublishContext.create`) and pass it to `outbox.posts` and `outbox.polls`; the commands
read the clock once, build local URLs through `uris`, drop recipients the `policy`
refuses, and the caller calls `wake()` after committing. Must not import `inbox` or
`server`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from actors.models import Actor, RemoteActor
from actors.remote import RemoteDirectory
from actors.uris import LocalUris
from federation.policy import OPEN, FederationPolicy
from outbox.content import prepare_mentions
from outbox.publish import enqueue

__all__ = ["PublishContext"]


def _no_wake() -> None:
    """No delivery worker to tell (tests that step the worker themselves)."""


@dataclass(frozen=True, slots=True)
class PublishContext:
    """`uris`: this instance's URL layout. `clock`: aware UTC now. `policy`: whom we send
    to. `directory` and `webfinger_scheme`: how mentions resolve (`resolve_mentions`).
    `wake`: tells the delivery worker that new jobs are committed."""

    uris: LocalUris
    clock: Callable[[], datetime]
    policy: FederationPolicy = OPEN
    directory: RemoteDirectory | None = None
    webfinger_scheme: str = "https"
    wake: Callable[[], None] = _no_wake

    @classmethod
    def create(
        cls,
        *,
        base_url: str,
        clock: Callable[[], datetime],
        blocked_domains: Iterable[str] = (),
        directory: RemoteDirectory | None = None,
        webfinger_scheme: str = "https",
        wake: Callable[[], None] = _no_wake,
    ) -> PublishContext:
        """The context of an instance from its configured parts (API and CLI alike)."""
        return cls(
            uris=LocalUris(base_url),
            clock=clock,
            policy=FederationPolicy.blocking(blocked_domains),
            directory=directory,
            webfinger_scheme=webfinger_scheme,
            wake=wake,
        )

    def actor_uri(self, actor: Actor) -> str:
        return self.uris.actor(actor.username)

    async def send(
        self,
        session: AsyncSession,
        actor: Actor,
        activity: dict[str, object],
        inboxes: Iterable[str],
        now: datetime,
    ) -> None:
        """Queue `activity` from `actor` for `inboxes` (`outbox.publish.enqueue` under this
        context's policy). The caller commits, then calls `wake()`."""
        await enqueue(
            session, actor=actor, activity=activity, inboxes=inboxes, now=now, policy=self.policy
        )

    async def resolve_mentions(self, text: str) -> dict[str, RemoteActor]:
        """`outbox.content.prepare_mentions` with this context's directory; call it
        before opening a transaction (it is network work). No directory: no mentions."""
        if self.directory is None:
            return {}
        return await prepare_mentions(
            self.directory,
            text,
            local_base_url=self.uris.base_url,
            webfinger_scheme=self.webfinger_scheme,
        )
