"""Visitors' contact requests in the API: the public JSON form of an organisation or
group, and the staff's list, answer and close.

`GET /api/verbund/v1/actors/NAME/contact` issues a form token (or says why contact is
not available), `POST` the same path submits; the staff routes act for the token's
actor: every role sees, owners and moderators answer and close (`DECIDE_REQUESTS`, as
for follow requests). Refusals are `{"error": reason text, "reason": code}` with the
status `server.visitors.REASON_STATUS` gives.
"""

from __future__ import annotations

from aiohttp import web

from actors.accounts import Action
from actors.models import VisitorContact
from actors.regions import region_name
from actors.visitors import MAX_MESSAGE, VisitorError, VisitorInput, VisitorReason
from server import keys
from server import visitors as desk
from server.api.common import (
    ApiError,
    Json,
    Routes,
    api_datetime,
    api_datetime_or_none,
    json_response,
    parse_id,
    read_params,
    require_staff,
)
from server.visitors import HONEYPOT, REASON_STATUS


def _refusal(exc: VisitorError) -> web.Response:
    return json_response(
        {"error": str(exc), "reason": exc.reason.value}, status=REASON_STATUS[exc.reason]
    )


def contact_json(row: VisitorContact) -> Json:
    region: Json | None = None
    if row.region_code:
        region = {"code": row.region_code, "name": region_name(row.region_code)}
    return {
        "id": str(row.id),
        "state": row.state.value,
        "email": row.email,
        "name": row.name,
        "message": row.message,
        "region": region,
        "interests": list(row.interests),
        "created_at": api_datetime(row.created_at),
        "verified_at": api_datetime_or_none(row.verified_at),
        "answered_at": api_datetime_or_none(row.answered_at),
        "closed_at": api_datetime_or_none(row.closed_at),
    }


async def form(request: web.Request) -> web.Response:
    """A form token for the actor's contact form; 503 with the reason without mail."""
    svc = request.app[keys.SERVICES]
    try:
        contact = await desk.contact_form(svc, request.match_info["username"])
    except VisitorError as exc:
        return _refusal(exc)
    if contact.form_token is None:
        return _refusal(VisitorError(VisitorReason.NOT_AVAILABLE, contact.reason))
    return json_response(
        {
            "form_token": contact.form_token,
            "min_form_seconds": svc.config.visitors.min_form_seconds,
            "max_message_chars": MAX_MESSAGE,
            "honeypot": HONEYPOT,
        }
    )


async def submit(request: web.Request) -> web.Response:
    """202 once the verification mail is sent (also, silently, for a filled honeypot)."""
    params = await read_params(request)
    interests = params.get_list("interests")
    raw = VisitorInput(
        message=params.get("message") or "",
        email=params.get("email") or "",
        name=params.get("name") or "",
        region=params.get("region") or "",
        interests=interests if len(interests) != 1 else interests[0],
    )
    try:
        await desk.submit_contact(
            request.app[keys.SERVICES],
            request.match_info["username"],
            raw,
            form_token=params.get("form_token") or "",
            honeypot=params.get(HONEYPOT) or "",
            client_ip=request.app[keys.LIMITS].client_address(request),
        )
    except VisitorError as exc:
        return _refusal(exc)
    return json_response({"state": "verification_sent"}, status=202)


def _contact_id(request: web.Request) -> int:
    contact_id = parse_id(request.match_info["id"])
    if contact_id is None:
        raise ApiError(404, "Record not found")
    return contact_id


async def list_contacts(request: web.Request) -> web.Response:
    """The acting actor's verified, open requests, oldest first (any role)."""
    caller = await require_staff(request, Action.READ, "read:follows")
    rows = await desk.list_contacts(request.app[keys.SERVICES], caller.actor)
    return json_response([contact_json(r) for r in rows])


async def answer(request: web.Request) -> web.Response:
    """Mail `message` to the visitor from the instance (owners and moderators)."""
    params = await read_params(request)
    caller = await require_staff(request, Action.DECIDE_REQUESTS, "write:follows")
    try:
        row = await desk.answer_contact(
            request.app[keys.SERVICES],
            caller.actor,
            _contact_id(request),
            params.get("message") or "",
        )
    except VisitorError as exc:
        return _refusal(exc)
    return json_response(contact_json(row))


async def close(request: web.Request) -> web.Response:
    """Close the request; the visitor's address is forgotten (owners and moderators)."""
    caller = await require_staff(request, Action.DECIDE_REQUESTS, "write:follows")
    try:
        row = await desk.close_contact(
            request.app[keys.SERVICES], caller.actor, _contact_id(request)
        )
    except VisitorError as exc:
        return _refusal(exc)
    return json_response(contact_json(row))


def add_routes(app: web.Application) -> None:
    r = Routes(app)
    r.get("/api/verbund/v1/actors/{username}/contact", form)
    r.post("/api/verbund/v1/actors/{username}/contact", submit)
    r.get("/api/verbund/v1/visitor_contacts", list_contacts)
    r.post("/api/verbund/v1/visitor_contacts/{id}/answer", answer)
    r.post("/api/verbund/v1/visitor_contacts/{id}/close", close)
