"""Serving: the one way to put the app on a socket, with deadlines for slow clients;
and process-wide tuning for the long-running commands (`verbund serve`, `verbund worker`).

`start_server` is what `verbund serve` and the test fixtures use, so tests exercise the
production protocol settings. aiohttp bounds neither how long a request's headers nor how
long its body may take to arrive (its keep-alive timer only closes a connection waiting
for a request, after an hour by default), so one connection that trickles a byte a
second holds a handler forever. `_RequestHandler` adds both deadlines:

- headers: `server.header_timeout_seconds` from the connection's start, or on a
  kept-alive connection from the first byte of the next request, until the parser has
  the complete request line and headers; then the connection is closed without an answer.
  Idle time between requests is the keep-alive timer's business, not this one's.
- body: `server.body_timeout_seconds` from the end of the headers until the body's end.
  On expiry the connection stops reading and every read of the body raises
  `BodyTimeoutError`: the handler answers 408 (or, if it already answered, nothing more
  is read) and the connection is closed.

Both timers are only set when a request does not arrive whole in one read, so a request
in a single segment costs nothing extra.

It relies on these aiohttp (3.x) internals, pinned by tests/server/test_inbox_http.py:
`web.Server` makes one `RequestHandler` per connection from `_loop` and `_kwargs`;
`RequestHandler._request_count` counts the messages the parser has emitted and
`_messages` queues them with their payloads; after a response, the unread rest of a body
is drained by a loop that ends quietly on a `TimeoutError` and then closes the connection.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, Protocol, TypeVar

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.streams import StreamReader

from server import keys
from server.config import ServerConfig

T = TypeVar("T")

__all__ = ["AccessLogger", "BodyTimeoutError", "ListenError", "settle_gc", "start_server"]

log = logging.getLogger("verbund.server")
access_log = logging.getLogger("verbund.access")

# Container allocations between young-generation collections (CPython's default is 700).
_YOUNG_THRESHOLD = 20_000


class BodyTimeoutError(web.HTTPRequestTimeout, asyncio.TimeoutError):
    """The request body did not arrive within `server.body_timeout_seconds`.

    Raised by every read of the body after the deadline. As an HTTPException, a handler
    that lets it through answers 408 (with `Connection: close`); as a TimeoutError, the
    drain of an unread body after the response ends on it quietly instead of logging an
    unhandled exception.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(text=f"request body not received within {seconds:g} s")
        self.force_close()


class LineWriter(Protocol):
    """Writes a logger's info lines itself while it can, else through `logging`
    (`server.cli.terminal.DirectLines`)."""

    def write(self, logger: logging.Logger, message: str) -> None: ...


class AccessLogger(AbstractAccessLogger):
    """One line per request: `METHOD /path STATUS 1.2ms [signer=KEY-ID]`.

    The path is logged without its query string (OAuth and streaming clients put tokens
    there). `signer` is the key id of a request whose signature a route verified
    (`keys.SIGNER`: the inbox, signed GETs in authorized-fetch mode). When the logger is
    off for info, aiohttp does not call `log` at all.
    """

    __slots__ = ()

    # Set by the CLI: writes the lines itself while logging is configured as it leaves it.
    direct: ClassVar[LineWriter | None] = None

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        signer = request.get(keys.SIGNER)
        line = f"{request.method} {request.path} {response.status} {time * 1000:.1f}ms"
        if signer:
            line = f"{line} signer={signer}"
        direct = self.direct
        if direct is not None:  # it logs the usual way itself when it must
            direct.write(self.logger, line)
            return
        # What `info` does, less looking up the caller's frame (no format shows it) and
        # %-formatting the message (an f-string is cheaper): a few µs of every request.
        # aiohttp calls `log` only when `enabled`.
        logger = self.logger
        record = logger.makeRecord(logger.name, logging.INFO, __file__, 0, line, (), None)
        logger.handle(record)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


class ListenError(Exception):
    """The listening socket could not be opened; the message names the address."""


