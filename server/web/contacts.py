"""A member's contact requests (issue 14, pages of issue 16), from and to their own
person or `?actor=NAME` they hold a role on.

`/contact/new?to=HANDLE`: write a request (named, or anonymous through a one-off alias,
`outbox.contacts.send_anonymous_request`); `/contacts`: the requests received and sent;
`/contacts/ID`: one with its thread, the reply form, and accept, decline, block and
report for a received one, withdraw for a sent one. Everything goes through
`server.actions` and `server.contact_actions`, as `verbund contact …` and
`/api/verbund/v1/contact_requests` do, with the same permissions: deciding needs
`decide_requests`, sending, replying to a sent one and withdrawing `follow`.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlencode

from aiohttp import web

from actors.accounts import Action
from actors.aliases import Disclosure
from actors.contacts import ContactView
from actors.models import ContactBox, ContactState
from actors.regions import region_name
from server import actions, contact_actions, keys
from server.web.errors import with_error_pages
from server.web.forms import require_viewer, signed_in_form
from server.web.i18n import language_of, translate
from server.web.layout import html_page
from server.web.member import Acting, acting_for

__all__ = ["add_contacts_routes"]

LIST: Final = "/contacts"
NEW: Final = "/contact/new"


def _no_store(response: web.Response) -> web.Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _thread_url(acting: Acting, request_id: int, done: str = "") -> str:
    query = [] if acting.own else [("actor", acting.username)]
    if done:
        query.append(("done", done))
    return f"{LIST}/{request_id}" + (f"?{urlencode(query)}" if query else "")


def _region(view: ContactView, language: str) -> str:
    return region_name(view.region_code, language) if view.region_code else ""


# --- writing a request ----------------------------------------------------------------------


def _new_page(
    request: web.Request,
    acting: Acting,
    values: dict[str, object],
    *,
    status: int = 200,
    error: str = "",
) -> web.Response:
    return _no_store(
        html_page(
            request,
            "contact_new.html",
            status=status,
            acting=acting,
            handle_of_actor=f"@{acting.username}@{request.app[keys.CONFIG].instance.host}",
            values=values,
            max_message=request.app[keys.CONFIG].contacts.message_limit,
            error=error,
        )
    )


async def new_form(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    acting = await acting_for(request, viewer, request.query.get("actor"), Action.FOLLOW)
    to = request.query.get("to", "").strip().removeprefix("@")
    return _new_page(request, acting, {"to": to, "message": "", "anonymous": False})


async def send(request: web.Request) -> web.Response:
    viewer, fields = await signed_in_form(request)
    acting = await acting_for(request, viewer, fields.get("actor"), Action.FOLLOW)
    anonymous = fields.get("anonymous") == "1"
    disclose = [d.value for d in Disclosure if fields.get(f"disclose_{d.value}") == "1"]
    values: dict[str, object] = {
        "to": fields.get("to", "").strip().removeprefix("@"),
        "message": fields.get("message", ""),
        "anonymous": anonymous,
        **{f"disclose_{d}": True for d in disclose},
    }
    if not values["to"]:
        error = translate(request, "Enter whom to contact, such as name@example.org.")
        return _new_page(request, acting, values, status=422, error=error)
    try:
        view = await actions.send_contact(
            request.app[keys.SERVICES],
            acting.username,
            str(values["to"]),
            str(values["message"]),
            user_id=viewer.user_id,
            wake=request.app[keys.OUTBOX_WAKE].set,
            anonymous=anonymous,
            disclose=disclose if anonymous else (),
        )
    except actions.ContactRefusedError as exc:
        status = 429 if exc.reason == actions.ContactRefusal.RATE_LIMITED else 422
        return _new_page(request, acting, values, status=status, error=str(exc))
    except actions.ActionError as exc:
        return _new_page(request, acting, values, status=422, error=str(exc))
    raise web.HTTPSeeOther(_thread_url(acting, view.request.id, "sent"))


# --- the lists and one thread ---------------------------------------------------------------


async def list_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    acting = await acting_for(request, viewer, request.query.get("actor"), Action.READ)
    views = await actions.list_contacts(request.app[keys.SERVICES], acting.username)
    language = language_of(request)
    return _no_store(
        html_page(
            request,
            "contacts.html",
            acting=acting,
            handle_of_actor=f"@{acting.username}@{request.app[keys.CONFIG].instance.host}",
            received=[
                (v, _region(v, language)) for v in views if v.request.box == ContactBox.RECEIVED
            ],
            sent=[(v, _region(v, language)) for v in views if v.request.box == ContactBox.SENT],
        )
    )


async def _own(request: web.Request, acting: Acting, number: str) -> ContactView:
    try:
        return await contact_actions.contact_view(
            request.app[keys.SERVICES], acting.username, number
        )
    except actions.ActionError:
        raise web.HTTPNotFound(text="There is no such contact request.") from None


async def _thread_page(
    request: web.Request,
    acting: Acting,
    view: ContactView,
    *,
    status: int = 200,
    error: str = "",
    reply: str = "",
) -> web.Response:
    row = view.request
    received = row.box == ContactBox.RECEIVED
    return _no_store(
        html_page(
            request,
            "contact_thread.html",
            status=status,
            acting=acting,
            view=view,
            row=row,
            received=received,
            anonymous=row.is_anonymous or row.requester_uri is not None,
            pending=row.state == ContactState.PENDING,
            region=_region(view, language_of(request)),
            may_decide=received and acting.can(Action.DECIDE_REQUESTS),
            may_write=acting.can(Action.DECIDE_REQUESTS if received else Action.FOLLOW),
            error=error,
            reply=reply,
            done=request.query.get("done", ""),
            max_message=request.app[keys.CONFIG].contacts.message_limit,
        )
    )


async def thread(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    acting = await acting_for(request, viewer, request.query.get("actor"), Action.READ)
    view = await _own(request, acting, request.match_info["id"])
    return await _thread_page(request, acting, view)


async def act(request: web.Request) -> web.Response:
    """`POST /contacts/ID/{reply|accept|decline|block|report|withdraw}`."""
    viewer, fields = await signed_in_form(request)
    acting = await acting_for(request, viewer, fields.get("actor"), Action.READ)
    number, doing = request.match_info["id"], request.match_info["action"]
    view = await _own(request, acting, number)
    received = view.request.box == ContactBox.RECEIVED
    svc, wake = request.app[keys.SERVICES], request.app[keys.OUTBOX_WAKE].set
    if doing in ("accept", "decline", "block", "report") and not received:
        raise web.HTTPNotFound(text="Only a request you received can be decided.")
    if doing == "withdraw" and received:
        raise web.HTTPNotFound(text="Only a request you sent can be withdrawn.")
    needed = Action.DECIDE_REQUESTS if received else Action.FOLLOW
    if not acting.can(needed):
        raise web.HTTPForbidden(text="Your role on this actor does not allow this.")
    try:
        if doing == "reply":
            await contact_actions.reply_contact(
                svc, acting.username, number, fields.get("message", ""), wake=wake
            )
        elif doing == "withdraw":
            await contact_actions.withdraw_contact(svc, acting.username, number, wake=wake)
        elif doing == "report":
            view = await contact_actions.report_contact(
                svc, acting.username, number, fields.get("comment", ""), wake=wake
            )
            if fields.get("decline") == "1" and view.request.state == ContactState.PENDING:
                await actions.decide_contact(svc, acting.username, number, accept=False, wake=wake)
        else:
            await actions.decide_contact(
                svc,
                acting.username,
                number,
                accept=doing == "accept",
                follow_back=fields.get("follow_back") == "1",
                block=doing == "block",
                wake=wake,
            )
    except actions.ContactConflictError as exc:
        view = await _own(request, acting, number)
        return await _thread_page(request, acting, view, status=409, error=str(exc))
    except actions.ContactRefusedError as exc:
        view = await _own(request, acting, number)
        status = 429 if exc.reason == actions.ContactRefusal.RATE_LIMITED else 422
        reply = fields.get("message", "")
        return await _thread_page(request, acting, view, status=status, error=str(exc), reply=reply)
    except actions.ActionError as exc:
        view = await _own(request, acting, number)
        return await _thread_page(request, acting, view, status=422, error=str(exc))
    raise web.HTTPSeeOther(_thread_url(acting, view.request.id, doing))


def add_contacts_routes(app: web.Application) -> None:
    app.router.add_get(NEW, with_error_pages(new_form))
    app.router.add_post(NEW, with_error_pages(send))
    app.router.add_get(LIST, with_error_pages(list_page))
    app.router.add_get(LIST + r"/{id:\d{1,18}}", with_error_pages(thread))
    app.router.add_post(
        LIST + r"/{id:\d{1,18}}/{action:reply|accept|decline|block|report|withdraw}",
        with_error_pages(act),
    )
