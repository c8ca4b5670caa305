"""Receiving: bounded body, parse, verify, store, 202; then the per-type handlers run
from the stored record.

Must not import `server`, nor send HTTP itself: replies go through `outbox`'s public
modules. Other packages use the modules listed in `__all__` (wiring the receiver, the
writers and the processor); the handlers (`handlers`, `polls`, `posts`, `reactions`,
`groups`, `relations`, `relays`, `rows`) are reached only through `inbox.process`.
"""

__all__ = ["backlog", "context", "models", "process", "receive", "store"]
