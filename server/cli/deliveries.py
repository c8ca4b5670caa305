"""CLI commands for outgoing delivery: `verbund worker` and `verbund deliveries …`.

`deliveries` shows what waits, what keeps failing and what gave up, per job and per
host, and sends jobs again on request. "failed" is not a stored state: it is a
pending job that has failed at least once and waits for its next attempt.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from outbox import queue
from outbox.models import DeliveryState
from server.cli.common import CliError, load, positive, run_in_session, seconds
from server.cli.common import out as _print
from server.config import WorkerConfig, lock_seconds_problem
from server.worker import run_worker_process

__all__ = ["register"]

STATES = queue.STATES
_ERROR_WIDTH = 60


def _now() -> datetime:
    return datetime.now(UTC)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


# --- worker --------------------------------------------------------------------------------


# The flag for each `[worker]` setting; a flag given overrides the config file.
_WORKER_FLAGS = {
    "concurrency": "concurrency",
    "per_host_limit": "per_host_limit",
    "batch_size": "batch_size",
    "lock_seconds": "lock_seconds",
    "post_timeout": "timeout",
    "idle_seconds": "poll_seconds",
}


def _check_claims(args: argparse.Namespace, lock_seconds: float, post_timeout: float) -> None:
    """Claims shorter than an attempt: a usage error, exit code 2."""
    problem = lock_seconds_problem(lock_seconds, post_timeout)
    if problem is not None:
        args.parser.error(f"--lock-seconds {problem}")


def cmd_worker(args: argparse.Namespace) -> None:
    given = {
        name: getattr(args, flag)
        for name, flag in _WORKER_FLAGS.items()
        if getattr(args, flag) is not None
    }
    if "lock_seconds" in given and "post_timeout" in given:
        # Flags that contradict each other are wrong whatever the file says: say so first.
        _check_claims(args, given["lock_seconds"], given["post_timeout"])
    config = load(args)
    worker = config.worker
    _check_claims(
        args,
        given.get("lock_seconds", worker.lock_seconds),
        given.get("post_timeout", worker.post_timeout),
    )
    options = replace(worker, **given)
    logging.getLogger().setLevel(config.logging.level.upper())
    for noisy in ("sqlalchemy", "aiosqlite", "asyncio"):  # debug means ours, not every query
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from server.runtime import run_event_loop

    run_event_loop(run_worker_process(config, options))


# --- deliveries list -----------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> None:
    async def run(session: AsyncSession) -> None:
        rows = await queue.list_deliveries(
            session, state=args.state, host=args.host, limit=args.limit
        )
        if not rows:
            what = args.state or "pending, failed or dead"
            _print(f"no {what} deliveries" + (f" to {args.host}" if args.host else ""))
            return
        _print(f"{'ID':>8}  {'STATE':<7} {'TRIES':>5}  {'NEXT/LAST':<20}  {'STATUS':<6}  INBOX")
        for d, activity_type in rows:
            when = d.next_attempt_at if d.state == DeliveryState.PENDING else d.updated_at
            status = str(d.last_status) if d.last_status is not None else "-"
            _print(
                f"{d.id:>8}  {queue.shown_state(d):<7} {d.attempts:>5}  {_when(when):<20}  "
                f"{status:<6}  {d.inbox_uri}  ({activity_type})"
            )
            if d.last_error:
                error = " ".join(d.last_error.split())
                if len(error) > _ERROR_WIDTH:
                    error = error[: _ERROR_WIDTH - 1] + "…"
                _print(f"{'':>8}  {error}")

    run_in_session(args, run)


# --- deliveries show -----------------------------------------------------------------------


def cmd_show(args: argparse.Namespace) -> None:
    async def run(session: AsyncSession) -> None:
        detail = await queue.delivery_detail(session, args.id)
        if detail is None:
            raise CliError(f"no delivery with id {args.id}")
        d, activity_type, activity_uri = detail.delivery, detail.activity_type, detail.activity_uri
        attempts, host = detail.attempts, detail.host
        _print(f"delivery {d.id}: {activity_type} {activity_uri}")
        _print(f"  to:       {d.inbox_uri}")
        state = queue.shown_state(d)
        _print(f"  state:    {state}, {d.attempts} attempt(s), queued {_when(d.created_at)}")
        if attempts:
            _print("")
            _print(
                f"  {'#':>3}  {'WHEN':<20}  {'OUTCOME':<9}  {'STATUS':<6}  {'SCHEME':<11}  ERROR"
            )
            for a in attempts:
                status = str(a.status) if a.status is not None else "-"
                error = " ".join(a.error.split())
                if len(error) > _ERROR_WIDTH:
                    error = error[: _ERROR_WIDTH - 1] + "…"
                _print(
                    f"  {a.attempt:>3}  {_when(a.attempted_at):<20}  {a.outcome:<9}  "
                    f"{status:<6}  {a.signature_scheme or '-':<11}  {error}"
                )
        elif d.attempts:
            _print("  (no history kept for its earlier attempts)")
        if d.last_error:
            _print("")
            _print("  last error:")
            for line in d.last_error.splitlines() or [""]:
                _print(f"    {line}")
        _print("")
        if d.state == DeliveryState.DONE:
            _print(f"  next: nothing, delivered {_when(d.delivered_at)}")
        elif d.state == DeliveryState.DEAD:
            _print(
                "  next: nothing, it gave up (dead); "
                f"`verbund deliveries retry {d.id}` sends it again"
            )
        else:
            next_at = d.next_attempt_at
            if host is not None and host.paused_until is not None and host.paused_until > _now():
                next_at = max(next_at, host.paused_until)
                _print(f"  host {d.host} is paused until {_when(host.paused_until)}")
            _print(f"  next: attempt {d.attempts + 1} at {_when(next_at)}")
        if host is not None and host.signature_scheme:
            _print(f"  {d.host} takes {host.signature_scheme} signatures")

    run_in_session(args, run)


# --- deliveries retry ----------------------------------------------------------------------


def cmd_retry(args: argparse.Namespace) -> None:
    if not (args.ids or args.dead or args.host):
        args.parser.error("say which deliveries to retry: IDs, --dead, or --host HOST")

    async def run(session: AsyncSession) -> None:
        done = await queue.retry_deliveries(
            session, now=_now(), ids=args.ids, dead=args.dead, host=args.host
        )
        if done.missing:
            raise CliError(f"no delivery with id {', '.join(map(str, done.missing))}")
        await session.commit()
        count, busy, hosts = done.count, done.busy, done.hosts
        if args.ids and count == 0 and not busy:
            raise CliError("those deliveries are already done")
        left = f"; {busy} in flight left alone" if busy else ""
        _print(f"{count} deliveries queued again{left}")
        if hosts:
            names = ", ".join(sorted(hosts)) if len(hosts) <= 5 else f"{len(hosts)} hosts"
            _print(f"unpaused {names}")

    run_in_session(args, run)


# --- deliveries stats ----------------------------------------------------------------------


def cmd_stats(args: argparse.Namespace) -> None:
    async def run(session: AsyncSession) -> None:
        stats = await queue.queue_stats(session, now=_now(), limit=args.limit)
        counts, due, sending, oldest = stats.counts, stats.due, stats.sending, stats.oldest
        top, paused = stats.top_hosts, stats.paused
        _print("  ".join(f"{state}: {counts[state]}" for state in STATES))
        _print(
            f"due now: {due or 0}; being sent: {sending or 0}; oldest waiting since {_when(oldest)}"
        )

        if top:
            _print("")
            _print(f"{'HOST':<40} {'WAITING':>8} {'DEAD':>6}")
            for host, w, d in top:
                _print(f"{host:<40} {w or 0:>8} {d or 0:>6}")
        if paused:
            _print("")
            _print("paused hosts:")
            for h in paused:
                _print(
                    f"  {h.host}: {h.consecutive_failures} failures in a row, "
                    f"paused until {_when(h.paused_until)}"
                )

    run_in_session(args, run)


# --- parser --------------------------------------------------------------------------------


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add `worker` and `deliveries` (list, retry, stats) to the `verbund` parser."""
    defaults = WorkerConfig()
    p = sub.add_parser(
        "worker",
        parents=[common],
        help="run a delivery worker on its own (several may share one database)",
    )
    p.add_argument(
        "--concurrency",
        type=positive,
        help="requests in flight at most (default: worker.concurrency in the config file, "
        f"else {defaults.concurrency})",
    )
    p.add_argument(
        "--per-host-limit",
        type=positive,
        help="requests in flight per host at most (default: worker.per_host_limit, "
        f"else {defaults.per_host_limit})",
    )
    p.add_argument(
        "--batch-size",
        type=positive,
        help="jobs claimed at once at most (default: worker.batch_size, "
        f"else {defaults.batch_size})",
    )
    p.add_argument(
        "--lock-seconds",
        type=seconds,
        help="how long a claim holds; a dead worker's jobs are sent again after it "
        f"(default: worker.lock_seconds, else {defaults.lock_seconds:g})",
    )
    p.add_argument(
        "--timeout",
        type=seconds,
        help=f"seconds per request (default: worker.post_timeout, else {defaults.post_timeout:g})",
    )
    p.add_argument(
        "--poll-seconds",
        type=seconds,
        help="how often an idle worker looks for jobs, in seconds (default: worker.idle_seconds, "
        f"else {defaults.idle_seconds:g})",
    )
    p.set_defaults(func=cmd_worker, parser=p)

    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument(
        "--state", choices=STATES, help="only this state (default: pending, failed and dead)"
    )
    filters.add_argument("--host", help="only deliveries to this host[:port]")
    filters.add_argument("--limit", type=positive, default=50, help="at most N rows (default 50)")

    p = sub.add_parser(
        "deliveries", parents=[common, filters], help="show, count and retry outgoing deliveries"
    )
    p.set_defaults(func=cmd_list)
    dsub = p.add_subparsers(dest="deliveries_command", metavar="SUBCOMMAND")
    q = dsub.add_parser(
        "list", parents=[common, filters], help="list deliveries, newest first (the default)"
    )
    q.set_defaults(func=cmd_list)
    q = dsub.add_parser(
        "show", parents=[common], help="one delivery's attempts, last error and next step"
    )
    q.add_argument("id", type=int, metavar="ID")
    q.set_defaults(func=cmd_show)
    q = dsub.add_parser(
        "retry", parents=[common], help="send deliveries again now, with a fresh set of attempts"
    )
    q.add_argument("ids", nargs="*", type=int, metavar="ID")
    q.add_argument("--dead", action="store_true", help="all dead deliveries (with --host: there)")
    q.add_argument("--host", help="all pending, failed or dead deliveries to this host")
    q.set_defaults(func=cmd_retry, parser=q)
    q = dsub.add_parser("stats", parents=[common], help="counts per state and per host")
    q.add_argument("--limit", type=positive, default=10, help="hosts to show (default 10)")
    q.set_defaults(func=cmd_stats)
