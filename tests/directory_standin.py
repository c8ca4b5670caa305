"""A spec-faithful stand-in for `GET /directory` (issue 13, docs: briefs/13-spec.md), until
the real route is on this branch.

It serves, from whatever `source` lists, exactly what the spec describes: the
`OrderedCollection` (with `?since=` carried into `id` and `first`), newest-change-first
pages of `page_size` items behind an opaque keyset cursor (`?page=true&before=…`),
Tombstones for actors no longer discoverable only when `since` is given, an ETag on every
answer (from the newest change, the count and the query) and 304 for a matching
`If-None-Match`. Other paths go to `upstream` (the real instance behind it), if any, so
that the instance stays reachable under its own domain.

The tests of the sync (`tests/server/test_directory_sync.py`) and `bench/directory.py`
serve peers with it; every request is counted in `requests`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
from aiohttp import web

from federation.directory_pages import format_timestamp, parse_timestamp
from federation.errors import ParseError

ACTIVITY_JSON = "application/activity+json"
CONTEXT = [
    "https://www.w3.org/ns/activitystreams",
    {
        "verbund": "https://w3id.org/verbund/ns#",
        "toot": "http://joinmastodon.org/ns#",
        "region": "verbund:region",
        "locality": "verbund:locality",
        "postalCodePrefix": "verbund:postalCodePrefix",
        "interests": {"@id": "verbund:interests", "@container": "@list"},
        "discoverable": "toot:discoverable",
        "indexable": "toot:indexable",
    },
]


@dataclass(frozen=True)
class Listed:
    """One actor as the directory knows it: `item` is its entry (without `updated`, which
    is `changed_at`), None once it stopped being discoverable."""

    uri: str
    type: str
    changed_at: datetime
    item: dict[str, object] | None


def actor_item(
    uri: str,
    *,
    type_: str = "Organization",
    username: str,
    name: str = "",
    summary: str = "",
    region: str | None = None,
    locality: str = "",
    postal_prefix: str = "",
    interests: tuple[str, ...] = (),
    indexable: bool = False,
) -> dict[str, object]:
    """A directory item as the spec shapes it (without `updated`)."""
    base = uri.split("/users/")[0]
    item: dict[str, object] = {
        "id": uri,
        "type": type_,
        "preferredUsername": username,
        "name": name,
        "summary": summary,
        "url": f"{base}/@{username}",
        "inbox": f"{uri}/inbox",
        "locality": locality,
        "postalCodePrefix": postal_prefix,
        "interests": list(interests),
        "tag": [
            {"type": "Hashtag", "name": f"#{t}", "href": f"{base}/tags/{t.lower()}"}
            for t in interests
        ],
        "discoverable": True,
        "indexable": indexable,
    }
    if region is not None:
        item["region"] = region
    return item


def _cursor(listed: Listed) -> str:
    raw = f"{format_timestamp(listed.changed_at)}|{listed.uri}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _uncursor(value: str) -> tuple[datetime, str] | None:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        when, _, uri = raw.partition("|")
        return parse_timestamp(when), uri
    except (ValueError, ParseError):
        return None


@dataclass
class DirectoryStandIn:
    """Serves `source()`'s actors as `<base>/directory`. `base` is the peer's origin as its
    actor ids spell it ("http://beta.test", "http://gamma.test:8443")."""

    base: str
    source: Callable[[], Awaitable[list[Listed]]]
    page_size: int = 100
    upstream: int | None = None  # the real instance's port, for every other path
    static: bool = False  # `source` never changes: sort its listing once per query (bench)
    requests: list[web.Request] = field(default_factory=list)
    runner: web.AppRunner | None = None
    _client: aiohttp.ClientSession | None = None
    _sorted: dict[str | None, list[Listed]] = field(default_factory=dict)

    @property
    def port(self) -> int:
        assert self.runner is not None, "start() the stand-in first"
        port: int = self.runner.addresses[-1][1]
        return port

    def directory_requests(self) -> list[str]:
        return [r.path_qs for r in self.requests if r.path == "/directory"]

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_get("/directory", self._directory)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.close()
        if self.runner is not None:
            await self.runner.cleanup()

    def _url(self, **query: str) -> str:
        url = f"{self.base}/directory"
        if query:
            url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
        return url

    async def _directory(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        since_text = request.query.get("since")
        since = None
        if since_text is not None:
            try:
                since = parse_timestamp(since_text)
            except ParseError:
                return web.Response(status=400, text="since is not RFC 3339")
        listed = self._sorted.get(since_text) if self.static else None
        if listed is None:
            listed = sorted(
                (
                    entry
                    for entry in await self.source()
                    if (entry.item is not None and since is None)
                    or (since is not None and entry.changed_at > since)
                ),
                key=lambda e: (e.changed_at, e.uri),
                reverse=True,
            )
            if self.static:
                self._sorted[since_text] = listed
        newest = format_timestamp(listed[0].changed_at) if listed else "-"
        tag = hashlib.sha256(f"{newest}|{len(listed)}|{request.query_string}".encode())
        etag = f'W/"{tag.hexdigest()[:32]}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        query = {"since": since_text} if since_text is not None else {}
        if request.query.get("page") != "true":
            doc: dict[str, object] = {
                "@context": CONTEXT,
                "id": self._url(**query),
                "type": "OrderedCollection",
                "totalItems": len(listed),
                "first": self._url(**query, page="true"),
            }
        else:
            before = _uncursor(request.query.get("before", ""))
            if before is not None:
                listed = [e for e in listed if (e.changed_at, e.uri) < before]
            page = listed[: self.page_size]
            this = dict(query, page="true")
            if "before" in request.query:
                this["before"] = request.query["before"]
            doc = {
                "@context": CONTEXT,
                "id": self._url(**this),
                "type": "OrderedCollectionPage",
                "partOf": self._url(**query),
                "orderedItems": [self._render(e) for e in page],
            }
            if len(listed) > len(page):
                doc["next"] = self._url(**query, page="true", before=_cursor(page[-1]))
        return web.Response(
            body=json.dumps(doc).encode(), content_type=ACTIVITY_JSON, headers={"ETag": etag}
        )

    @staticmethod
    def _render(entry: Listed) -> dict[str, object]:
        updated = format_timestamp(entry.changed_at)
        if entry.item is None:
            return {
                "id": entry.uri,
                "type": "Tombstone",
                "formerType": entry.type,
                "updated": updated,
            }
        return {**entry.item, "updated": updated}

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        """Everything but /directory goes to the real instance, Host and all."""
        if self.upstream is None:
            return web.Response(status=404)
        if self._client is None:
            self._client = aiohttp.ClientSession(auto_decompress=False)
        async with self._client.request(
            request.method,
            f"http://127.0.0.1:{self.upstream}{request.path_qs}",
            headers=request.headers,
            data=await request.read(),
            allow_redirects=False,
        ) as resp:
            body = await resp.read()
            headers = {
                k: v
                for k, v in resp.headers.items()
                if k.lower() not in ("transfer-encoding", "content-length", "connection")
            }
            return web.Response(status=resp.status, body=body, headers=headers)


def now_utc() -> datetime:
    return datetime.now(UTC)