class _RequestHandler(web.RequestHandler):
    """aiohttp's per-connection protocol, with the header and body deadlines above."""

    __slots__ = ("_body_timeout", "_body_timer", "_header_timeout", "_header_timer", "_receiving")

    def __init__(
        self, manager: web.Server, *, header_timeout: float, body_timeout: float, **kwargs: Any
    ) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout = header_timeout
        self._body_timeout = body_timeout
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._receiving: StreamReader | None = None  # the payload whose body is arriving

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._header_timer = self._loop.call_later(self._header_timeout, self._headers_late)

    def connection_lost(self, exc: BaseException | None) -> None:
        for timer in (self._header_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._body_timer = None
        self._receiving = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        in_body = self._receiving is not None
        parsed = self._request_count
        super().data_received(data)
        if self._request_count != parsed:
            self._headers_arrived()
        elif data and not in_body and self._header_timer is None:
            # The first bytes of a request on a kept-alive connection.
            self._header_timer = self._loop.call_later(self._header_timeout, self._headers_late)

    def _headers_arrived(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        # Bodies arrive in order, so only the newest request's can still be arriving.
        payload = self._messages[-1][1]
        if not payload.is_eof():
            self._receiving = payload
            self._body_timer = self._loop.call_later(self._body_timeout, self._body_late)
            payload.on_eof(self._body_arrived)

    def _body_arrived(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        self._receiving = None

    def _headers_late(self) -> None:
        self._header_timer = None
        log.debug("closing a connection: headers took over %g s", self._header_timeout)
        self.force_close()

    def _body_late(self) -> None:
        self._body_timer = None
        payload = self._receiving
        if payload is None or payload.is_eof():
            return
        log.debug("refusing a request: body took over %g s", self._body_timeout)
        # `_receiving` stays set: whatever still arrives is the rest of this body.
        self.close()  # read nothing more; close once the answer is written
        payload.set_exception(BodyTimeoutError(self._body_timeout))


class _Server(web.Server):
    """aiohttp's connection factory, making `_RequestHandler`s."""

    def __init__(self, base: web.Server, *, header_timeout: float, body_timeout: float) -> None:
        super().__init__(
            base.request_handler,
            request_factory=base.request_factory,
            handler_cancellation=base.handler_cancellation,
            loop=base._loop,
            **base._kwargs,
        )
        self._header_timeout = header_timeout
        self._body_timeout = body_timeout

    def __call__(self) -> _RequestHandler:
        return _RequestHandler(
            self,
            loop=self._loop,
            header_timeout=self._header_timeout,
            body_timeout=self._body_timeout,
            **self._kwargs,
        )


class _AppRunner(web.AppRunner):
    __slots__ = ("_body_timeout", "_header_timeout")

    def __init__(
        self, app: web.Application, *, header_timeout: float, body_timeout: float, **kwargs: Any
    ) -> None:
        super().__init__(app, **kwargs)
        self._header_timeout = header_timeout
        self._body_timeout = body_timeout

    async def _make_server(self) -> web.Server:
        return _Server(
            await super()._make_server(),
            header_timeout=self._header_timeout,
            body_timeout=self._body_timeout,
        )


async def start_server(app: web.Application, server: ServerConfig) -> web.AppRunner:
    """Start `app` (its startup and cleanup contexts run) and listen on server.host:port.

    The caller stops it with `runner.cleanup()`; `runner.addresses` has the bound
    address (port 0 picks a free port). Raises what the app's start-up raises, or
    ListenError; either way, whatever had started is cleaned up first.
    """
    runner = _AppRunner(
        app,
        header_timeout=server.header_timeout_seconds,
        body_timeout=server.body_timeout_seconds,
        access_log=access_log if server.access_log else None,
        access_log_class=AccessLogger,
    )
    try:
        await runner.setup()
        site = web.TCPSite(runner, server.host, server.port)
        try:
            await site.start()
        except OSError as exc:
            reason = (
                "port already in use (stop the other process or change server.port)"
                if exc.errno == errno.EADDRINUSE
                else exc.strerror or str(exc)
            )
            raise ListenError(f"cannot listen on {server.host}:{server.port}: {reason}") from None
    except BaseException:
        await runner.cleanup()
        raise
    return runner


def run_event_loop(main: Coroutine[object, object, T]) -> T:
    """`asyncio.run(main)` on uvloop where it is installed (Linux and macOS: it is a
    dependency there), else on the standard loop. uvloop's transports and timers are
    written in C: the same server spends less CPU per request (bench/inbox.py and
    bench/read.py run their baselines on the same loop, so ratios compare alike)."""
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(main)


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's `new_event_loop`, or None (the standard loop) where uvloop is missing."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def settle_gc() -> None:
    """Call once start-up is done: keep the cyclic garbage collector off the hot paths.

    Start-up leaves hundreds of thousands of long-lived objects (modules, SQLAlchemy
    mappers, compiled statements); every full collection walked them all again.
    `gc.freeze()` moves them out of the collector's sight for good. Requests then
    allocate mostly short-lived containers that reference counting frees; collecting
    the young generation every 700 allocations cost the inbox and the delivery
    worker about a tenth of their CPU (bench/fanout.py: 0.2 ms of 1.9 ms per
    delivery), so it runs every 20,000 instead. Cycles are still collected.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(_YOUNG_THRESHOLD, older, oldest)
