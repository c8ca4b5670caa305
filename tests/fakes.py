"""One fake remote server for odd peers, with switches.

Used to speak exactly as Mastodon does (payloads re-created from Mastodon's spec
fixtures) without a Mastodon, and to play the peers our own instances never are:
inboxes that answer 410, 500-then-202 or `Retry-After`, slow or oversized bodies,
redirects, wrong content types. Our own instances always talk to each other for real.

What a request gets, first match wins:
1. `replies[path_qs]`, then `replies[path]`, then the longest `replies["/prefix/*"]`;
   a reply is a `Reply`, a list of them (the n-th request to that path gets the n-th,
   the last one repeats: `[Reply(500), Reply(202)]` is "500 then 202") or a function
   of the request (for answers that depend on its headers);
2. `docs[path_qs]`, then `docs[path]`, served as `application/activity+json`;
3. 202 for a POST, 404 otherwise.
Every request is recorded (method, host, path, headers, body, when it started and
finished) once it has been answered; `started` and `max_in_flight` show requests
still being answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
from aiohttp import web

from federation.documents import ACTOR_CONTEXT
from federation.keys import generate_rsa_private_key_pem, public_key_pem
from federation.signatures import sign_request
from tests.conftest import LoopbackResolver

ACTIVITY_JSON = "application/activity+json"

_KEY_CACHE: list[str] = []


def shared_key() -> str:
    """One RSA key per test session (generating keys is slow)."""
    if not _KEY_CACHE:
        _KEY_CACHE.append(generate_rsa_private_key_pem())
    return _KEY_CACHE[0]


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    `json` is serialised as the body (Content-Type `application/activity+json` unless
    `content_type` says otherwise); a `str` body is sent as text/plain. `delay` sleeps
    before answering; `held` waits for `FakeRemote.release` (a test sets it, `stop()`
    always does). With `stream` the body is sent chunked, without a length, piece by
    piece; a held stream stalls after its pieces instead of before them.
    """

    status: int = 200
    json: object = None
    body: bytes | str = field(default=b"", repr=False)  # may be megabytes
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    held: bool = False
    stream: tuple[bytes, ...] = field(default=(), repr=False)

    def all_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        content_type = self.content_type
        if content_type is None and self.json is not None:
            content_type = ACTIVITY_JSON
        elif content_type is None and isinstance(self.body, str):
            content_type = "text/plain; charset=utf-8"
        if content_type is not None:
            headers["Content-Type"] = content_type
        return headers

    def payload(self) -> bytes | None:
        if self.json is not None:
            return json.dumps(self.json).encode()
        body = self.body.encode() if isinstance(self.body, str) else self.body
        return body or None


Answer = Reply | list[Reply] | Callable[[web.Request], Reply]


@dataclass(frozen=True)
class Received:
    """One request as the fake saw it. `path_qs` is the raw target, query included."""

    method: str
    host: str
    path: str
    path_qs: str
    headers: dict[str, str]
    body: bytes
    started: float
    finished: float

    def json(self) -> dict[str, object]:
        doc = json.loads(self.body)
        assert isinstance(doc, dict)
        return doc


