"""`verbund directory peers` and `verbund directory sync [PEER]`: the peers whose
directories we read (`directory.peers`), how their syncs went, and a sync on demand.

`register_peer_commands(directory_sub, common)` adds both to the `directory` group's
subparsers. A sync started here claims its peer like the scheduled one does
(`actors.peers`), so it never runs alongside a worker's sync of the same peer.
"""

from __future__ import annotations

import argparse
from datetime import datetime

from actors.peers import DirectorySync, SyncReport, UnknownPeerError
from server.cli.common import CliError, run_with_services
from server.cli.common import out as _print
from server.services import Services
from server.worker import make_directory_sync

__all__ = ["register_peer_commands"]

_ERROR_WIDTH = 70


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _ERROR_WIDTH else text[: _ERROR_WIDTH - 1] + "…"


def _directory_sync(services: Services) -> DirectorySync:
    return make_directory_sync(
        services.config,
        services.sessionmaker,
        services.http,
        clock=services.clock,
        signer=services.instance_signer,
        policy=services.policy,
    )


def cmd_peers(args: argparse.Namespace) -> None:
    async def run(services: Services) -> None:
        sync = _directory_sync(services)
        statuses = await sync.statuses()
        if not statuses:
            _print("no directory peers (directory.peers is empty)")
            return
        width = max(len("PEER"), *(len(s.domain) for s in statuses))
        _print(f"{'PEER':<{width}}  {'LAST SYNC':<20}  {'LAST SUCCESS':<20}  {'ENTRIES':>7}  ERROR")
        for s in statuses:
            error = _short(s.last_error) or ("(syncing now)" if s.syncing else "-")
            _print(
                f"{s.domain:<{width}}  {_when(s.last_sync_at):<20}  "
                f"{_when(s.last_success_at):<20}  {s.entry_count:>7}  {error}"
            )

    run_with_services(args, run)


def _report_line(r: SyncReport) -> str:
    kind = "full" if r.full else "incremental"
    if r.not_modified:
        kind += ", unchanged"
    line = (
        f"{r.peer}: {kind} sync, {r.requests} requests, {r.pages} pages, "
        f"{r.added} added, {r.updated} updated, {r.removed} removed, {r.skipped} skipped, "
        f"{r.bytes} bytes, {r.seconds:.2f} s"
    )
    return line + (f"; error: {r.error}" if r.error else "")


def cmd_sync(args: argparse.Namespace) -> None:
    failed: list[str] = []

    async def run(services: Services) -> None:
        sync = _directory_sync(services)
        if args.peer is not None:
            try:
                domains = [sync.peers[sync.peers.index(args.peer.strip().lower())]]
            except ValueError:
                raise CliError(
                    f"{args.peer} is not a directory peer (directory.peers: "
                    f"{', '.join(sync.peers) or 'none'})"
                ) from None
        else:
            domains = list(sync.peers)
            if not domains:
                _print("no directory peers (directory.peers is empty)")
                return
        full = True if args.full else None
        for domain in domains:
            try:
                report = await sync.sync_peer(domain, full=full)
            except UnknownPeerError as exc:  # the list changed under us: cannot, but say so
                raise CliError(str(exc)) from None
            _print(_report_line(report))
            if not report.complete:
                failed.append(domain)

    run_with_services(args, run)
    if failed:
        raise CliError(f"the sync of {', '.join(failed)} did not complete (see above)")


def register_peer_commands(
    directory_sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """Add `peers` and `sync [PEER]` to the `directory` command's subparsers."""
    p = directory_sub.add_parser(
        "peers",
        parents=[common],
        help="list the peers whose directories we read: last sync, last success, entries, error",
    )
    p.set_defaults(func=cmd_peers)
    p = directory_sub.add_parser(
        "sync", parents=[common], help="sync peers' directories now (all, or one)"
    )
    p.add_argument("peer", nargs="?", default=None, help="a domain from directory.peers")
    p.add_argument(
        "--full", action="store_true", help="a full sync (drops entries no longer listed)"
    )
    p.set_defaults(func=cmd_sync)
