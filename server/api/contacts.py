"""`/api/verbund/v1/contact_requests`: named contact requests of the acting actor (issue 14).

Any staff member sees the requests sent and received; sending needs the `follow`
permission (owners, editors), deciding and blocking `decide_requests` (owners,
moderators; a person decides their own as its owner). Everything goes through
`server.actions`, the same path as `verbund contact`. Refusals are 422 with the reason,
or 429 for the daily limit; 409 for a request that is no longer pending (decided,
expired, withdrawn, or decided by another moderator at the same moment).
"""

from __future__ import annotations

from aiohttp import web

from actors.accounts import Action
from actors.contacts import ContactView
from actors.models import ContactBox, ContactState
from actors.regions import region_name
from server import actions, contact_actions, keys
from server.api.common import (
    ApiError,
    Caller,
    Json,
    Routes,
    api_datetime,
    json_response,
    not_allowed,
    not_found,
    read_object,
    read_params,
    require_user,
    validation_failed,
)


def contact_json(view: ContactView) -> Json:
    row = view.request
    return {
        "id": str(row.id),
        "box": row.box.value,
        "state": row.state.value,
        "message": row.message,
        "sender": row.sender_uri,
        "recipient": row.recipient_uri,
        "follow_back": row.follow_back,
        "anonymous": row.is_anonymous or row.requester_uri is not None,
        "created_at": api_datetime(row.created_at),
        "updated_at": api_datetime(row.updated_at),
        "actor": {
            "uri": view.other_uri,
            "acct": view.other_handle,
            "display_name": view.other_name,
            "region": None
            if view.region_code is None
            else {
                "code": view.region_code,
                "name_en": region_name(view.region_code, "en"),
                "name_de": region_name(view.region_code, "de"),
            },
            "interests": list(view.interests),
        },
        "messages": [
            {
                "direction": m.direction.value,
                "text": m.text,
                "created_at": api_datetime(m.created_at),
            }
            for m in view.messages
        ],
    }


def _conflict(exc: actions.ContactConflictError) -> ApiError:
    return ApiError(409, f"Conflict: {exc}", "not_pending")


def _refused(exc: actions.ContactRefusedError) -> ApiError:
    if exc.reason == actions.ContactRefusal.RATE_LIMITED:
        return ApiError(429, f"Too many requests: {exc}", exc.reason.value)
    return ApiError(422, f"Validation failed: {exc}", exc.reason.value)


async def list_contacts(request: web.Request) -> web.Response:
    """`?box=received|sent` (default both),
    `?state=pending|accepted|declined|expired|withdrawn`."""
    params = await read_params(request)
    caller = await require_user(request, "read:follows")
    box_name, state_name = params.get("box"), params.get("state")
    try:
        box = ContactBox(box_name) if box_name else None
        state = ContactState(state_name) if state_name else None
    except ValueError:
        raise validation_failed(
            "box must be received or sent; state pending, accepted, declined, expired or withdrawn"
        ) from None
    views = await actions.list_contacts(
        request.app[keys.SERVICES], caller.actor.username, box=box, state=state
    )
    return json_response([contact_json(v) for v in views])


async def create_contact(request: web.Request) -> web.Response:
    """`{to: "user@host", message, anonymous?: bool, disclose?: ["region", "interests"]}`:
    send a request as the acting actor (through a one-off alias when `anonymous`)."""
    caller = await require_user(request, "write:follows")
    if not caller.ctx.can(Action.FOLLOW):
        raise not_allowed()
    body = await read_object(request)
    to, message = body.get("to"), body.get("message")
    if not isinstance(to, str) or not to:
        raise validation_failed("to must be a handle like user@example.org")
    if not isinstance(message, str):
        raise validation_failed("message must be a string")
    anonymous, disclose = body.get("anonymous", False), body.get("disclose", [])
    if not isinstance(anonymous, bool):
        raise validation_failed("anonymous must be true or false")
    if not isinstance(disclose, list) or not all(isinstance(d, str) for d in disclose):
        raise validation_failed("disclose must be a list of region, interests")
    try:
        view = await actions.send_contact(
            request.app[keys.SERVICES],
            caller.actor.username,
            to,
            message,
            user_id=caller.user.id,
            wake=request.app[keys.OUTBOX_WAKE].set,
            anonymous=anonymous,
            disclose=[d for d in disclose if isinstance(d, str)],
        )
    except actions.ContactRefusedError as exc:
        raise _refused(exc) from None
    except actions.ActionError as exc:
        raise validation_failed(str(exc)) from None
    return json_response(contact_json(view))


def _decider(caller: Caller) -> None:
    if not caller.ctx.can(Action.DECIDE_REQUESTS):
        raise not_allowed()