def _ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@dataclass(repr=False)
class FakeRemote:
    """A fake peer on loopback.

    `host` is what URLs name. A host name (with or without a port: "remote.example:8443")
    is registered with the `LoopbackResolver` passed to `start`; a loopback IP literal
    ("127.0.0.2": all of 127/8 is loopback on Linux) is listened on directly, so each
    fake is a distinct host without a resolver, and `base` carries the real port.
    `private_key_pem` is needed only to play actors (`add_person`, `post`).
    """

    host: str
    private_key_pem: str = ""
    docs: dict[str, object] = field(default_factory=dict)
    replies: dict[str, Answer] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    runner: web.AppRunner | None = None
    _counts: dict[str, int] = field(default_factory=dict)

    def __repr__(self) -> str:
        # Cheap: fixture values are repr'd at every setup (in asyncio task reprs), and
        # a reply body may be megabytes.
        return f"FakeRemote({self.host!r}, {len(self.requests)} requests)"

    @property
    def address(self) -> str:
        """Where the fake listens."""
        return self.host if _ip_literal(self.host) else "127.0.0.1"

    @property
    def port(self) -> int:
        """The fake's real port (after `start`)."""
        assert self.runner is not None, "start() the fake first"
        port: int = self.runner.addresses[-1][1]
        return port

    @property
    def base(self) -> str:
        if _ip_literal(self.host):
            return f"http://{self.host}:{self.port}"
        return f"http://{self.host}"

    @property
    def received(self) -> list[tuple[str, dict[str, str], dict[str, object]]]:
        """The POSTs, as (path, headers, JSON body)."""
        return [(r.path, r.headers, r.json()) for r in self.requests if r.method == "POST"]

    def paths(self) -> list[str]:
        """Every request's target, in the order they were answered."""
        return [r.path_qs for r in self.requests]

    def posts_to(self, path: str) -> list[dict[str, object]]:
        return [body for p, _, body in self.received if p == path]

    def reply(self, path: str, *answers: Reply) -> None:
        """Script `path` ("/inbox", "/ok/*"): one reply always, several in turn."""
        self.replies[path] = answers[0] if len(answers) == 1 else list(answers)

    def add_person(self, name: str, *, shared_inbox: bool = True, locked: bool = False) -> str:
        uri = f"{self.base}/users/{name}"
        doc: dict[str, object] = {
            "@context": ACTOR_CONTEXT,
            "id": uri,
            "type": "Person",
            "preferredUsername": name,
            "name": name.title(),
            "inbox": f"{uri}/inbox",
            "outbox": f"{uri}/outbox",
            "followers": f"{uri}/followers",
            "following": f"{uri}/following",
            "manuallyApprovesFollowers": locked,
            "publicKey": {
                "id": f"{uri}#main-key",
                "owner": uri,
                "publicKeyPem": public_key_pem(self.private_key_pem),
            },
        }
        if shared_inbox:
            doc["endpoints"] = {"sharedInbox": f"{self.base}/inbox"}
        self.docs[f"/users/{name}"] = doc
        return uri

    def _answer_for(self, request: web.Request) -> Answer | None:
        for key in (request.raw_path, request.path_qs, request.path):
            if key in self.replies:
                return self.replies[key]
        prefixes = [k for k in self.replies if k.endswith("*") and request.path.startswith(k[:-1])]
        if prefixes:
            return self.replies[max(prefixes, key=len)]
        # Some peers name actors by query (WordPress: `/?author=1`).
        doc = self.docs.get(request.path_qs, self.docs.get(request.path))
        if doc is not None:
            return Reply(json=doc)
        return None

    async def _hold(self) -> None:
        await self.release.wait()  # `stop()` sets it, so no test hangs on it

    async def _respond(self, request: web.Request, n: int) -> web.StreamResponse:
        answer = self._answer_for(request)
        if answer is None:
            reply = Reply(202 if request.method == "POST" else 404)
        elif isinstance(answer, Reply):
            reply = answer
        elif isinstance(answer, list):
            reply = answer[min(n, len(answer)) - 1]
        else:
            reply = answer(request)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.held and not reply.stream:
            await self._hold()
        if not reply.stream:
            return web.Response(
                status=reply.status, body=reply.payload(), headers=reply.all_headers()
            )
        response = web.StreamResponse(status=reply.status, headers=reply.all_headers())
        response.enable_chunked_encoding()
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):  # the client may give up mid-body
            for piece in reply.stream:
                await response.write(piece)
            if reply.held:
                await self._hold()
            await response.write_eof()
        return response

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        self.started.append(request.path)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        body = b""
        try:
            body = await request.read()
            n = self._counts[request.path] = self._counts.get(request.path, 0) + 1
            return await self._respond(request, n)
        finally:
            self.in_flight -= 1
            self.requests.append(
                Received(
                    request.method,
                    request.host,
                    request.path,
                    request.raw_path,
                    dict(request.headers),
                    body,
                    started,
                    time.monotonic(),
                )
            )

    async def start(self, resolver: LoopbackResolver | None = None) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.address, 0)
        await site.start()
        if resolver is not None:
            # A host with a port ("remote.example:8443") resolves by its name; the
            # resolver sends every port of that name to the fake's real one.
            resolver.hosts[self.host.rsplit(":", 1)[0]] = self.port

    async def stop(self) -> None:
        self.release.set()  # let held requests finish, or cleanup waits for them
        if self.runner is not None:
            await self.runner.cleanup()

    async def post(
        self,
        client: aiohttp.ClientSession,
        url: str,
        activity: dict[str, object] | bytes,
        *,
        key_id: str | None = None,
        private_key_pem: str | None = None,
        now: datetime | None = None,
        signed: bool = True,
    ) -> int:
        """POST an activity signed (cavage, as Mastodon) by one of this remote's actors."""
        body = activity if isinstance(activity, bytes) else json.dumps(activity).encode()
        headers = {"Content-Type": "application/activity+json"}
        if signed:
            if key_id is None:
                assert isinstance(activity, dict)
                key_id = f"{activity['actor']}#main-key"
            headers = sign_request(
                method="POST",
                url=url,
                headers=headers,
                body=body,
                key_id=key_id,
                private_key_pem=private_key_pem or self.private_key_pem,
                now=now or datetime.now(UTC),
            )
        async with client.post(url, data=body, headers=headers) as resp:
            await resp.read()
            return resp.status
