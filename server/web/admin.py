"""The operator's pages (issue 16): `/admin` and below, for `users.is_admin` only.

Instance settings safe to change at run time (`server.instance_settings`), domain blocks
and the allow-list, relays (`server.relays`), directory peers (`actors.peers`), reports
(`server.contact_actions`), and the delivery health: the queue, failing hosts, dead
deliveries and their retry (`outbox.queue`, as `verbund deliveries` uses it) and the
inbox backlog (`inbox.backlog`). Everything is done by the same functions the CLI and the
API call. Visitors are sent to sign in; a signed-in person who is not an operator gets
403. Every form is a POST with the session's CSRF token, answered with a redirect back
to its page (`?done=…` names what happened) or the page again with what was wrong.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import func, select

from actors.models import DomainRuleKind, Report, ReportState
from actors.peers import DirectorySync, add_operator_peer, remove_operator_peer
from actors.relays import Relay
from inbox.backlog import failed_activities, inbox_backlog, retrying_activities
from outbox import queue
from server import contact_actions, keys, relays
from server.actions import ActionError
from server.instance_settings import (
    FEDERATION_MODES,
    MAX_DESCRIPTION,
    MAX_NAME,
    MAX_RULES,
    REGISTRATION_MODES,
    DomainRuleError,
    InstanceSettings,
    SettingsError,
    add_domain_rule,
    list_domain_rules,
    refresh_policy,
    remove_domain_rule,
    save_settings,
)
from server.web.errors import with_error_pages
from server.web.forms import check_csrf, read_form, require_viewer
from server.web.i18n import translate
from server.web.layout import html_page
from server.web.viewer import Viewer
from server.worker import make_directory_sync

__all__ = ["add_admin_routes"]

LIST_LIMIT: Final = 50
_PEER = re.compile(r"^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?$")
NO_STORE: Final = {"Cache-Control": "no-store"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def require_admin(request: web.Request) -> Viewer:
    """The signed-in operator; visitors go to sign in, everyone else gets 403."""
    viewer = await require_viewer(request)
    if not viewer.is_admin:
        raise web.HTTPForbidden(
            text=translate(request, "Only the operators of this instance may use this page.")
        )
    return viewer


async def admin_form(request: web.Request) -> dict[str, str]:
    """A POSTed form of the operator, CSRF-checked (403 and nothing changed otherwise)."""
    viewer = await require_admin(request)
    fields = await read_form(request)
    check_csrf(viewer, fields)
    return fields


def back(path: str, done: str, **values: str) -> web.HTTPSeeOther:
    """The redirect after a change, with what happened for the page to say."""
    return web.HTTPSeeOther(f"{path}?{urlencode({'done': done, **values})}")


def page(
    request: web.Request, template: str, *, status: int = 200, **context: object
) -> web.Response:
    query = request.query
    response = html_page(
        request,
        template,
        status=status,
        done=query.get("done", ""),
        what=query.get("what", ""),
        **context,
    )
    response.headers.update(NO_STORE)
    return response


# --- overview ------------------------------------------------------------------------------


async def overview(request: web.Request) -> web.Response:
    await require_admin(request)
    now = request.app[keys.CLOCK]()
    config = request.app[keys.CONFIG]
    async with request.app[keys.SESSIONMAKER]() as session:
        blocks = len(await list_domain_rules(session, DomainRuleKind.BLOCK))
        allowed = len(await list_domain_rules(session, DomainRuleKind.ALLOW))
        relay_count = await session.scalar(select(func.count()).select_from(Relay))
        reports = await session.scalar(
            select(func.count()).select_from(Report).where(Report.state == ReportState.OPEN)
        )
        stats = await queue.queue_stats(session, now=now, limit=1)
        failing = await queue.failing_hosts(session, now=now, limit=LIST_LIMIT)
        backlog = await inbox_backlog(session)
    peers = await _directory_sync(request).statuses()
    return page(
        request,
        "admin/overview.html",
        title=translate(request, "Administration"),
        blocks=blocks + len(config.federation.blocked_domains),
        allowed=allowed,
        relays=int(relay_count or 0),
        peers=len(peers),
        reports=int(reports or 0),
        stats=stats,
        failing=len(failing),
        backlog=backlog,
    )


# --- settings ------------------------------------------------------------------------------

SETTING_FIELDS: Final = (
    "name",
    "description",
    "contact_email",
    "registration_mode",
    "rules",
    "default_language",
)


def _setting_problem(request: web.Request, exc: SettingsError) -> str:
    field = exc.field
    if field == "name":
        return translate(request, "The name must have 1 to %(max)s characters.", max=MAX_NAME)
    if field == "description":
        return translate(
            request, "The description may have at most %(max)s characters.", max=MAX_DESCRIPTION
        )
    if field == "contact_email":
        return translate(request, "The contact email is not an email address.")
    if field == "rules":
        return translate(request, "The rules may have at most %(max)s characters.", max=MAX_RULES)
    if field == "default_language":
        return translate(
            request, "The default post language must be a two- or three-letter code (de, en)."
        )
    return translate(request, "Please choose one of the options offered.")


def _settings_page(
    request: web.Request,
    settings: InstanceSettings | dict[str, str],
    *,
    status: int = 200,
    error: str = "",
    error_field: str = "",
) -> web.Response:
    values = (
        settings
        if isinstance(settings, dict)
        else {name: str(getattr(settings, name)) for name in SETTING_FIELDS}
    )
    return page(
        request,
        "admin/settings.html",
        status=status,
        title=translate(request, "Instance settings"),
        values=values,
        modes=REGISTRATION_MODES,
        error=error,
        error_field=error_field,
    )


async def settings_form(request: web.Request) -> web.Response:
    await require_admin(request)
    settings = await request.app[keys.SETTINGS].get(request.app[keys.SESSIONMAKER])
    return _settings_page(request, settings)


async def settings_save(request: web.Request) -> web.Response:
    fields = await admin_form(request)
    changes = {name: fields.get(name, "") for name in SETTING_FIELDS}
    app = request.app
    try:
        async with app[keys.SESSIONMAKER]() as session:
            await save_settings(session, app[keys.CONFIG], changes, now=app[keys.CLOCK]())
            await session.commit()
    except SettingsError as exc:
        return _settings_page(
            request,
            changes,
            status=422,
            error=_setting_problem(request, exc),
            error_field=exc.field,
        )
    app[keys.SETTINGS].invalidate()
    raise back("/admin/settings", "saved")


# --- domain blocks and the allow-list ------------------------------------------------------


async def _domains_page(
    request: web.Request,
    *,
    status: int = 200,
    error: str = "",
    form: str = "",
    values: dict[str, str] | None = None,
) -> web.Response:
    app = request.app
    async with app[keys.SESSIONMAKER]() as session:
        blocks = await list_domain_rules(session, DomainRuleKind.BLOCK)
        allowed = await list_domain_rules(session, DomainRuleKind.ALLOW)
    settings = await app[keys.SETTINGS].get(app[keys.SESSIONMAKER])
    return page(
        request,
        "admin/domains.html",
        status=status,
        title=translate(request, "Domain blocks and allow-list"),
        blocks=blocks,
        config_blocks=app[keys.CONFIG].federation.blocked_domains,
        allowed=allowed,
        mode=settings.federation_mode,
        modes=FEDERATION_MODES,
        error=error,
        form=form,
        values=values or {},
    )


async def domains(request: web.Request) -> web.Response:
    await require_admin(request)
    return await _domains_page(request)


def _domain_problem(request: web.Request, exc: DomainRuleError) -> str:
    if exc.code == "own":
        return translate(request, "This instance cannot block its own domain.")
    return translate(request, "That is not a domain name (for example spam.example).")


async def _refresh_policy(request: web.Request) -> None:
    """This process's policy takes the change now; the others within seconds."""
    app = request.app
    await refresh_policy(app[keys.SESSIONMAKER], app[keys.POLICY], app[keys.CONFIG])


