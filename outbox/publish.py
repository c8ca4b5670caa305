"""Publishing: write an activity and its delivery jobs in the caller's transaction.

The caller commits; the activity and its deliveries then exist together or not
at all (transactional outbox). The worker in `outbox.delivery` sends them.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import insert, select
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


def _activity_values(actor: Actor, activity: dict[str, object], now: datetime) -> dict[str, object]:
    """The `activities` row of `activity` (which must carry its `id`), published by `actor`."""
    uri = activity["id"]
    assert isinstance(uri, str)
    obj = activity.get("object")
    object_uri = obj if isinstance(obj, str) else obj.get("id") if isinstance(obj, dict) else None
    return {
        "uri": uri,
        "actor_id": actor.id,
        "type": str(activity.get("type", "")),
        "object_uri": object_uri if isinstance(object_uri, str) else None,
        "body": json.dumps(activity, ensure_ascii=False, separators=(",", ":")),
        "created_at": now,
    }


def _delivery_values(
    activity_id: int,
    inboxes: Iterable[str],
    *,
    now: datetime,
    policy: FederationPolicy,
    not_before: datetime | None,
) -> list[dict[str, object]]:
    """One pending `deliveries` row per distinct inbox that `policy` allows."""
    rows: list[dict[str, object]] = []
    for inbox in sorted(set(inboxes)):
        host = inbox_host(inbox)
        if not policy.allows_host(host):
            continue
        rows.append(
            {
                "activity_id": activity_id,
                "inbox_uri": inbox,
                "host": host,
                "state": DeliveryState.PENDING,
                "attempts": 0,
                "next_attempt_at": not_before or now,
                "locked_until": None,
                "locked_by": None,
                "last_status": None,
                "last_error": "",
                "created_at": now,
                "updated_at": now,
                "delivered_at": None,
            }
        )
    return rows


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
    row = Activity(**_activity_values(actor, activity, now))
    session.add(row)
    await session.flush()
    for values in _delivery_values(row.id, inboxes, now=now, policy=policy, not_before=not_before):
        session.add(Delivery(**values))
    await session.flush()
    return row


Outgoing = tuple[Actor, dict[str, object], Iterable[str]]
"""One activity for `enqueue_many`: its actor, the activity (with its `id`), its inboxes."""


async def enqueue_many(
    session: AsyncSession,
    items: Sequence[Outgoing],
    *,
    now: datetime,
    policy: FederationPolicy,
) -> None:
    """`enqueue` of several activities at once: their rows in one INSERT, all their
    deliveries in another (a run of inbox records answers many Follows together)."""
    if not items:
        return
    activities = Activity.__table__
    stored = await session.execute(
        insert(activities).returning(activities.c.uri, activities.c.id),  # type: ignore[arg-type]  # a Table
        [_activity_values(actor, activity, now) for actor, activity, _ in items],
    )
    ids: dict[str, int] = {uri: activity_id for uri, activity_id in stored}
    deliveries = [
        values
        for _, activity, inboxes in items
        for values in _delivery_values(
            ids[str(activity["id"])], inboxes, now=now, policy=policy, not_before=None
        )
    ]
    if deliveries:
        await session.execute(insert(Delivery.__table__), deliveries)  # type: ignore[arg-type]  # a Table


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
