"""Browser sign-in sessions (issue 16): a person signed in to the web pages.

The cookie carries a random token; only its hash is stored (`actors.accounts.hash_secret`),
so a database dump signs nobody in. Each session has its own CSRF token, which every form
of a signed-in person carries. A session ends when the person signs out (this one, or
all of theirs), or `SESSION_LIFETIME` after it began.

Must not know about HTTP routes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Identity, Integer, String, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from actors.accounts import hash_secret, new_secret
from actors.base import Base
from actors.models import User

SESSION_LIFETIME = timedelta(days=30)
MAX_USER_AGENT = 200


class WebSession(Base):
    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(MAX_USER_AGENT), default="")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


async def open_session(
    session: AsyncSession, user: User, *, now: datetime, user_agent: str = ""
) -> tuple[WebSession, str]:
    """A new session for `user` and the token its cookie carries. The caller commits."""
    token = new_secret()
    row = WebSession(
        token_hash=hash_secret(token),
        user_id=user.id,
        csrf_token=new_secret(),
        user_agent=user_agent[:MAX_USER_AGENT],
        created_at=now,
        expires_at=now + SESSION_LIFETIME,
    )
    session.add(row)
    await session.flush()
    return row, token


async def find_session(
    session: AsyncSession, token: str, *, now: datetime
) -> tuple[WebSession, User] | None:
    """The live session of a cookie's token and its person; None for an unknown or ended
    one (an expired row is deleted; the caller commits)."""
    row = await session.scalar(
        select(WebSession).where(WebSession.token_hash == hash_secret(token))
    )
    if row is None:
        return None
    if row.expires_at <= now:
        await session.delete(row)
        return None
    user = await session.get(User, row.user_id)
    return (row, user) if user is not None else None


async def close_sessions(session: AsyncSession, row: WebSession, *, everywhere: bool) -> int:
    """End this session, or every session of its person; how many ended."""
    condition = WebSession.user_id == row.user_id if everywhere else WebSession.id == row.id
    result = await session.execute(delete(WebSession).where(condition))
    return int(getattr(result, "rowcount", 0) or 0)


async def list_sessions(session: AsyncSession, user_id: int, *, now: datetime) -> list[WebSession]:
    """A person's live sessions, newest first."""
    rows = await session.scalars(
        select(WebSession)
        .where(WebSession.user_id == user_id, WebSession.expires_at > now)
        .order_by(WebSession.created_at.desc(), WebSession.id.desc())
    )
    return list(rows)


async def close_session(session: AsyncSession, user_id: int, session_id: int) -> bool:
    """End one session of a person by its number; False if they have none by it."""
    result = await session.execute(
        delete(WebSession).where(WebSession.user_id == user_id, WebSession.id == session_id)
    )
    return bool(getattr(result, "rowcount", 0))


async def close_other_sessions(session: AsyncSession, row: WebSession) -> int:
    """End every session of `row`'s person but `row` (a password change, "sign out
    elsewhere"); how many ended."""
    result = await session.execute(
        delete(WebSession).where(WebSession.user_id == row.user_id, WebSession.id != row.id)
    )
    return int(getattr(result, "rowcount", 0) or 0)
