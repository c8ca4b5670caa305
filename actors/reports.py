"""Reports (`Flag`) other instances sent about our actors (issue 14), as operators see
them: record, list, resolve. Must not know about inbox/outbox pipelines or HTTP routes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.models import Report, ReportState


async def record_report(
    session: AsyncSession,
    *,
    flag_uri: str,
    reporter_uri: str,
    reported_uri: str,
    real_actor_uri: str | None,
    object_uris: Sequence[str],
    comment: str,
    now: datetime,
) -> Report:
    """Store a report once per Flag and reported actor (a Flag processed twice, or sent
    again with the same id, adds nothing)."""
    found = await session.scalar(
        select(Report).where(Report.flag_uri == flag_uri, Report.reported_uri == reported_uri)
    )
    if found is not None:
        return found
    report = Report(
        flag_uri=flag_uri,
        reporter_uri=reporter_uri,
        reported_uri=reported_uri,
        real_actor_uri=real_actor_uri,
        object_uris=list(object_uris),
        comment=comment,
        state=ReportState.OPEN,
        created_at=now,
    )
    session.add(report)
    await session.flush()
    return report


async def list_reports(session: AsyncSession, *, open_only: bool = True) -> list[Report]:
    """Reports newest first; only the open ones unless `open_only` is false."""
    query = select(Report).order_by(Report.id.desc())
    if open_only:
        query = query.where(Report.state == ReportState.OPEN)
    return list(await session.scalars(query))


async def resolve_report(session: AsyncSession, report_id: int, now: datetime) -> Report | None:
    """Mark a report resolved (again: unchanged); None if there is no such report."""
    report = await session.get(Report, report_id)
    if report is not None and report.state == ReportState.OPEN:
        report.state, report.resolved_at = ReportState.RESOLVED, now
    return report
