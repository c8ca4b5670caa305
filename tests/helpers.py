"""Helpers for cross-instance tests: step workers until the network is quiet; run the CLI."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from outbox.delivery import DeliveryWorker
from server import keys

if TYPE_CHECKING:
    from tests.conftest import Instance

_WORKERS: weakref.WeakKeyDictionary[web.Application, DeliveryWorker] = weakref.WeakKeyDictionary()


def worker_for(inst: Instance) -> DeliveryWorker:
    """One stepped delivery worker per test instance (tests run without background workers)."""
    worker = _WORKERS.get(inst.app)
    if worker is None:
        worker = DeliveryWorker(
            inst.sessionmaker,
            inst.app[keys.HTTP_CLIENT],
            base_url=inst.base_url,
            allow_private=True,
            clock=inst.app[keys.CLOCK],
            worker_id=f"test-{inst.name}",
            policy=inst.app[keys.POLICY],
        )
        _WORKERS[inst.app] = worker
    return worker


async def settle(*instances: Instance, rounds: int = 20) -> None:
    """Process inboxes and deliver outboxes on every instance until nothing is left to do."""
    for _ in range(rounds):
        work = 0
        for inst in instances:
            work += await inst.app[keys.PROCESSOR].run_once()
            work += await worker_for(inst).run_once()
        if work == 0:
            return
    raise AssertionError("network did not settle")


def run_cli(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`verbund ARGS` in this process, as a finished process would report it.

    Spawning a Python per command costs about a second of imports; calling
    `server.cli.main` costs milliseconds. `env` is laid over os.environ and `cwd`
    entered for the call; what the command prints (its log lines included) comes
    back as stdout and stderr. Tests of what only a real process shows (the console
    script, signals, `serve`) spawn one instead.
    """
    from server.cli import main

    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    saved_stdin = sys.stdin
    try:
        os.environ.update(env or {})
        if cwd is not None:
            os.chdir(cwd)
        sys.stdin = io.StringIO(stdin or "")
        # No handlers, so the command's logging.basicConfig writes to `err` as it would.
        root.handlers = []
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exit_:  # argparse: usage errors and --help
                code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        for handler in root.handlers:
            if handler not in saved_handlers:
                handler.close()
        root.handlers = saved_handlers
        root.setLevel(saved_level)
        sys.stdin = saved_stdin
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(["verbund", *args], code, out.getvalue(), err.getvalue())