def _domain_action(kind: DomainRuleKind, *, add: bool) -> Handler:
    form_name = f"{kind.value}-{'add' if add else 'remove'}"

    async def handler(request: web.Request) -> web.Response:
        fields = await admin_form(request)
        app = request.app
        domain = fields.get("domain", "")
        async with app[keys.SESSIONMAKER]() as session:
            if add:
                try:
                    row = await add_domain_rule(
                        session,
                        app[keys.CONFIG],
                        kind=kind,
                        domain=domain,
                        reason=fields.get("reason", ""),
                        now=app[keys.CLOCK](),
                    )
                except DomainRuleError as exc:
                    return await _domains_page(
                        request,
                        status=422,
                        error=_domain_problem(request, exc),
                        form=form_name,
                        values=fields,
                    )
                domain = row.domain
            elif not await remove_domain_rule(session, kind=kind, domain=domain):
                raise web.HTTPNotFound(
                    text=translate(request, "There is no such entry (any more).")
                )
            await session.commit()
        await _refresh_policy(request)
        raise back("/admin/domains", form_name, what=domain)

    return handler


async def federation_mode(request: web.Request) -> web.Response:
    fields = await admin_form(request)
    app = request.app
    try:
        async with app[keys.SESSIONMAKER]() as session:
            await save_settings(
                session,
                app[keys.CONFIG],
                {"federation_mode": fields.get("mode", "")},
                now=app[keys.CLOCK](),
            )
            await session.commit()
    except SettingsError:
        return await _domains_page(
            request,
            status=422,
            error=translate(request, "Please choose one of the options offered."),
            form="mode",
        )
    app[keys.SETTINGS].invalidate()
    await _refresh_policy(request)
    raise back("/admin/domains", "mode")


