"""The delivery queue as the operator sees it: list, inspect, count and requeue jobs.

`verbund deliveries …` prints what these return. "failed" is not a stored state: it
is a pending job that has failed at least once and waits for its next attempt. Every
state change goes through `outbox.jobs.transition`. Nothing here commits; the caller
does. Must not import `inbox` or `server`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from outbox.jobs import JobState, Requeued, transition
from outbox.models import Activity, Delivery, DeliveryAttempt, DeliveryHost, DeliveryState

__all__ = [
    "STATES",
    "DeliveryDetail",
    "FailingHost",
    "QueueStats",
    "RetryResult",
    "delivery_detail",
    "failing_hosts",
    "list_deliveries",
    "queue_stats",
    "retry_deliveries",
    "shown_state",
]

STATES = ("pending", "failed", "dead", "done")
_PENDING = DeliveryState.PENDING


def _state_filter(state: str) -> ColumnElement[bool]:
    if state == "failed":
        return and_(Delivery.state == _PENDING, Delivery.attempts > 0)
    if state == "pending":
        return and_(Delivery.state == _PENDING, Delivery.attempts == 0)
    return Delivery.state == state


def shown_state(d: Delivery) -> str:
    """The state as `STATES` names it (a pending job that failed shows as failed)."""
    if d.state == _PENDING and d.attempts > 0:
        return "failed"
    return d.state


async def list_deliveries(
    session: AsyncSession, *, state: str | None, host: str | None, limit: int
) -> list[tuple[Delivery, str]]:
    """Jobs (and their activity's type), newest first; without `state`, all but done."""
    query = select(Delivery, Activity.type).join(Activity, Activity.id == Delivery.activity_id)
    if state:
        query = query.where(_state_filter(state))
    else:
        query = query.where(Delivery.state != DeliveryState.DONE)
    if host:
        query = query.where(Delivery.host == host.lower())
    rows = (await session.execute(query.order_by(Delivery.id.desc()).limit(limit))).all()
    return [(d, activity_type) for d, activity_type in rows]


@dataclass(frozen=True, slots=True)
class DeliveryDetail:
    delivery: Delivery
    activity_type: str
    activity_uri: str
    attempts: Sequence[DeliveryAttempt]
    host: DeliveryHost | None


async def delivery_detail(session: AsyncSession, delivery_id: int) -> DeliveryDetail | None:
    """One job with its attempts (oldest first) and its host's record; None if unknown."""
    row = (
        await session.execute(
            select(Delivery, Activity.type, Activity.uri)
            .join(Activity, Activity.id == Delivery.activity_id)
            .where(Delivery.id == delivery_id)
        )
    ).first()
    if row is None:
        return None
    d, activity_type, activity_uri = row
    attempts = (
        await session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == d.id)
            .order_by(DeliveryAttempt.attempted_at, DeliveryAttempt.id)
        )
    ).all()
    host = await session.get(DeliveryHost, d.host)
    return DeliveryDetail(d, activity_type, activity_uri, attempts, host)


@dataclass(frozen=True, slots=True)
class RetryResult:
    count: int = 0  # jobs queued again
    busy: int = 0  # jobs in flight, left alone
    hosts: frozenset[str] = frozenset()  # hosts unpaused
    missing: tuple[int, ...] = ()  # ids asked for that do not exist (then nothing changed)


