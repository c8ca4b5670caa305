"""Publishing and durable delivery. Must not import `inbox` or `server`."""

from outbox.delivery import Clock, DeliveryWorker, HostSchemeMemory, WorkerStats
from outbox.retry import Outcome, classify, host_pause, next_delay

__all__ = [
    "Clock",
    "DeliveryWorker",
    "HostSchemeMemory",
    "Outcome",
    "WorkerStats",
    "classify",
    "host_pause",
    "next_delay",
]
