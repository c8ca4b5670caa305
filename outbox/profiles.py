"""Federating a changed actor document: `Update{Actor}` to the actor's followers.

Mastodon sends the same when a profile changes (ActivityPub::UpdateDistributionWorker):
the whole actor document embedded, addressed to the public, delivered to the followers'
(shared) inboxes. Receivers that keep a copy of the actor refresh it from this.

Must not import `inbox` or `server`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from actors.models import Actor
from federation.rendering import PUBLIC
from outbox.context import PublishContext
from outbox.publish import follower_inboxes, new_activity_uri

__all__ = ["render_actor_update", "send_actor_update"]


def render_actor_update(
    actor_document: dict[str, object], *, activity_uri: str
) -> dict[str, object]:
    """The Update carrying `actor_document` (as `federation.documents.render_actor` made
    it); its `@context` moves to the activity, where the embedded terms are read."""
    obj = {k: v for k, v in actor_document.items() if k != "@context"}
    return {
        "@context": actor_document["@context"],
        "id": activity_uri,
        "type": "Update",
        "actor": obj["id"],
        "to": [PUBLIC],
        "object": obj,
    }


async def send_actor_update(
    session: AsyncSession,
    ctx: PublishContext,
    actor: Actor,
    actor_document: dict[str, object],
    *,
    now: datetime | None = None,
) -> int:
    """Queue the Update of `actor`'s document for its remote followers; returns how many
    inboxes it goes to (none without followers). The caller commits, then `ctx.wake()`."""
    actor_uri = ctx.actor_uri(actor)
    inboxes = {i for i in await follower_inboxes(session, actor_uri) if not ctx.uris.is_local(i)}
    if not inboxes:
        return 0
    update = render_actor_update(
        actor_document, activity_uri=new_activity_uri(actor_uri, "updates")
    )
    await ctx.send(session, actor, update, inboxes, now or ctx.clock())
    return len(inboxes)
