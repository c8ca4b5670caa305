"""What the staff pages of organisations and groups (issue 16) need beyond the actions
the CLI and the API share: which actors a person holds roles on with what waits for a
decision there, and granting or revoking roles by user name (the API's
`/api/verbund/v1/roles`, on `actors.accounts`' rules: the last owner stays).

Orchestration only, as `server.actions`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors import accounts
from actors.local import get_actor
from actors.models import (
    Actor,
    ContactBox,
    ContactRequest,
    ContactState,
    Follow,
    FollowState,
    LinkState,
    OrgLink,
    RoleName,
    User,
    VisitorContact,
    VisitorContactState,
)
from federation.webfinger import is_valid_username
from server.actions import ActionError
from server.services import Services

__all__ = ["StaffedActor", "Waiting", "grant_role", "revoke_role", "staffed_actors", "waiting"]


@dataclass(frozen=True, slots=True)
class Waiting:
    """What waits for a decision of an actor's staff."""

    follow_requests: int = 0
    contact_requests: int = 0
    link_offers: int = 0
    visitor_contacts: int = 0

    @property
    def total(self) -> int:
        return (
            self.follow_requests + self.contact_requests + self.link_offers + self.visitor_contacts
        )


@dataclass(frozen=True, slots=True)
class StaffedActor:
    actor: Actor
    role: RoleName
    waiting: Waiting


async def waiting(svc: Services, actor: Actor) -> Waiting:
    """Pending follow requests, pending received contact requests, link offers received
    and open visitor contacts of our actor."""
    uri = svc.uris.actor(actor.username)

    async with svc.sessionmaker() as session:
        follows = await session.scalar(
            select(func.count())
            .select_from(Follow)
            .where(Follow.followed_uri == uri, Follow.state == FollowState.PENDING)
        )
        contacts = await session.scalar(
            select(func.count())
            .select_from(ContactRequest)
            .where(
                ContactRequest.box == ContactBox.RECEIVED,
                ContactRequest.recipient_uri == uri,
                ContactRequest.state == ContactState.PENDING,
            )
        )
        offers = await session.scalar(
            select(func.count())
            .select_from(OrgLink)
            .where(
                OrgLink.actor_uri == uri,
                OrgLink.state == LinkState.PENDING,
                OrgLink.outgoing.is_(False),
            )
        )
        visitors = await session.scalar(
            select(func.count())
            .select_from(VisitorContact)
            .where(
                VisitorContact.actor_id == actor.id,
                VisitorContact.state == VisitorContactState.OPEN,
            )
        )
    return Waiting(int(follows or 0), int(contacts or 0), int(offers or 0), int(visitors or 0))


async def staffed_actors(svc: Services, user_id: int) -> list[StaffedActor]:
    """The actors the person holds roles on (in the order granted), with what waits."""
    async with svc.sessionmaker() as session:
        held = await accounts.actors_of(session, user_id)
    return [
        StaffedActor(actor, role, await waiting(svc, actor))
        for actor, role in held
        if not actor.is_alias
    ]


async def _person(session: AsyncSession, username: str) -> User | None:
    """The person by user name; None for what cannot be one (hostile paths included)."""
    name = username.strip().lower()
    if not is_valid_username(name):
        return None
    return await accounts.find_user(session, name)


async def grant_role(svc: Services, actor_name: str, username: str, role: str) -> RoleName:
    """Give the person `username` `role` on our actor (or change theirs). ActionError for
    an unknown person or role; `accounts.LastOwnerError` when it would demote the last
    owner."""
    try:
        name = RoleName(role)
    except ValueError:
        raise ActionError("the role is owner, editor or moderator") from None
    async with svc.sessionmaker() as session:
        user = await _person(session, username)
        if user is None:
            raise ActionError(f"no user named {username!r}")
        actor = await get_actor(session, actor_name)
        await accounts.grant_role(session, user=user, actor=actor, role=name, now=svc.clock())
        await session.commit()
    return name


async def revoke_role(svc: Services, actor_name: str, username: str) -> None:
    """Take the person's role on our actor away (their tokens for it too).
    `accounts.NoRoleError`, `accounts.LastOwnerError`; ActionError for an unknown person."""
    async with svc.sessionmaker() as session:
        user = await _person(session, username)
        if user is None:
            raise ActionError(f"no user named {username!r}")
        actor = await get_actor(session, actor_name)
        await accounts.revoke_role(session, user=user, actor=actor, now=svc.clock())
        await session.commit()
