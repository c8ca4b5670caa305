"""Organisation links for an organisation's or group's staff (issue 16):
`/manage/NAME/links` lists its parent, branches and partners with their state, the offers
received (accept, decline) and sent (withdraw), offers a link to another organisation by
handle or URL, ends a link, and chooses the relayed news of each confirmed branch (all,
posts with some tags, none).

Every role sees the links; offering needs `Action.FOLLOW` (owners, editors), accepting
and declining `DECIDE_REQUESTS` (owners, moderators), ending either, relaying `PUBLISH`
— the API's rules. The actions are `server.links`', as for `verbund link` and the API.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from actors.accounts import Action
from actors.links import LINKABLE_TYPES, LinkView
from actors.models import LinkKind, RelayMode
from server import keys, links
from server.actions import ActionError
from server.web.errors import with_error_pages
from server.web.i18n import translate
from server.web.manage_common import MANAGE, Staff, done, load_staff, staff_form, staff_page

__all__ = ["add_manage_link_routes"]

ID: Final = r"{id:\d{1,18}}"


def _kind_label(request: web.Request, kind: LinkKind) -> str:
    labels = {
        LinkKind.PARENT: translate(request, "Parent organisation"),
        LinkKind.BRANCH: translate(request, "Branch"),
        LinkKind.PARTNER: translate(request, "Partner"),
    }
    return labels[kind]


def _notices(request: web.Request) -> dict[str, str]:
    return {
        "offered": translate(
            request, "The link was offered; it shows once the other side confirms it."
        ),
        "accepted": translate(request, "The link is confirmed."),
        "declined": translate(request, "The offer was declined."),
        "ended": translate(request, "The link was ended."),
        "relay": translate(request, "The relayed news were changed."),
    }


def _row(request: web.Request, view: LinkView) -> dict[str, object]:
    row = view.link
    return {
        "view": view,
        "id": row.id,
        "kind_label": _kind_label(request, row.kind),
        "is_branch": row.kind == LinkKind.BRANCH,
        "relay": row.relay.value,
        "relay_tags": ", ".join(row.relay_tags),
        "since": row.updated_at,
    }


async def _page(
    request: web.Request,
    who: Staff,
    *,
    status: int = 200,
    error: str = "",
    values: dict[str, str] | None = None,
) -> web.Response:
    svc = request.app[keys.SERVICES]
    confirmed = await links.list_links(svc, who.name)
    pending = await links.list_links(svc, who.name, pending=True)
    return staff_page(
        request,
        who,
        "manage_links.html",
        section="links",
        notices=_notices(request),
        status=status,
        error=error,
        linkable=who.actor.type.value in LINKABLE_TYPES,
        confirmed=[_row(request, v) for v in confirmed],
        received=[_row(request, v) for v in pending if not v.link.outgoing],
        sent=[_row(request, v) for v in pending if v.link.outgoing],
        kinds=[(k.value, _kind_label(request, k)) for k in LinkKind],
        values=values or {},
    )


async def links_page(request: web.Request) -> web.Response:
    return await _page(request, await load_staff(request))


def _cannot(request: web.Request, exc: Exception) -> str:
    return translate(request, "This could not be done: %(reason)s.", reason=str(exc))


async def offer(request: web.Request) -> web.Response:
    who, fields = await staff_form(request, Action.FOLLOW)
    values = {"to": fields.get("to", "").strip(), "kind": fields.get("kind", "")}
    try:
        if not values["to"]:
            raise ActionError(translate(request, "enter the handle or address of an organisation"))
        await links.offer(
            request.app[keys.SERVICES],
            who.name,
            values["kind"],
            values["to"],
            wake=request.app[keys.OUTBOX_WAKE].set,
        )
    except ActionError as exc:
        return await _page(request, who, status=422, error=_cannot(request, exc), values=values)
    raise done(f"{who.base}/links", "offered")


async def _pending_received(request: web.Request, who: Staff) -> None:
    pending = await links.list_links(request.app[keys.SERVICES], who.name, pending=True)
    link_id = request.match_info["id"]
    if not any(str(v.link.id) == link_id and not v.link.outgoing for v in pending):
        raise web.HTTPNotFound(text=translate(request, "There is no such link offer."))


async def _decide(request: web.Request, *, accept: bool) -> web.Response:
    who, _ = await staff_form(request, Action.DECIDE_REQUESTS)
    await _pending_received(request, who)
    try:
        await links.decide_link(
            request.app[keys.SERVICES],
            who.name,
            request.match_info["id"],
            accept=accept,
            wake=request.app[keys.OUTBOX_WAKE].set,
        )
    except ActionError as exc:
        return await _page(request, who, status=409, error=_cannot(request, exc))
    raise done(f"{who.base}/links", "accepted" if accept else "declined")


async def accept(request: web.Request) -> web.Response:
    return await _decide(request, accept=True)


async def decline(request: web.Request) -> web.Response:
    return await _decide(request, accept=False)


async def end(request: web.Request) -> web.Response:
    """End a confirmed link, or withdraw an offer we sent."""
    who, _ = await staff_form(request, Action.DECIDE_REQUESTS, Action.FOLLOW)
    try:
        await links.end_link_with(
            request.app[keys.SERVICES],
            who.name,
            request.match_info["id"],
            wake=request.app[keys.OUTBOX_WAKE].set,
        )
    except ActionError as exc:
        return await _page(request, who, status=409, error=_cannot(request, exc))
    raise done(f"{who.base}/links", "ended")


async def relay(request: web.Request) -> web.Response:
    """`relay` all | tags | none, `tags` the hashtags (separated by commas or spaces)."""
    who, fields = await staff_form(request, Action.PUBLISH)
    mode = fields.get("relay", "")
    choice = mode
    if mode == RelayMode.TAGS.value:
        choice = "tags:" + ",".join(fields.get("tags", "").replace(",", " ").split())
    try:
        await links.set_relay(
            request.app[keys.SERVICES],
            who.name,
            request.match_info["id"],
            choice,
            wake=request.app[keys.OUTBOX_WAKE].set,
        )
    except ActionError as exc:
        return await _page(request, who, status=422, error=_cannot(request, exc))
    raise done(f"{who.base}/links", "relay")


def add_manage_link_routes(app: web.Application) -> None:
    base = MANAGE + "/{username}/links"
    app.router.add_get(base, with_error_pages(links_page))
    app.router.add_post(base, with_error_pages(offer))
    for name, handler in (("accept", accept), ("decline", decline), ("end", end), ("relay", relay)):
        app.router.add_post(f"{base}/{ID}/{name}", with_error_pages(handler))
