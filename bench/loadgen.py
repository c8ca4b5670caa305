"""A small keep-alive HTTP/1.1 load generator for the benchmarks.

Deliberately minimal (raw asyncio streams, no client library) so the load
generator costs far less CPU than the server it measures. Run it in its own
process from the server under test.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web


@dataclass
class LoadResult:
    """Responses counted over `seconds` of measurement (several runs may be merged)."""

    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    answered: int = 0  # responses including the warm-up

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies_ms:
            return 0.0
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(p / 100 * len(data)))]

    def merge(self, other: LoadResult) -> LoadResult:
        return LoadResult(
            self.requests + other.requests,
            self.seconds + other.seconds,
            self.latencies_ms + other.latencies_ms,
            self.errors + other.errors,
            self.answered + other.answered,
        )

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else 0.0


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def _worker(
    port: int,
    requests: list[bytes],
    deadline: float,
    measure_from: float,
    result: LoadResult,
    expect: int,
    counter: itertools.count[int],
    wrap: bool,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            start = time.perf_counter()
            if start >= deadline:
                break
            # One shared counter: no two connections send the same request until the
            # list wraps (inbox requests must be distinct to be stored).
            n = next(counter)
            if n >= len(requests) and not wrap:
                break
            writer.write(requests[n % len(requests)])
            status = await _read_response(reader)
            end = time.perf_counter()
            result.answered += 1
            if start >= measure_from:
                if status != expect:
                    result.errors += 1
                result.requests += 1
                result.latencies_ms.append((end - start) * 1000)
    finally:
        writer.close()


async def run_load(
    port: int,
    requests: list[bytes],
    *,
    connections: int = 50,
    warmup: float = 1.0,
    duration: float = 4.0,
    expect: int = 200,
    counter: itertools.count[int] | None = None,
    wrap: bool = True,
) -> LoadResult:
    """Keep `connections` keep-alive connections busy; count responses after the warm-up.

    Pass one `counter` to several runs to keep walking the same request list (so that
    inbox requests stay distinct across runs). `wrap=False` never sends a request twice:
    the run ends early when the list is used up, and `seconds` is then the time measured
    until it did.
    """
    result = LoadResult(0, duration, [], 0)
    counter = counter if counter is not None else itertools.count()
    now = time.perf_counter()
    measure_from = now + warmup
    deadline = measure_from + duration
    await asyncio.gather(
        *(
            _worker(port, requests, deadline, measure_from, result, expect, counter, wrap)
            for _ in range(connections)
        )
    )
    if not wrap:
        result.seconds = max(0.0, min(time.perf_counter(), deadline) - measure_from)
    return result


def get_request(path: str, host: str, accept: str = "*/*") -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: {accept}\r\n"
        "User-Agent: verbund-bench\r\n\r\n"
    ).encode()


def post_request(path: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [
        f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host", "content-length")
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def signed_post(path: str, host: str, body: bytes, key_id: str, private_key_pem: str) -> bytes:
    """A POST of an activity to `path` on `host` (http), signed now as peers sign it
    (draft-cavage with Digest), ready to write on a connection."""
    from federation.signatures import sign_request

    headers = sign_request(
        method="POST",
        url=f"http://{host}{path}",
        headers={"Content-Type": "application/activity+json"},
        body=body,
        key_id=key_id,
        private_key_pem=private_key_pem,
        now=datetime.now(UTC),
    )
    return post_request(path, host, headers, body)


def run_like_serve(app: web.Application, port: int) -> None:
    """Serve a baseline `app` on the event loop and with the GC settings of `verbund serve`
    (uvloop where it installs, `settle_gc`), so that ratios compare like with like."""
    from server.runtime import event_loop_factory, settle_gc

    factory = event_loop_factory()
    loop = factory() if factory is not None else asyncio.new_event_loop()
    settle_gc()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, loop=loop)
