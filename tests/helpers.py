"""Helpers for cross-instance tests: step workers until the network is quiet."""

from __future__ import annotations

import weakref
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