# --- relays --------------------------------------------------------------------------------


async def _relays_page(
    request: web.Request, *, status: int = 200, error: str = "", url: str = ""
) -> web.Response:
    rows = await relays.list_relays(request.app[keys.SERVICES])
    return page(
        request,
        "admin/relays.html",
        status=status,
        title=translate(request, "Relays"),
        relays=rows,
        error=error,
        url=url,
    )


async def relays_list(request: web.Request) -> web.Response:
    await require_admin(request)
    return await _relays_page(request)


async def relay_add(request: web.Request) -> web.Response:
    fields = await admin_form(request)
    url = fields.get("url", "").strip()
    try:
        row = await relays.add_relay(request.app[keys.SERVICES], url)
    except relays.RelayError as exc:
        return await _relays_page(
            request,
            status=422,
            error=translate(request, "The relay could not be added: %(reason)s", reason=str(exc)),
            url=url,
        )
    request.app[keys.OUTBOX_WAKE].set()
    raise back("/admin/relays", "added", what=row.inbox_uri)


async def relay_remove(request: web.Request) -> web.Response:
    fields = await admin_form(request)
    try:
        row = await relays.remove_relay(request.app[keys.SERVICES], fields.get("url", ""))
    except relays.RelayError as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    request.app[keys.OUTBOX_WAKE].set()
    raise back("/admin/relays", "removed", what=row.inbox_uri)


# --- directory peers -----------------------------------------------------------------------


def _directory_sync(request: web.Request) -> DirectorySync:
    svc = request.app[keys.SERVICES]
    return make_directory_sync(
        svc.config,
        svc.sessionmaker,
        svc.http,
        clock=svc.clock,
        signer=svc.instance_signer,
        policy=svc.policy,
    )


async def _peers_page(
    request: web.Request, *, status: int = 200, error: str = "", peer: str = ""
) -> web.Response:
    config = request.app[keys.CONFIG]
    return page(
        request,
        "admin/peers.html",
        status=status,
        title=translate(request, "Directory peers"),
        peers=await _directory_sync(request).statuses(),
        configured=config.directory.peers,
        error=error,
        peer=peer,
    )


async def peers_list(request: web.Request) -> web.Response:
    await require_admin(request)
    return await _peers_page(request)


async def peer_add(request: web.Request) -> web.Response:
    fields = await admin_form(request)
    config = request.app[keys.CONFIG]
    domain = fields.get("domain", "").strip().lower().rstrip("/")
    domain = domain.removeprefix("https://").removeprefix("http://")
    if not _PEER.match(domain) or domain == config.instance.domain:
        return await _peers_page(
            request,
            status=422,
            error=translate(request, "Give another instance's domain, with :port if it has one."),
            peer=fields.get("domain", ""),
        )
    async with request.app[keys.SESSIONMAKER]() as session:
        await add_operator_peer(session, domain, now=request.app[keys.CLOCK]())
        await session.commit()
    raise back("/admin/peers", "added", what=domain)


async def peer_remove(request: web.Request) -> web.Response:
    fields = await admin_form(request)
    domain = fields.get("domain", "")
    async with request.app[keys.SESSIONMAKER]() as session:
        removed = await remove_operator_peer(session, domain)
        await session.commit()
    if not removed:
        raise web.HTTPNotFound(text=translate(request, "There is no such entry (any more)."))
    await _directory_sync(request).ensure_peers()  # drops its row and entries now
    raise back("/admin/peers", "removed", what=domain)


