"""Invitations to sign up (issue 16) and accounts waiting for the operator's approval.

An invitation is a link `/invite/TOKEN`; the database knows the token only hashed. The
operator may invite anyone; staff of an organisation (its owners) may invite people and
have the invitation grant a role on that organisation when they sign up. An invitation
may expire and may be used a limited number of times; a revoked, expired or used-up one
is refused.

Signing up (by invitation, or openly when registrations need approval) creates the
person (`accounts.create_user`) and their own Person actor (`local.create_actor`), of
which they are the owner; a sign-up waiting for approval gets its actor only once the
operator approves it, and cannot sign in before.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Identity, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from actors import accounts
from actors.accounts import AccountError, InvalidUserError, UserExistsError, hash_secret, new_secret
from actors.base import Base
from actors.local import create_actor, find_actor
from actors.models import Actor, ActorType, RoleName, User

__all__ = [
    "MAX_USES",
    "Invitation",
    "InvitationError",
    "InvitationView",
    "SignUp",
    "SignUpState",
    "approve_sign_up",
    "create_invitation",
    "decline_sign_up",
    "find_invitation",
    "list_invitations",
    "pending_sign_ups",
    "revoke_invitation",
    "sign_up",
]

MAX_USES = 1000
MAX_DAYS = 365
MAX_NOTE = 500


class InvitationError(AccountError):
    """An invitation that cannot be made or used; the message says why."""


class Invitation(Base):
    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Who made it (None once that person is gone); the operator's have no actor.
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    # The organisation whose staff invited, and the role granted on it at sign-up.
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("actors.id", ondelete="CASCADE"), index=True, default=None
    )
    role: Mapped[str | None] = mapped_column(String(16), default=None)
    max_uses: Mapped[int] = mapped_column(Integer, default=1)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str] = mapped_column(default="")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


@dataclass(frozen=True, slots=True)
class InvitationView:
    id: int
    actor_username: str | None
    role: RoleName | None
    max_uses: int
    uses: int
    note: str
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked: bool
    usable: bool


def _usable(row: Invitation, now: datetime) -> bool:
    return (
        row.revoked_at is None
        and row.uses < row.max_uses
        and (row.expires_at is None or row.expires_at > now)
    )


async def create_invitation(
    session: AsyncSession,
    *,
    by: User,
    now: datetime,
    actor: Actor | None = None,
    role: RoleName | None = None,
    max_uses: int = 1,
    days: int | None = 7,
    note: str = "",
) -> tuple[Invitation, str]:
    """A new invitation and its token (the only time the plaintext exists).

    Without `actor` only the operator (`is_admin`) may invite; with one, only its owners
    (`accounts.Action.MANAGE_ROLES`), and `role` is granted on it at sign-up.
    Raises InvitationError. The caller commits."""
    if actor is None:
        if not by.is_admin:
            raise InvitationError("only the operator may invite people to the instance")
        if role is not None:
            raise InvitationError("a role needs an organisation to hold it on")
    elif not by.is_admin and not accounts.can(
        await accounts.role_of(session, by.id, actor.id), accounts.Action.MANAGE_ROLES
    ):
        raise InvitationError(f"you may not invite people to {actor.username}")
    if not 1 <= max_uses <= MAX_USES:
        raise InvitationError(f"an invitation may be used 1 to {MAX_USES} times")
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise InvitationError(f"an invitation may last 1 to {MAX_DAYS} days")
    if len(note) > MAX_NOTE:
        raise InvitationError(f"the note may have at most {MAX_NOTE} characters")
    token = new_secret()
    row = Invitation(
        token_hash=hash_secret(token),
        created_by=by.id,
        actor_id=actor.id if actor is not None else None,
        role=role.value if role is not None else None,
        max_uses=max_uses,
        uses=0,
        note=note.strip(),
        created_at=now,
        expires_at=now + timedelta(days=days) if days is not None else None,
    )
    session.add(row)
    await session.flush()
    return row, token


async def find_invitation(session: AsyncSession, token: str, *, now: datetime) -> Invitation:
    """The usable invitation of a token; InvitationError saying why not."""
    row = (
        await session.scalar(select(Invitation).where(Invitation.token_hash == hash_secret(token)))
        if 0 < len(token) <= 200
        else None
    )
    if row is None:
        raise InvitationError("this invitation does not exist")
    if row.revoked_at is not None:
        raise InvitationError("this invitation was withdrawn")
    if row.expires_at is not None and row.expires_at <= now:
        raise InvitationError("this invitation has expired")
    if row.uses >= row.max_uses:
        raise InvitationError("this invitation has already been used")
    return row


async def list_invitations(
    session: AsyncSession, *, now: datetime, actor: Actor | None = None
) -> list[InvitationView]:
    """The invitations of one organisation, or (no actor) every invitation, newest first."""
    query = (
        select(Invitation, Actor.username, User.username)
        .outerjoin(Actor, Actor.id == Invitation.actor_id)
        .outerjoin(User, User.id == Invitation.created_by)
        .order_by(Invitation.id.desc())
    )
    if actor is not None:
        query = query.where(Invitation.actor_id == actor.id)
    return [
        InvitationView(
            id=row.id,
            actor_username=actor_name,
            role=RoleName(row.role) if row.role else None,
            max_uses=row.max_uses,
            uses=row.uses,
            note=row.note,
            created_by=creator,
            created_at=row.created_at,
            expires_at=row.expires_at,
            revoked=row.revoked_at is not None,
            usable=_usable(row, now),
        )
        for row, actor_name, creator in await session.execute(query)
    ]


async def revoke_invitation(
    session: AsyncSession, invitation_id: int, *, now: datetime, actor: Actor | None = None
) -> None:
    """Withdraw an invitation (of `actor`, when given: staff cannot touch others')."""
    row = await session.get(Invitation, invitation_id)
    if row is None or (actor is not None and row.actor_id != actor.id):
        raise InvitationError("no such invitation")
    if row.revoked_at is None:
        row.revoked_at = now
    await session.flush()


class SignUpState(enum.StrEnum):
    ACTIVE = "active"  # signed up and may sign in
    PENDING = "pending"  # waits for the operator's approval


@dataclass(frozen=True, slots=True)
class SignUp:
    user: User
    actor: Actor | None  # their Person actor (None while pending)
    state: SignUpState


async def _check_free(session: AsyncSession, username: str) -> str:
    name = username.strip().lower()
    if await accounts.find_user(session, name) is not None or await find_actor(session, name):
        raise UserExistsError(name)
    return name


async def _own_actor(session: AsyncSession, user: User, now: datetime) -> Actor:
    actor = await create_actor(session, username=user.username, type_=ActorType.PERSON)
    await accounts.grant_role(session, user=user, actor=actor, role=RoleName.OWNER, now=now)
    return actor


async def sign_up(
    session: AsyncSession,
    *,
    username: str,
    email: str,
    password: str,
    locale: str,
    now: datetime,
    invitation: Invitation | None = None,
    needs_approval: bool = False,
    reason: str = "",
) -> SignUp:
    """A new person: by `invitation` (used once more; its role granted), or openly, then
    pending when `needs_approval`. Raises InvalidUserError, UserExistsError (the name is
    a person's or an actor's) or InvitationError. The caller commits."""
    if invitation is not None and not _usable(invitation, now):
        raise InvitationError("this invitation can no longer be used")
    if not email.strip():
        raise InvalidUserError("an e-mail address is needed")
    name = await _check_free(session, username)
    pending = needs_approval and invitation is None
    user = await accounts.create_user(
        session, username=name, password=password, email=email.strip(), now=now
    )
    user.locale = locale
    user.approval_pending = pending
    user.sign_up_reason = reason.strip()[:MAX_NOTE] if pending else ""
    if pending:
        await session.flush()
        return SignUp(user, None, SignUpState.PENDING)
    actor = await _own_actor(session, user, now)
    if invitation is not None:
        invitation.uses += 1
        if invitation.actor_id is not None and invitation.role:
            target = await session.get(Actor, invitation.actor_id)
            if target is not None:
                await accounts.grant_role(
                    session, user=user, actor=target, role=RoleName(invitation.role), now=now
                )
    await session.flush()
    return SignUp(user, actor, SignUpState.ACTIVE)


async def pending_sign_ups(session: AsyncSession) -> list[User]:
    return list(
        await session.scalars(
            select(User).where(User.approval_pending.is_(True)).order_by(User.created_at, User.id)
        )
    )


async def _pending(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None or not user.approval_pending:
        raise InvitationError("no such sign-up waits for approval")
    return user


async def approve_sign_up(session: AsyncSession, user_id: int, *, now: datetime) -> SignUp:
    """Let a pending person in: they get their Person actor and may sign in."""
    user = await _pending(session, user_id)
    if await find_actor(session, user.username) is not None:
        raise UserExistsError(user.username)
    user.approval_pending = False
    actor = await _own_actor(session, user, now)
    await session.flush()
    return SignUp(user, actor, SignUpState.ACTIVE)


async def decline_sign_up(session: AsyncSession, user_id: int) -> str:
    """Refuse a pending sign-up: the person is deleted. Their user name."""
    user = await _pending(session, user_id)
    name = user.username
    await session.delete(user)
    await session.flush()
    return name