async def _decide(request: web.Request, *, accept: bool, block: bool = False) -> web.Response:
    caller = await require_user(request, "write:follows")
    _decider(caller)
    body = await read_object(request)
    follow_back = body.get("follow_back", True)
    if not isinstance(follow_back, bool):
        raise validation_failed("follow_back must be true or false")
    svc = request.app[keys.SERVICES]
    request_id = request.match_info["id"]
    known = await actions.list_contacts(svc, caller.actor.username, box=ContactBox.RECEIVED)
    if not any(str(v.request.id) == request_id for v in known):
        raise not_found()
    try:
        view = await actions.decide_contact(
            svc,
            caller.actor.username,
            request_id,
            accept=accept,
            follow_back=follow_back,
            block=block,
            wake=request.app[keys.OUTBOX_WAKE].set,
        )
    except actions.ContactConflictError as exc:
        raise _conflict(exc) from None
    except actions.ActionError as exc:
        raise validation_failed(str(exc)) from None
    return json_response(contact_json(view))


async def accept(request: web.Request) -> web.Response:
    """`{follow_back: bool}` (default true)."""
    return await _decide(request, accept=True)


async def decline(request: web.Request) -> web.Response:
    return await _decide(request, accept=False)


async def block(request: web.Request) -> web.Response:
    """Decline (if pending) and refuse further requests and follows from the sender."""
    return await _decide(request, accept=False, block=True)


async def _own(request: web.Request, caller: Caller) -> ContactView:
    """The request of the path that the acting actor sent or received, else 404."""
    try:
        return await contact_actions.contact_view(
            request.app[keys.SERVICES], caller.actor.username, request.match_info["id"]
        )
    except actions.ActionError:
        raise not_found() from None


async def show_contact(request: web.Request) -> web.Response:
    """One request with its thread (`messages`)."""
    caller = await require_user(request, "read:follows")
    return json_response(contact_json(await _own(request, caller)))


async def reply(request: web.Request) -> web.Response:
    """`{message}`: a direct message to the other side of a pending request (received:
    needs `decide_requests`; sent: `follow`). 409 once the request is not pending."""
    caller = await require_user(request, "write:follows")
    view = await _own(request, caller)
    needed = Action.DECIDE_REQUESTS if view.request.box == ContactBox.RECEIVED else Action.FOLLOW
    if not caller.ctx.can(needed):
        raise not_allowed()
    body = await read_object(request)
    message = body.get("message")
    if not isinstance(message, str):
        raise validation_failed("message must be a string")
    try:
        view = await contact_actions.reply_contact(
            request.app[keys.SERVICES],
            caller.actor.username,
            request.match_info["id"],
            message,
            wake=request.app[keys.OUTBOX_WAKE].set,
        )
    except actions.ContactConflictError as exc:
        raise _conflict(exc) from None
    except actions.ContactRefusedError as exc:
        raise _refused(exc) from None
    except actions.ActionError as exc:
        raise validation_failed(str(exc)) from None
    return json_response(contact_json(view))


async def report(request: web.Request) -> web.Response:
    """`{comment?, decline?}`: report the sender of a received request to its instance
    (a `Flag` from our instance actor); owners and moderators, any state. `decline`
    then declines it too, so the Flag is queued before the Reject."""
    caller = await require_user(request, "write:follows")
    _decider(caller)
    view = await _own(request, caller)
    if view.request.box != ContactBox.RECEIVED:
        raise not_found()
    body = await read_object(request)
    comment, decline_too = body.get("comment", ""), body.get("decline", False)
    if not isinstance(comment, str):
        raise validation_failed("comment must be a string")
    if not isinstance(decline_too, bool):
        raise validation_failed("decline must be true or false")
    svc, wake = request.app[keys.SERVICES], request.app[keys.OUTBOX_WAKE].set
    try:
        view = await contact_actions.report_contact(
            svc, caller.actor.username, request.match_info["id"], comment, wake=wake
        )
        if decline_too and view.request.state == ContactState.PENDING:
            view = await actions.decide_contact(
                svc, caller.actor.username, str(view.request.id), accept=False, wake=wake
            )
    except actions.ContactConflictError as exc:
        raise _conflict(exc) from None
    except actions.ActionError as exc:
        raise validation_failed(str(exc)) from None
    return json_response(contact_json(view))


def add_routes(app: web.Application) -> None:
    r = Routes(app)
    r.get("/api/verbund/v1/contact_requests", list_contacts)
    r.post("/api/verbund/v1/contact_requests", create_contact)
    r.get(r"/api/verbund/v1/contact_requests/{id:\d{1,18}}", show_contact)
    r.post(r"/api/verbund/v1/contact_requests/{id:\d{1,18}}/reply", reply)
    r.post(r"/api/verbund/v1/contact_requests/{id:\d{1,18}}/accept", accept)
    r.post(r"/api/verbund/v1/contact_requests/{id:\d{1,18}}/decline", decline)
    r.post(r"/api/verbund/v1/contact_requests/{id:\d{1,18}}/block", block)
    r.post(r"/api/verbund/v1/contact_requests/{id:\d{1,18}}/report", report)