async def retry_deliveries(
    session: AsyncSession,
    *,
    now: datetime,
    ids: Sequence[int] = (),
    dead: bool = False,
    host: str | None = None,
) -> RetryResult:
    """Give the chosen jobs (not done) a fresh set of attempts now, and unpause their
    hosts. Jobs a worker is sending right now are left alone: resetting the claim would
    let a second worker send it at the same time. The caller commits."""
    selected = [Delivery.state != DeliveryState.DONE]
    if ids:
        selected.append(Delivery.id.in_(ids))
        known = set(await session.scalars(select(Delivery.id).where(Delivery.id.in_(ids))))
        missing = tuple(sorted(set(ids) - known))
        if missing:
            return RetryResult(missing=missing)
    if dead:
        selected.append(Delivery.state == DeliveryState.DEAD)
    if host:
        selected.append(Delivery.host == host.lower())
    in_flight = and_(Delivery.locked_until.is_not(None), Delivery.locked_until > now)
    busy = await session.scalar(
        select(func.count()).select_from(Delivery).where(*selected, in_flight)
    )
    hosts = set(
        await session.scalars(select(Delivery.host).distinct().where(*selected, ~in_flight))
    )
    # Requeueing does not depend on the state it starts from (pending or dead).
    step = transition(JobState(DeliveryState.DEAD, 0), Requeued(now), rng=random.Random())
    result = await session.execute(
        update(Delivery)
        .where(*selected, or_(Delivery.locked_until.is_(None), Delivery.locked_until <= now))
        .values(
            state=step.state.value,
            attempts=step.attempts,
            next_attempt_at=step.next_attempt_at,
            locked_until=None,
            locked_by=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    count = getattr(result, "rowcount", 0) or 0
    if hosts:
        await session.execute(
            update(DeliveryHost)
            .where(DeliveryHost.host.in_(hosts))
            .values(consecutive_failures=0, paused_until=None)
            .execution_options(synchronize_session=False)
        )
    return RetryResult(count=count, busy=int(busy or 0), hosts=frozenset(hosts))


@dataclass(frozen=True, slots=True)
class QueueStats:
    counts: dict[str, int]  # per `STATES` entry
    due: int
    sending: int
    oldest: datetime | None  # the oldest waiting job's creation
    top_hosts: list[tuple[str, int, int]] = field(default_factory=list)  # host, waiting, dead
    paused: list[DeliveryHost] = field(default_factory=list)  # newest pause first


async def queue_stats(session: AsyncSession, *, now: datetime, limit: int) -> QueueStats:
    """Counts per state, what is due and in flight, the `limit` busiest hosts, pauses."""
    counts = dict.fromkeys(STATES, 0)
    shown = case(
        (and_(Delivery.state == _PENDING, Delivery.attempts > 0), "failed"),
        else_=Delivery.state,
    )
    for state, n in (await session.execute(select(shown, func.count()).group_by(shown))).all():
        counts[state] = n
    held = and_(Delivery.locked_until.is_not(None), Delivery.locked_until > now)
    due = await session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.state == _PENDING, Delivery.next_attempt_at <= now, ~held)
    )
    sending = await session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.state == _PENDING, held)
    )
    oldest = await session.scalar(
        select(func.min(Delivery.created_at)).where(Delivery.state == _PENDING)
    )
    waiting = func.sum(case((Delivery.state == _PENDING, 1), else_=0))
    dead = func.sum(case((Delivery.state == DeliveryState.DEAD, 1), else_=0))
    top = (
        await session.execute(
            select(Delivery.host, waiting, dead)
            .where(Delivery.state != DeliveryState.DONE)
            .group_by(Delivery.host)
            .order_by(waiting.desc(), dead.desc(), Delivery.host)
            .limit(limit)
        )
    ).all()
    paused = (
        await session.scalars(
            select(DeliveryHost)
            .where(DeliveryHost.paused_until > now)
            .order_by(DeliveryHost.paused_until.desc())
        )
    ).all()
    return QueueStats(
        counts=counts,
        due=int(due or 0),
        sending=int(sending or 0),
        oldest=oldest,
        top_hosts=[(h, int(w or 0), int(d or 0)) for h, w, d in top],
        paused=list(paused),
    )


@dataclass(frozen=True, slots=True)
class FailingHost:
    """A host whose last deliveries failed: its streak, pause, jobs and last error."""

    host: str
    consecutive_failures: int
    last_failure_at: datetime | None
    last_success_at: datetime | None
    paused_until: datetime | None
    waiting: int  # pending jobs
    dead: int
    next_attempt_at: datetime | None  # the next pending job's, a pause included
    last_error: str


async def failing_hosts(session: AsyncSession, *, now: datetime, limit: int) -> list[FailingHost]:
    """Hosts failing now (`consecutive_failures` > 0), the most recent failure first."""
    hosts = (
        await session.scalars(
            select(DeliveryHost)
            .where(DeliveryHost.consecutive_failures > 0)
            .order_by(DeliveryHost.last_failure_at.desc(), DeliveryHost.host)
            .limit(limit)
        )
    ).all()
    if not hosts:
        return []
    names = [h.host for h in hosts]
    waiting = func.sum(case((Delivery.state == _PENDING, 1), else_=0))
    dead = func.sum(case((Delivery.state == DeliveryState.DEAD, 1), else_=0))
    next_at = func.min(case((Delivery.state == _PENDING, Delivery.next_attempt_at), else_=None))
    counts = {
        host: (int(w or 0), int(d or 0), n)
        for host, w, d, n in (
            await session.execute(
                select(Delivery.host, waiting, dead, next_at)
                .where(Delivery.host.in_(names), Delivery.state != DeliveryState.DONE)
                .group_by(Delivery.host)
            )
        ).all()
    }
    found: list[FailingHost] = []
    for h in hosts:
        w, d, n = counts.get(h.host, (0, 0, None))
        if n is not None and h.paused_until is not None and h.paused_until > n:
            n = h.paused_until
        error = await session.scalar(
            select(Delivery.last_error)
            .where(Delivery.host == h.host, Delivery.last_error != "")
            .order_by(Delivery.updated_at.desc())
            .limit(1)
        )
        found.append(
            FailingHost(
                host=h.host,
                consecutive_failures=h.consecutive_failures,
                last_failure_at=h.last_failure_at,
                last_success_at=h.last_success_at,
                paused_until=h.paused_until if h.paused_until and h.paused_until > now else None,
                waiting=w,
                dead=d,
                next_attempt_at=n,
                last_error=error or "",
            )
        )
    return found
