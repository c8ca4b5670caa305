"""`verbund reports`: reports (`Flag`) other instances sent about our actors (issue 14).

For a report of an anonymous contact alias the list names the real actor behind it,
which only this, the requester's, instance knows. Refusals end as `error: <reason>`.
"""

from __future__ import annotations

import argparse

from actors.models import Report
from server import contact_actions
from server.cli.common import out as _print
from server.cli.common import run_with_services
from server.services import Services


def report_line(report: Report) -> str:
    behind = f" (alias of {report.real_actor_uri})" if report.real_actor_uri else ""
    about = f"  about {', '.join(report.object_uris)}" if report.object_uris else ""
    comment = f"  “{report.comment}”" if report.comment else ""
    return (
        f"{report.id:>6}  {report.state.value:<8} {report.created_at:%Y-%m-%d %H:%M}  "
        f"{report.reported_uri}{behind}  by {report.reporter_uri}{comment}{about}"
    )


def cmd_list(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        reports = await contact_actions.list_reports(svc, open_only=not args.all)
        if not reports:
            _print("no reports" if args.all else "no open reports")
        for report in reports:
            _print(report_line(report))

    run_with_services(args, run)


def cmd_resolve(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        report = await contact_actions.resolve_report(svc, args.report)
        _print(f"report {report.id} resolved")

    run_with_services(args, run)


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("reports", help="reports other instances sent about our actors")
    rsub = p.add_subparsers(dest="reports_command", required=True, metavar="SUBCOMMAND")
    q = rsub.add_parser("list", parents=[common], help="open reports, newest first")
    q.add_argument("--all", action="store_true", help="resolved ones too")
    q.set_defaults(func=cmd_list)
    q = rsub.add_parser("resolve", parents=[common], help="mark a report resolved")
    q.add_argument("report", help="report number (from `reports list`)")
    q.set_defaults(func=cmd_resolve)
