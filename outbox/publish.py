"""Publishing: write an activity and its delivery jobs in the caller's transaction.

The caller commits; the activity and its deliveries then exist together or not
at all (transactional outbox). The worker in `outbox.delivery` sends them.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.models import Actor, Block, Follow, FollowState, RemoteActor
from actors.uris import LocalUris
from federation.policy import FederationPolicy
from outbox.models import Activity, Delivery, DeliveryState


def new_activity_uri(actor_uri: str, kind: str) -> str:
    """A fresh, unique activity id under the actor (Fedify drops repeated ids silently)."""
    return LocalUris.activity_under(actor_uri, kind, uuid.uuid4().hex)


@functools.lru_cache(maxsize=8192)  # the same inboxes and actors come again and again
def inbox_host(inbox_uri: str) -> str:
    parts = urlsplit(inbox_uri)
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


async def enqueue(
    session: AsyncSession,
    *,
    actor: Actor,
    activity: dict[str, object],
    inboxes: Iterable[str],
    now: datetime,
    policy: FederationPolicy,
    not_before: datetime | None = None,
) -> Activity:
    """Store `activity` (which must carry its `id`) and one pending delivery per inbox.

    Inboxes are de-duplicated; inboxes `policy` refuses are dropped. Nothing is
    sent here, nor before `not_before` (default: as soon as a worker can). The caller
    commits.
    """
    uri = activity["id"]
    assert isinstance(uri, str)
    obj = activity.get("object")
    object_uri = obj if isinstance(obj, str) else obj.get("id") if isinstance(obj, dict) else None
    row = Activity(
        uri=uri,
        actor_id=actor.id,
        type=str(activity.get("type", "")),
        object_uri=object_uri if isinstance(object_uri, str) else None,
        body=json.dumps(activity, ensure_ascii=False, separators=(",", ":")),
        created_at=now,
    )
    session.add(row)
    await session.flush()
    for inbox in sorted(set(inboxes)):
        host = inbox_host(inbox)
        if not policy.allows_host(host):
            continue
        session.add(
            Delivery(
                activity_id=row.id,
                inbox_uri=inbox,
                host=host,
                state=DeliveryState.PENDING,
                attempts=0,
                next_attempt_at=not_before or now,
                locked_until=None,
                locked_by=None,
                last_status=None,
                last_error="",
                created_at=now,
                updated_at=now,
                delivered_at=None,
            )
        )
    await session.flush()
    return row


async def follower_inboxes(session: AsyncSession, actor_uri: str) -> set[str]:
    """Inboxes of the accepted remote followers of `actor_uri`, collapsed onto shared inboxes.

    Followers that blocked the actor are left out.
    """
    blocked = select(Block.blocker_uri).where(Block.blocked_uri == actor_uri)
    rows = await session.execute(
        select(RemoteActor.inbox_uri, RemoteActor.shared_inbox_uri)
        .join(Follow, Follow.follower_uri == RemoteActor.uri)
        .where(
            Follow.followed_uri == actor_uri,
            Follow.state == FollowState.ACCEPTED,
            RemoteActor.uri.not_in(blocked),
        )
    )
    return {shared or inbox for inbox, shared in rows}
