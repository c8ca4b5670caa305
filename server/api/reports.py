"""`/api/verbund/v1/admin/reports`: reports other instances sent about our actors, for
the instance's operators (users with `is_admin`; everyone else gets 403), as
`verbund reports` shows them (issue 14)."""

from __future__ import annotations

from aiohttp import web

from actors.models import Report
from server import actions, contact_actions, keys
from server.api.common import (
    Json,
    Routes,
    api_datetime,
    json_response,
    not_found,
    read_params,
    require_admin,
)


def report_json(report: Report) -> Json:
    return {
        "id": str(report.id),
        "state": report.state.value,
        "reported": report.reported_uri,
        "real_actor": report.real_actor_uri,
        "reporter": report.reporter_uri,
        "objects": [u for u in report.object_uris if isinstance(u, str)],
        "comment": report.comment,
        "created_at": api_datetime(report.created_at),
        "resolved_at": None if report.resolved_at is None else api_datetime(report.resolved_at),
    }


async def list_reports(request: web.Request) -> web.Response:
    """`?all=true`: resolved ones too (default: open only)."""
    params = await read_params(request)
    await require_admin(request)
    everything = params.get("all") in ("true", "1")
    reports = await contact_actions.list_reports(
        request.app[keys.SERVICES], open_only=not everything
    )
    return json_response([report_json(r) for r in reports])


async def resolve(request: web.Request) -> web.Response:
    await require_admin(request)
    try:
        report = await contact_actions.resolve_report(
            request.app[keys.SERVICES], request.match_info["id"]
        )
    except actions.ActionError:
        raise not_found() from None
    return json_response(report_json(report))


def add_routes(app: web.Application) -> None:
    r = Routes(app)
    r.get("/api/verbund/v1/admin/reports", list_reports)
    r.post(r"/api/verbund/v1/admin/reports/{id:\d{1,18}}/resolve", resolve)
