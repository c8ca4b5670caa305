"""The contact form of organisations and groups for visitors without an account
(`GET/POST /@NAME/contact`) and the link that verifies the visitor's address
(`GET /contact/verify/TOKEN` asks to confirm, its `POST` verifies: mail scanners and link
previews open links, so opening one must not send the message). The rules are
`actors.visitors`', run by `server.visitors`.

Refusals re-show the form with the reason and what was typed, with the status the API
gives for the same reason (`server.visitors.REASON_STATUS`). Register before the post pages: their
`/@NAME/{id}` would otherwise take `/@NAME/contact`.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qsl

from aiohttp import web

from actors.visitors import MAX_MESSAGE, VisitorError, VisitorInput, VisitorReason
from server import keys
from server import visitors as desk
from server.visitors import HONEYPOT, REASON_STATUS
from server.web.errors import not_found, with_error_pages
from server.web.i18n import translate
from server.web.layout import html_page

__all__ = ["add_contact_routes"]

MAX_FORM_BYTES: Final = 16 * 1024  # the form's fields at their limits fit many times over


def _page(
    request: web.Request,
    form: desk.ContactForm,
    *,
    status: int = 200,
    error: str = "",
    values: dict[str, str] | None = None,
) -> web.Response:
    actor = form.actor
    return html_page(
        request,
        "contact.html",
        status=status,
        actor=actor,
        name=actor.display_name or actor.username,
        profile_url=request.app[keys.URIS].profile_page(actor.username),
        action=desk.contact_form_url(request.app[keys.URIS], actor.username),
        form_token=form.form_token,
        unavailable=form.reason,
        error=error,
        values=values or {},
        honeypot=HONEYPOT,
        max_message=MAX_MESSAGE,
    )


async def contact_page(request: web.Request) -> web.Response:
    try:
        form = await desk.contact_form(request.app[keys.SERVICES], request.match_info["username"])
    except VisitorError:
        return not_found(request, translate(request, "no such organisation or group"))
    return _page(request, form)


async def contact_post(request: web.Request) -> web.Response:
    svc = request.app[keys.SERVICES]
    username = request.match_info["username"]
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_FORM_BYTES, actual_size=0)
    body = await request.content.read(MAX_FORM_BYTES + 1)
    if len(body) > MAX_FORM_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_FORM_BYTES, actual_size=len(body))
    fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    values = {k: fields.get(k, "") for k in ("message", "email", "name", "region", "interests")}
    raw = VisitorInput(**values)
    try:
        actor = await desk.submit_contact(
            svc,
            username,
            raw,
            form_token=fields.get("form_token", ""),
            honeypot=fields.get(HONEYPOT, ""),
            client_ip=request.app[keys.LIMITS].client_address(request),
        )
    except VisitorError as exc:
        if exc.reason is VisitorReason.NO_FORM:
            return not_found(request, translate(request, "no such organisation or group"))
        try:
            form = await desk.contact_form(svc, username)
        except VisitorError:
            return not_found(request, translate(request, "no such organisation or group"))
        if exc.reason is VisitorReason.TOO_FAST:
            # Keep the first token: it becomes valid by the time the visitor sends again.
            form = desk.ContactForm(form.actor, fields.get("form_token"), form.reason)
        return _page(request, form, status=REASON_STATUS[exc.reason], error=str(exc), values=values)
    return html_page(
        request,
        "contact_sent.html",
        title=translate(request, "Please check your e-mail"),
        text=translate(
            request,
            "We have sent you an e-mail with a link. Your message reaches %(name)s once you "
            "open it.",
            name=actor.display_name or actor.username,
        ),
    )


def _link_broken(request: web.Request, exc: VisitorError) -> web.Response:
    return html_page(
        request,
        "contact_sent.html",
        status=REASON_STATUS[exc.reason],
        title=translate(request, "This link does not work"),
        text=str(exc).capitalize() + ".",
    )


async def confirm_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    try:
        actor = await desk.check_link(request.app[keys.SERVICES], token)
    except VisitorError as exc:
        return _link_broken(request, exc)
    return html_page(
        request,
        "contact_confirm.html",
        name=actor.display_name or actor.username,
        action=desk.verify_url(request.app[keys.URIS], token),
    )


async def verify(request: web.Request) -> web.Response:
    try:
        actor = await desk.verify_contact(request.app[keys.SERVICES], request.match_info["token"])
    except VisitorError as exc:
        return _link_broken(request, exc)
    name = actor.display_name or actor.username
    return html_page(
        request,
        "contact_sent.html",
        title=translate(request, "Thank you"),
        text=translate(
            request,
            "Your message has been passed on to %(name)s. They will answer by e-mail.",
            name=name,
        ),
    )


def add_contact_routes(app: web.Application) -> None:
    app.router.add_get("/@{username}/contact", with_error_pages(contact_page))
    app.router.add_post("/@{username}/contact", with_error_pages(contact_post))
    app.router.add_get("/contact/verify/{token}", with_error_pages(confirm_page))
    app.router.add_post("/contact/verify/{token}", with_error_pages(verify))
