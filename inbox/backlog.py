"""The inbox processing backlog as the operator sees it (the admin pages, issue 16):
stored activities not processed yet, those waiting for a retry, and those given up with
their error. Reads only; nothing here commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import InboxActivity

__all__ = ["InboxBacklog", "failed_activities", "inbox_backlog", "retrying_activities"]


@dataclass(frozen=True, slots=True)
class InboxBacklog:
    waiting: int  # stored, not processed yet (retries included)
    retrying: int  # of those, failed at least once and waiting for the next attempt
    failed: int  # given up after the last attempt (`error` says why)
    oldest: datetime | None  # when the oldest waiting one arrived


async def inbox_backlog(session: AsyncSession) -> InboxBacklog:
    unprocessed = InboxActivity.processed_at.is_(None)
    waiting, oldest = (
        await session.execute(
            select(func.count(), func.min(InboxActivity.received_at)).where(unprocessed)
        )
    ).one()
    retrying = await session.scalar(
        select(func.count())
        .select_from(InboxActivity)
        .where(unprocessed, InboxActivity.attempts > 0)
    )
    failed = await session.scalar(
        select(func.count())
        .select_from(InboxActivity)
        .where(InboxActivity.processed_at.is_not(None), InboxActivity.error != "")
    )
    return InboxBacklog(int(waiting or 0), int(retrying or 0), int(failed or 0), oldest)


async def failed_activities(session: AsyncSession, *, limit: int) -> list[InboxActivity]:
    """Activities given up, newest first."""
    return list(
        await session.scalars(
            select(InboxActivity)
            .where(InboxActivity.processed_at.is_not(None), InboxActivity.error != "")
            .order_by(InboxActivity.id.desc())
            .limit(limit)
        )
    )


async def retrying_activities(session: AsyncSession, *, limit: int) -> list[InboxActivity]:
    """Activities that failed and wait for another attempt, the next due first."""
    return list(
        await session.scalars(
            select(InboxActivity)
            .where(InboxActivity.processed_at.is_(None), InboxActivity.attempts > 0)
            .order_by(InboxActivity.retry_at, InboxActivity.id)
            .limit(limit)
        )
    )
