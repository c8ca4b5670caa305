"""What every staff page (`/manage/NAME/…`, issue 16) shares: the signed-in person's role
on the actor of the path, checked against the action the page or form needs
(`actors.accounts.can`), the page rendered with the actor's section links, and the
answer after a form (303 back with a notice, or the page again with the reason).

A visitor is sent to the sign-in page; a person without the needed role gets 403 and
nothing changes; an actor that does not exist (or the instance actor, or an alias) 404.

Must not import the page modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from actors.accounts import Action, can, role_of
from actors.local import find_actor
from actors.models import Actor, ActorType, RoleName
from federation.text import clean_text
from server import keys
from server.web.forms import require_viewer, signed_in_form
from server.web.i18n import translate
from server.web.layout import html_page
from server.web.viewer import Viewer

__all__ = [
    "MANAGE",
    "Staff",
    "done",
    "load_staff",
    "role_label",
    "staff_form",
    "staff_page",
]

MANAGE: Final = "/manage"


@dataclass(frozen=True, slots=True)
class Staff:
    """A signed-in person acting for one of our actors within their role."""

    viewer: Viewer
    actor: Actor
    role: RoleName

    @property
    def name(self) -> str:
        return self.actor.username

    @property
    def base(self) -> str:
        """The actor's staff pages' path prefix."""
        return f"{MANAGE}/{self.actor.username}"

    @property
    def is_group(self) -> bool:
        return self.actor.type is ActorType.GROUP

    def can(self, action: Action) -> bool:
        return can(self.role, action)


def role_label(request: web.Request, role: RoleName) -> str:
    labels = {
        RoleName.OWNER: translate(request, "Owner"),
        RoleName.EDITOR: translate(request, "Editor"),
        RoleName.MODERATOR: translate(request, "Moderator"),
    }
    return labels[role]


async def _staff(request: web.Request, viewer: Viewer, *actions: Action) -> Staff:
    username = request.match_info["username"]
    async with request.app[keys.SESSIONMAKER]() as session:
        actor = await find_actor(session, username)
        if actor is None or actor.is_alias:
            raise web.HTTPNotFound(text=translate(request, "There is no such actor here."))
        role = await role_of(session, viewer.user_id, actor.id)
    if role is None or not any(can(role, a) for a in actions or (Action.READ,)):
        raise web.HTTPForbidden(
            text=translate(
                request,
                "Your role on %(name)s does not allow this. Nothing was changed.",
                name=actor.username,
            )
        )
    return Staff(viewer, actor, role)


async def load_staff(request: web.Request, *actions: Action) -> Staff:
    """The signed-in person for a GET, holding a role on the path's actor that allows one
    of `actions` (any role when none are given)."""
    return await _staff(request, await require_viewer(request), *actions)


async def staff_form(request: web.Request, *actions: Action) -> tuple[Staff, dict[str, str]]:
    """A POSTed staff form: signed in, CSRF-checked, then the role (403 otherwise)."""
    viewer, fields = await signed_in_form(request)
    # NUL and lone surrogates reach no query (PostgreSQL refuses NUL in text), as the API's.
    cleaned = {clean_text(k): clean_text(v) for k, v in fields.items()}
    return await _staff(request, viewer, *actions), cleaned


def staff_page(
    request: web.Request,
    staff: Staff,
    template: str,
    *,
    section: str,
    notices: Mapping[str, str] | None = None,
    status: int = 200,
    error: str = "",
    **context: object,
) -> web.Response:
    """A staff page: `section` is the current section's key (for `aria-current`), and a
    `?done=KEY` after a form shows `notices[KEY]` (keys not listed show nothing)."""
    notice = (notices or {}).get(request.query.get("done", ""), "") if not error else ""
    response = html_page(
        request,
        template,
        status=status,
        staff=staff,
        actor=staff.actor,
        section=section,
        role_name=role_label(request, staff.role),
        Action=Action,
        notice=notice,
        error=error,
        **context,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def done(path: str, key: str) -> web.HTTPSeeOther:
    """The answer to a form that did what it asked: back to the page with a notice."""
    return web.HTTPSeeOther(f"{path}?done={key}")