# --- reports -------------------------------------------------------------------------------


async def reports_list(request: web.Request) -> web.Response:
    await require_admin(request)
    show_all = request.query.get("all") == "1"
    rows = await contact_actions.list_reports(request.app[keys.SERVICES], open_only=not show_all)
    return page(
        request,
        "admin/reports.html",
        title=translate(request, "Reports"),
        reports=rows,
        show_all=show_all,
    )


async def report_resolve(request: web.Request) -> web.Response:
    fields = await admin_form(request)
    number = request.match_info["report"]
    try:
        await contact_actions.resolve_report(request.app[keys.SERVICES], number)
    except ActionError:
        raise web.HTTPNotFound(text=translate(request, "There is no such report.")) from None
    del fields
    raise back("/admin/reports", "resolved", what=number)


# --- delivery health -----------------------------------------------------------------------


async def deliveries(request: web.Request) -> web.Response:
    await require_admin(request)
    now = request.app[keys.CLOCK]()
    async with request.app[keys.SESSIONMAKER]() as session:
        stats = await queue.queue_stats(session, now=now, limit=10)
        failing = await queue.failing_hosts(session, now=now, limit=LIST_LIMIT)
        dead = await queue.list_deliveries(session, state="dead", host=None, limit=LIST_LIMIT)
        backlog = await inbox_backlog(session)
        inbox_failed = await failed_activities(session, limit=20)
        inbox_retrying = await retrying_activities(session, limit=20)
    return page(
        request,
        "admin/deliveries.html",
        title=translate(request, "Delivery health"),
        stats=stats,
        states=queue.STATES,
        failing=failing,
        dead=dead,
        backlog=backlog,
        inbox_failed=inbox_failed,
        inbox_retrying=inbox_retrying,
    )


async def deliveries_retry(request: web.Request) -> web.Response:
    """Send again now: one delivery (`id`), all of a host's (`host`), or all dead ones."""
    fields = await admin_form(request)
    ident, host = fields.get("id", "").strip(), fields.get("host", "").strip()
    dead = fields.get("dead") == "1"
    if ident and not ident.isdigit():
        raise web.HTTPBadRequest(text=translate(request, "There is no such delivery."))
    if not (ident or host or dead):
        raise web.HTTPBadRequest(text=translate(request, "Say which deliveries to send again."))
    async with request.app[keys.SESSIONMAKER]() as session:
        done = await queue.retry_deliveries(
            session,
            now=request.app[keys.CLOCK](),
            ids=[int(ident)] if ident else (),
            dead=dead and not ident,
            host=(host or None) if not ident else None,
        )
        if done.missing:
            raise web.HTTPNotFound(text=translate(request, "There is no such delivery."))
        await session.commit()
    request.app[keys.OUTBOX_WAKE].set()
    raise back("/admin/deliveries", "retried", what=str(done.count))


def add_admin_routes(app: web.Application) -> None:
    routes: list[tuple[str, str, Handler]] = [
        ("GET", "/admin", overview),
        ("GET", "/admin/settings", settings_form),
        ("POST", "/admin/settings", settings_save),
        ("GET", "/admin/domains", domains),
        ("POST", "/admin/domains/block", _domain_action(DomainRuleKind.BLOCK, add=True)),
        ("POST", "/admin/domains/unblock", _domain_action(DomainRuleKind.BLOCK, add=False)),
        ("POST", "/admin/domains/allow", _domain_action(DomainRuleKind.ALLOW, add=True)),
        ("POST", "/admin/domains/disallow", _domain_action(DomainRuleKind.ALLOW, add=False)),
        ("POST", "/admin/domains/mode", federation_mode),
        ("GET", "/admin/relays", relays_list),
        ("POST", "/admin/relays/add", relay_add),
        ("POST", "/admin/relays/remove", relay_remove),
        ("GET", "/admin/peers", peers_list),
        ("POST", "/admin/peers/add", peer_add),
        ("POST", "/admin/peers/remove", peer_remove),
        ("GET", "/admin/reports", reports_list),
        ("POST", "/admin/reports/{report:[0-9]+}/resolve", report_resolve),
        ("GET", "/admin/deliveries", deliveries),
        ("POST", "/admin/deliveries/retry", deliveries_retry),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, with_error_pages(handler))
