"""Contact requests to an organisation or group, for its staff (issue 16):
`/manage/NAME/contacts` lists the received ones (open or decided), `…/contacts/ID` shows
one with its thread and the forms to accept, decline, reply, block the sender (an
anonymous sender's alias instance included) or report it; `/manage/NAME/visitors` the
messages of visitors without an account (e-mail), to answer or close.

Every role sees them; owners and moderators decide, reply, block, report, answer and
close (`Action.DECIDE_REQUESTS`, as the API). The actions are `server.actions`',
`server.contact_actions`' and `server.visitors`', as for `verbund contact` and the API.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from actors.accounts import Action
from actors.contacts import ContactView
from actors.models import ContactBox, ContactState
from actors.regions import region_name
from actors.visitors import MAX_ANSWER, VisitorError, VisitorReason
from server import actions, contact_actions, keys
from server import visitors as desk
from server.web.errors import with_error_pages
from server.web.i18n import language_of, translate
from server.web.manage_common import MANAGE, Staff, done, load_staff, staff_form, staff_page

__all__ = ["add_manage_contact_routes"]

ID: Final = r"{id:\d{1,18}}"


def _state_label(request: web.Request, state: ContactState) -> str:
    labels = {
        ContactState.PENDING: translate(request, "Open"),
        ContactState.ACCEPTED: translate(request, "Accepted"),
        ContactState.DECLINED: translate(request, "Declined"),
        ContactState.EXPIRED: translate(request, "Expired"),
        ContactState.WITHDRAWN: translate(request, "Withdrawn"),
    }
    return labels[state]


def _notices(request: web.Request) -> dict[str, str]:
    return {
        "accepted": translate(request, "The contact request was accepted."),
        "declined": translate(request, "The contact request was declined."),
        "blocked": translate(
            request, "The sender is blocked: no more requests or follows from them."
        ),
        "replied": translate(request, "Your reply was sent."),
        "reported": translate(request, "The sender was reported to their instance."),
        "answered": translate(request, "Your answer was sent by e-mail."),
        "closed": translate(request, "The message was closed; the address is deleted."),
    }


def _row(request: web.Request, view: ContactView) -> dict[str, object]:
    row = view.request
    language = language_of(request)
    return {
        "view": view,
        "id": row.id,
        "state": row.state.value,
        "state_label": _state_label(request, row.state),
        "pending": row.state == ContactState.PENDING,
        "anonymous": row.is_anonymous or row.requester_uri is not None,
        "region": region_name(view.region_code, language) if view.region_code else "",
    }


async def _received(request: web.Request, who: Staff) -> list[ContactView]:
    return await actions.list_contacts(
        request.app[keys.SERVICES], who.name, box=ContactBox.RECEIVED
    )


async def contacts(request: web.Request) -> web.Response:
    """`?show=open` (the default) or `?show=decided`."""
    who = await load_staff(request)
    show = "decided" if request.query.get("show") == "decided" else "open"
    views = [
        v
        for v in await _received(request, who)
        if (v.request.state == ContactState.PENDING) == (show == "open")
    ]
    return staff_page(
        request,
        who,
        "manage_contacts.html",
        section="contacts",
        notices=_notices(request),
        show=show,
        rows=[_row(request, v) for v in views],
    )


async def _thread_page(
    request: web.Request, who: Staff, *, status: int = 200, error: str = "", reply: str = ""
) -> web.Response:
    try:
        view = await contact_actions.contact_view(
            request.app[keys.SERVICES], who.name, request.match_info["id"]
        )
    except actions.ActionError:
        raise web.HTTPNotFound(
            text=translate(request, "There is no such contact request.")
        ) from None
    if view.request.box != ContactBox.RECEIVED:
        raise web.HTTPNotFound(text=translate(request, "There is no such contact request."))
    return staff_page(
        request,
        who,
        "manage_contact.html",
        section="contacts",
        notices=_notices(request),
        status=status,
        error=error,
        row=_row(request, view),
        reply=reply,
        message_limit=request.app[keys.CONFIG].contacts.message_limit,
    )


async def contact(request: web.Request) -> web.Response:
    return await _thread_page(request, await load_staff(request))


def _cannot(request: web.Request, exc: Exception) -> str:
    return translate(request, "This could not be done: %(reason)s.", reason=str(exc))


async def _decide(request: web.Request, *, accept: bool, block: bool = False) -> web.Response:
    who, fields = await staff_form(request, Action.DECIDE_REQUESTS)
    svc = request.app[keys.SERVICES]
    request_id = request.match_info["id"]
    if not any(str(v.request.id) == request_id for v in await _received(request, who)):
        raise web.HTTPNotFound(text=translate(request, "There is no such contact request."))
    try:
        await actions.decide_contact(
            svc,
            who.name,
            request_id,
            accept=accept,
            follow_back=fields.get("follow_back") == "1",
            block=block,
            wake=request.app[keys.OUTBOX_WAKE].set,
        )
    except actions.ContactConflictError as exc:
        return await _thread_page(request, who, status=409, error=_cannot(request, exc))
    except actions.ActionError as exc:
        return await _thread_page(request, who, status=422, error=_cannot(request, exc))
    key = "blocked" if block else "accepted" if accept else "declined"
    raise done(f"{who.base}/contacts/{request_id}", key)


async def accept(request: web.Request) -> web.Response:
    return await _decide(request, accept=True)


async def decline(request: web.Request) -> web.Response:
    return await _decide(request, accept=False)


async def block(request: web.Request) -> web.Response:
    return await _decide(request, accept=False, block=True)


async def reply(request: web.Request) -> web.Response:
    who, fields = await staff_form(request, Action.DECIDE_REQUESTS)
    text = fields.get("message", "")
    await _thread_page(request, who)  # 404 unless the request is one received
    try:
        await contact_actions.reply_contact(
            request.app[keys.SERVICES],
            who.name,
            request.match_info["id"],
            text,
            wake=request.app[keys.OUTBOX_WAKE].set,
        )
    except actions.ContactConflictError as exc:
        return await _thread_page(request, who, status=409, error=_cannot(request, exc))
    except actions.ActionError as exc:  # refusals (empty, too long) included
        return await _thread_page(request, who, status=422, error=_cannot(request, exc), reply=text)
    raise done(f"{who.base}/contacts/{request.match_info['id']}", "replied")


async def report(request: web.Request) -> web.Response:
    """Report the sender to its instance; with `decline`, decline the request too."""
    who, fields = await staff_form(request, Action.DECIDE_REQUESTS)
    await _thread_page(request, who)
    svc, wake = request.app[keys.SERVICES], request.app[keys.OUTBOX_WAKE].set
    request_id = request.match_info["id"]
    try:
        view = await contact_actions.report_contact(
            svc, who.name, request_id, fields.get("comment", ""), wake=wake
        )
        if fields.get("decline") == "1" and view.request.state == ContactState.PENDING:
            await actions.decide_contact(svc, who.name, request_id, accept=False, wake=wake)
    except actions.ContactConflictError as exc:
        return await _thread_page(request, who, status=409, error=_cannot(request, exc))
    except actions.ActionError as exc:
        return await _thread_page(request, who, status=422, error=_cannot(request, exc))
    raise done(f"{who.base}/contacts/{request_id}", "reported")


# --- visitors (e-mail) ---------------------------------------------------------------------


async def _visitors_page(
    request: web.Request, who: Staff, *, status: int = 200, error: str = ""
) -> web.Response:
    svc = request.app[keys.SERVICES]
    rows = await desk.list_contacts(svc, who.actor)
    language = language_of(request)
    return staff_page(
        request,
        who,
        "manage_visitors.html",
        section="visitors",
        notices=_notices(request),
        status=status,
        error=error,
        rows=[(r, region_name(r.region_code, language) if r.region_code else "") for r in rows],
        mail=svc.config.mail is not None,
        max_answer=MAX_ANSWER,
    )


async def visitors(request: web.Request) -> web.Response:
    return await _visitors_page(request, await load_staff(request))


_VISITOR_STATUS: Final = {
    VisitorReason.NOT_FOUND: 404,
    VisitorReason.NOT_AVAILABLE: 503,
    VisitorReason.MAIL_FAILED: 503,
}


async def _visitor_action(request: web.Request, *, answer: bool) -> web.Response:
    who, fields = await staff_form(request, Action.DECIDE_REQUESTS)
    svc = request.app[keys.SERVICES]
    contact_id = int(request.match_info["id"])
    try:
        if answer:
            await desk.answer_contact(svc, who.actor, contact_id, fields.get("message", ""))
        else:
            await desk.close_contact(svc, who.actor, contact_id)
    except VisitorError as exc:
        return await _visitors_page(
            request, who, status=_VISITOR_STATUS.get(exc.reason, 422), error=_cannot(request, exc)
        )
    raise done(f"{who.base}/visitors", "answered" if answer else "closed")


async def answer_visitor(request: web.Request) -> web.Response:
    return await _visitor_action(request, answer=True)


async def close_visitor(request: web.Request) -> web.Response:
    return await _visitor_action(request, answer=False)


def add_manage_contact_routes(app: web.Application) -> None:
    base = MANAGE + "/{username}"
    app.router.add_get(base + "/contacts", with_error_pages(contacts))
    app.router.add_get(f"{base}/contacts/{ID}", with_error_pages(contact))
    for name, handler in (
        ("accept", accept),
        ("decline", decline),
        ("block", block),
        ("reply", reply),
        ("report", report),
    ):
        app.router.add_post(f"{base}/contacts/{ID}/{name}", with_error_pages(handler))
    app.router.add_get(base + "/visitors", with_error_pages(visitors))
    app.router.add_post(f"{base}/visitors/{ID}/answer", with_error_pages(answer_visitor))
    app.router.add_post(f"{base}/visitors/{ID}/close", with_error_pages(close_visitor))
