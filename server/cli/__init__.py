"""The `verbund` command: everything an operator does, with clear errors and exit codes.

Exit codes: 0 success, 1 a failure the message explains, 2 bad usage.

One module per command family (`instance`: init, db, serve; `actors`; `follows`; `news`;
`accounts`; `deliveries`: worker and the delivery queue; `directory`), each with a
`register` that adds its subcommands; what they share lives in `server.cli.common`. Other
packages use only `main` (the `verbund` entry point) and `build_parser`; the command
modules are private.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from actors.local import ActorError
from server import db
from server.actions import ActionError
from server.cli import (
    accounts,
    actors,
    contacts,
    deliveries,
    directory,
    follows,
    groups,
    instance,
    links,
    news,
    profile,
    relays,
    reports,
    visitors,
)
from server.cli.common import CliError, err
from server.cli.directory_peers import register_peer_commands
from server.cli.terminal import LOG_FORMAT, DirectLines, SafeFormatter
from server.config import ConfigError
from server.runtime import AccessLogger

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    config_help = "config file (default: $VERBUND_CONFIG, else ./verbund.toml)"
    # Accepted before the command and after it; SUPPRESS keeps a subcommand that was
    # not given --config from overwriting the value given before it.
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=config_help)
    parser = argparse.ArgumentParser(
        prog="verbund", description="Verbund: federated ActivityPub server for organisations"
    )
    parser.add_argument("--config", metavar="PATH", default=None, help=config_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    instance.register(sub, common)
    actor_commands = actors.register(sub, common)
    follows.register(sub, common, actor_commands)
    news.register(sub, common)
    accounts.register(sub, common)
    deliveries.register(sub, common)
    profile.register(sub, common)
    contacts.register(sub, common)
    links.register(sub, common)
    reports.register(sub, common)
    register_peer_commands(directory.register(sub, common), common)
    visitors.register(sub, common)
    relays.register(sub, common)
    groups.register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler()
    formatter = SafeFormatter(LOG_FORMAT)
    handler.setFormatter(formatter)
    AccessLogger.direct = DirectLines(handler, formatter)
    # No line shows the thread or process: records are cheaper without looking them up
    # (the logging HOWTO's "Optimization"; `serve` writes one record per request).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        args.func(args)
    except (CliError, ConfigError, ActorError, ActionError, db.DatabaseError) as exc:
        err(f"error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
