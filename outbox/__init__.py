"""Publishing and durable delivery. Must not import `inbox` or `server`."""

from outbox.delivery import Clock, DeliveryWorker, HostSchemeMemory
from outbox.retry import Outcome, classify, host_pause, next_delay

__all__ = [
    "Clock",
    "DeliveryWorker",
    "HostSchemeMemory",
    "Outcome",
    "classify",
    "host_pause",
    "next_delay",
]
