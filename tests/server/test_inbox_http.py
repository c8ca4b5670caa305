"""The inbox over raw sockets: bodies in pieces, sizes, chunked bodies, slow clients, types.

These requests are written byte by byte with asyncio streams, because the cases
are about how a body arrives (segments, chunked encoding, a trickle) and an HTTP
client library would hide exactly that. Each request is a validly signed
activity from a fake remote, so a refusal can only come from the property
under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from federation.signatures import sign_request
from inbox.models import InboxActivity
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.fakes import FakeRemote, shared_key

AP = "application/activity+json"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
MIB = 1_048_576
# Small timeouts so that the slow-client tests take a second, not a minute.
SHORT = 0.5
SLACK = 2.5  # upper bound on timer lateness on a loaded test machine


@pytest.fixture
async def remote(resolver: LoopbackResolver) -> AsyncIterator[FakeRemote]:
    fake = FakeRemote("social.example", shared_key())
    fake.add_person("bob")
    await fake.start(resolver)
    yield fake
    await fake.stop()


@pytest.fixture
async def alpha(start_instance: StartInstance) -> Instance:
    """The default inbox limit (1 MiB) and the default timeouts."""
    return await start_instance("alpha")


@pytest.fixture
async def impatient(start_instance: StartInstance) -> Instance:
    return await start_instance(
        "alpha", server={"header_timeout_seconds": SHORT, "body_timeout_seconds": SHORT}
    )


async def stored(inst: Instance) -> int:
    async with inst.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(InboxActivity)) or 0)


def create_note(remote: FakeRemote, n: int, *, size: int | None = None) -> bytes:
    """A Create of a public Note by bob, padded to exactly `size` bytes if given."""
    actor = f"{remote.base}/users/bob"
    note: dict[str, object] = {
        "id": f"{actor}/statuses/{n}",
        "type": "Note",
        "attributedTo": actor,
        "to": [PUBLIC],
        "content": "",
    }
    doc: dict[str, object] = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor}/statuses/{n}/activity",
        "type": "Create",
        "actor": actor,
        "to": [PUBLIC],
        "object": note,
    }
    body = json.dumps(doc).encode()
    if size is not None:
        assert size >= len(body)
        note["content"] = "x" * (size - len(body))
        body = json.dumps(doc).encode()
        assert len(body) == size
    return body


def signed_head(
    remote: FakeRemote,
    body: bytes,
    *,
    content_type: str | None = AP,
    framing: str = "length",
    length: int | None = None,
    path: str = "/inbox",
) -> bytes:
    """Request line and headers of a POST of `body` signed by bob, as Mastodon signs.

    `framing` is "length" (Content-Length, `length` or the body's) or "chunked".
    """
    headers = {} if content_type is None else {"Content-Type": content_type}
    signed = sign_request(
        method="POST",
        url=f"http://alpha.test{path}",
        headers=headers,
        body=body,
        key_id=f"{remote.base}/users/bob#main-key",
        private_key_pem=remote.private_key_pem,
        now=datetime.now(UTC),
    )
    if framing == "chunked":
        signed["Transfer-Encoding"] = "chunked"
    else:
        signed["Content-Length"] = str(len(body) if length is None else length)
    lines = [f"POST {path} HTTP/1.1", *(f"{k}: {v}" for k, v in signed.items()), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def chunked(body: bytes, size: int = 65_536) -> list[bytes]:
    """`body` in Transfer-Encoding: chunked framing, one list item per chunk."""
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    ]
    return [*parts, b"0\r\n\r\n"]


@dataclass
class Reply:
    status: int | None  # None: the connection closed without a response
    headers: Mapping[str, str]
    body: bytes
    seconds: float  # from the first byte sent to the response (or the close)

    def error(self) -> str:
        """The `error` of a JSON error body (fails the test if there is none)."""
        doc: object = json.loads(self.body)
        assert isinstance(doc, dict), self.body
        error = doc.get("error")
        assert isinstance(error, str) and error, self.body
        assert self.headers["content-type"].startswith("application/json")
        return error


async def read_reply(reader: asyncio.StreamReader, started: float) -> Reply:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        assert exc.partial == b"", exc.partial
        return Reply(None, {}, b"", time.monotonic() - started)
    except ConnectionError:
        return Reply(None, {}, b"", time.monotonic() - started)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines if line)
    }
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Reply(int(status_line.split()[1]), headers, body, time.monotonic() - started)


class Connection:
    """One raw TCP connection to an instance, which sends exactly the bytes it is given."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.started = time.monotonic()
        self._sending: list[asyncio.Task[None]] = []

    @classmethod
    async def open(cls, inst: Instance) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", inst.port)
        return cls(reader, writer)

    def send(self, parts: Sequence[bytes], *, gap: float = 0.0) -> None:
        """Write `parts` in the background, `gap` seconds apart, each in its own segment.

        The server may answer (and close) before all is sent; the rest is then dropped.
        """

        async def write() -> None:
            with contextlib.suppress(ConnectionError):
                for i, part in enumerate(parts):
                    if i and gap:
                        await asyncio.sleep(gap)
                    self.writer.write(part)
                    await self.writer.drain()

        self.started = time.monotonic()
        self._sending.append(asyncio.create_task(write()))

    async def reply(self, within: float = 30.0) -> Reply:
        return await asyncio.wait_for(read_reply(self.reader, self.started), within)

    async def closed_within(self, within: float) -> float:
        """Seconds from the last `send` until the server closed the connection; nothing
        more may arrive before that."""
        try:
            rest = await asyncio.wait_for(self.reader.read(), within)
        except ConnectionError:
            rest = b""
        assert rest == b"", rest[:200]
        return time.monotonic() - self.started

    async def close(self) -> None:
        for task in self._sending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


@pytest.fixture
async def connect() -> AsyncIterator[type[Connection]]:
    opened: list[Connection] = []

    class Tracked(Connection):
        @classmethod
        async def open(cls, inst: Instance) -> Connection:
            conn = await Connection.open(inst)
            opened.append(conn)
            return conn

    yield Tracked
    for conn in opened:
        await conn.close()


async def post(
    connect: type[Connection], inst: Instance, parts: Sequence[bytes], *, gap: float = 0.0
) -> Reply:
    conn = await connect.open(inst)
    conn.send(parts, gap=gap)
    return await conn.reply()


# --- the whole body is read, however it arrives -------------------------------------------


async def test_body_in_two_segments_200_ms_apart_is_accepted_and_stored(
    alpha: Instance, remote: FakeRemote, connect: type[Connection]
) -> None:
    body = create_note(remote, 1, size=3 * 1024)
    head = signed_head(remote, body)
    reply = await post(connect, alpha, [head + body[:1000], body[1000:]], gap=0.2)
    assert reply.status == 202, reply.body
    assert await stored(alpha) == 1


@pytest.mark.parametrize("size", [256_000, 512_000, MIB])
async def test_large_bodies_up_to_the_limit_sent_at_once_are_all_stored(
    alpha: Instance, remote: FakeRemote, connect: type[Connection], size: int
) -> None:
    assert alpha.config.federation.max_inbox_bytes == MIB
    for n in range(3):
        body = create_note(remote, n, size=size)
        reply = await post(connect, alpha, [signed_head(remote, body) + body])
        assert reply.status == 202, reply.body
    assert await stored(alpha) == 3


async def test_chunked_body_within_the_limit_is_stored(
    alpha: Instance, remote: FakeRemote, connect: type[Connection]
) -> None:
    body = create_note(remote, 1, size=300_000)
    head = signed_head(remote, body, framing="chunked")
    reply = await post(connect, alpha, [head, *chunked(body)], gap=0.01)
    assert reply.status == 202, reply.body
    assert await stored(alpha) == 1


async def test_chunked_body_over_the_limit_gets_413_and_is_not_stored(
    alpha: Instance, remote: FakeRemote, connect: type[Connection]
) -> None:
    body = create_note(remote, 1, size=MIB + MIB // 4)
    head = signed_head(remote, body, framing="chunked")
    reply = await post(connect, alpha, [head, *chunked(body)])
    assert reply.status == 413, reply.body
    assert reply.error()
    assert await stored(alpha) == 0


async def test_declared_length_over_the_limit_gets_413_before_the_body_is_sent(
    alpha: Instance, remote: FakeRemote, connect: type[Connection]
) -> None:
    body = create_note(remote, 1, size=MIB + 1)
    conn = await connect.open(alpha)
    conn.send([signed_head(remote, body)])  # headers only: the answer must not wait for it
    reply = await conn.reply(within=5)
    assert reply.status == 413, reply.body
    # And when the body is sent too.
    reply = await post(connect, alpha, [signed_head(remote, body) + body])
    assert reply.status == 413, reply.body
    assert await stored(alpha) == 0


# --- slow clients are cut off --------------------------------------------------------------


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not errors, [r.getMessage() for r in errors]


async def test_trickling_body_gets_408_at_the_body_deadline_and_is_not_stored(
    impatient: Instance,
    remote: FakeRemote,
    connect: type[Connection],
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = create_note(remote, 1, size=3 * 1024)
    conn = await connect.open(impatient)
    # 40 bytes a second: the whole body would take more than a minute.
    conn.send([signed_head(remote, body), *(body[i : i + 1] for i in range(len(body)))], gap=0.025)
    reply = await conn.reply(within=SHORT + SLACK)
    assert reply.status == 408, reply.body
    assert reply.error()
    assert reply.seconds >= SHORT * 0.8
    assert reply.headers.get("connection", "").lower() == "close"
    await conn.closed_within(SLACK)
    assert await stored(impatient) == 0
    no_errors_logged(caplog)


async def test_body_deadline_applies_to_every_route(
    impatient: Instance, connect: type[Connection], caplog: pytest.LogCaptureFixture
) -> None:
    body = b"client_name=Slow&redirect_uris=urn:ietf:wg:oauth:2.0:oob&pad=" + b"x" * 1000
    head = (
        b"POST /api/v1/apps HTTP/1.1\r\nHost: alpha.test\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    conn = await connect.open(impatient)
    conn.send([head, *(body[i : i + 1] for i in range(len(body)))], gap=0.025)
    reply = await conn.reply(within=SHORT + SLACK)
    assert reply.status == 408, reply.body
    await conn.closed_within(SLACK)
    no_errors_logged(caplog)


async def test_body_still_trickling_after_the_answer_is_cut_off_quietly(
    impatient: Instance,
    remote: FakeRemote,
    connect: type[Connection],
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = create_note(remote, 1, size=3 * 1024)
    head = signed_head(remote, body, content_type="text/plain")
    conn = await connect.open(impatient)
    conn.send([head, *(body[i : i + 1] for i in range(len(body)))], gap=0.025)
    reply = await conn.reply(within=SLACK)
    assert reply.status == 415  # at once, from the headers
    assert reply.seconds < SHORT
    # aiohttp reads (and drops) the rest of the body; the body deadline ends that too.
    assert SHORT * 0.8 <= await conn.closed_within(SHORT + SLACK) <= SHORT + SLACK
    assert await stored(impatient) == 0
    no_errors_logged(caplog)


async def test_headers_that_never_end_are_cut_off_at_the_header_deadline(
    impatient: Instance, connect: type[Connection]
) -> None:
    conn = await connect.open(impatient)
    conn.send([b"POST /inbox HTTP/1.1\r\nHost: alpha.test\r\nContent-Type: appl"])
    assert SHORT * 0.8 <= await conn.closed_within(SHORT + SLACK) <= SHORT + SLACK


async def test_trickling_headers_are_cut_off_at_the_header_deadline(
    impatient: Instance, connect: type[Connection]
) -> None:
    head = b"GET /.well-known/nodeinfo HTTP/1.1\r\nHost: alpha.test\r\nX-Pad: " + b"a" * 500
    conn = await connect.open(impatient)
    conn.send([head[i : i + 1] for i in range(len(head))], gap=0.02)  # sent, but never ends
    assert SHORT * 0.8 <= await conn.closed_within(SHORT + SLACK) <= SHORT + SLACK


async def test_silent_connection_is_closed_at_the_header_deadline(
    impatient: Instance, connect: type[Connection]
) -> None:
    conn = await connect.open(impatient)
    assert SHORT * 0.8 <= await conn.closed_within(SHORT + SLACK) <= SHORT + SLACK


async def test_idle_keep_alive_outlives_the_header_deadline_but_a_slow_next_request_does_not(
    impatient: Instance, remote: FakeRemote, connect: type[Connection]
) -> None:
    get = b"GET /.well-known/nodeinfo HTTP/1.1\r\nHost: alpha.test\r\n\r\n"
    conn = await connect.open(impatient)
    conn.send([get])
    assert (await conn.reply()).status == 200
    await asyncio.sleep(SHORT * 3)  # idle between requests: keep-alive, not a header timeout
    body = create_note(remote, 1, size=3 * 1024)
    conn.send([signed_head(remote, body), body[:100], body[100:]], gap=SHORT / 4)
    assert (await conn.reply()).status == 202  # a body slower than one segment, within time
    await asyncio.sleep(SHORT * 3)
    conn.send([get[:20]])  # the next request's headers start, and stop
    assert SHORT * 0.8 <= await conn.closed_within(SHORT + SLACK) <= SHORT + SLACK
    assert await stored(impatient) == 1


# --- content types -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        AP,
        'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
        "application/ld+json",
        "application/json",
        "Application/Activity+JSON; charset=utf-8",
        "application/json; charset=UTF-8",
        None,  # missing: read as JSON, as Mastodon does (see inbox_post)
    ],
)
async def test_activitypub_content_types_are_accepted(
    alpha: Instance, remote: FakeRemote, connect: type[Connection], content_type: str | None
) -> None:
    body = create_note(remote, 1)
    head = signed_head(remote, body, content_type=content_type)
    reply = await post(connect, alpha, [head + body])
    assert reply.status == 202, reply.body
    assert await stored(alpha) == 1


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "image/png",
        "multipart/form-data; boundary=x",
        'application/ld+json; profile="http://example.org/other"',
    ],
)
@pytest.mark.parametrize("path", ["/inbox", "/users/news/inbox"])
async def test_other_content_types_get_415_and_nothing_is_stored(
    alpha: Instance,
    remote: FakeRemote,
    connect: type[Connection],
    content_type: str | None,
    path: str,
) -> None:
    await alpha.add_actor("news")
    body = create_note(remote, 1)
    head = signed_head(remote, body, content_type=content_type, path=path)
    reply = await post(connect, alpha, [head + body])
    assert reply.status == 415, reply.body
    assert reply.error()
    assert await stored(alpha) == 0


async def test_content_type_is_refused_before_the_body_is_read(
    alpha: Instance, remote: FakeRemote, connect: type[Connection]
) -> None:
    body = create_note(remote, 1, size=200_000)
    conn = await connect.open(alpha)
    conn.send([signed_head(remote, body, content_type="text/plain")])  # the body never comes
    reply = await conn.reply(within=5)
    assert reply.status == 415, reply.body
    assert await stored(alpha) == 0
