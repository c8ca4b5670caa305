"""What the signed-in member's pages share (issue 16): which actor a page acts for.

A member acts for their own person (the Person actor they own) unless a page names
another actor (`?actor=NAME`, a hidden `actor` field in its forms) that they hold a role
on; each action needs what their role there permits (`actors.accounts.can`), as in the
API. Anything else is a 404 (an actor they hold no role on) or a 403 (a role that does
not permit it), and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors import accounts
from actors.accounts import Action
from actors.local import find_actor
from actors.models import Actor, ActorType, Role, RoleName
from server import keys
from server.web.viewer import Viewer

__all__ = ["Acting", "acting_for", "own_person"]


@dataclass(frozen=True, slots=True)
class Acting:
    """The actor a page acts for and the member's role on it."""

    actor: Actor
    role: RoleName
    own: bool  # the member's own person

    @property
    def username(self) -> str:
        return self.actor.username

    def can(self, action: Action) -> bool:
        return accounts.can(self.role, action)

    @property
    def query(self) -> str:
        """What links to the member's other pages add to keep acting for this actor."""
        return "" if self.own else f"?actor={self.actor.username}"


async def own_person(session: AsyncSession, user_id: int) -> Actor | None:
    """The Person actor the member owns (the first, if an operator gave them several)."""
    return await session.scalar(
        select(Actor)
        .join(Role, Role.actor_id == Actor.id)
        .where(
            Role.user_id == user_id,
            Role.role == RoleName.OWNER,
            Actor.type == ActorType.PERSON.value,
            Actor.is_alias.is_(False),
        )
        .order_by(Role.id)
        .limit(1)
    )


async def acting_for(
    request: web.Request, viewer: Viewer, name: str | None, action: Action
) -> Acting:
    """The actor `name` (default: the member's own person) if the member's role on it
    permits `action`; 404 when they hold no role on it (or have no person), 403 when
    their role does not permit it."""
    async with request.app[keys.SESSIONMAKER]() as session:
        if name:
            actor = await find_actor(session, name)
        else:
            actor = await own_person(session, viewer.user_id)
        role = await accounts.role_of(session, viewer.user_id, actor.id) if actor else None
    if actor is None or role is None or actor.is_instance:
        raise web.HTTPNotFound(
            text="You have no profile here yet." if not name else "You do not act for that actor."
        )
    acting = Acting(actor, role, own=not name)
    if not acting.can(action):
        raise web.HTTPForbidden(text="Your role on this actor does not allow this.")
    return acting
