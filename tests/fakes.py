"""A fake remote server for odd peers: serves JSON documents, records inbox POSTs.

Used to speak exactly as Mastodon does (payloads re-created from Mastodon's spec
fixtures) without a Mastodon; our own instances always talk to each other for real.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
from aiohttp import web

from federation.documents import ACTOR_CONTEXT
from federation.keys import generate_rsa_private_key_pem, public_key_pem
from federation.signatures import sign_request
from tests.conftest import LoopbackResolver

_KEY_CACHE: list[str] = []


def shared_key() -> str:
    """One RSA key per test session (generating keys is slow)."""
    if not _KEY_CACHE:
        _KEY_CACHE.append(generate_rsa_private_key_pem())
    return _KEY_CACHE[0]


@dataclass
class FakeRemote:
    host: str
    private_key_pem: str
    docs: dict[str, object] = field(default_factory=dict)
    received: list[tuple[str, dict[str, str], dict[str, object]]] = field(default_factory=list)
    runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://{self.host}"

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

    def posts_to(self, path: str) -> list[dict[str, object]]:
        return [body for p, _, body in self.received if p == path]

    async def start(self, resolver: LoopbackResolver) -> None:
        async def get(request: web.Request) -> web.Response:
            # Some peers name actors by query (WordPress: `/?author=1`).
            doc = self.docs.get(request.path_qs, self.docs.get(request.path))
            if doc is None:
                return web.Response(status=404)
            return web.Response(body=json.dumps(doc), content_type="application/activity+json")

        async def post(request: web.Request) -> web.Response:
            body = await request.read()
            self.received.append((request.path, dict(request.headers), json.loads(body)))
            return web.Response(status=202)

        app = web.Application()
        app.router.add_get("/{tail:.*}", get)
        app.router.add_post("/{tail:.*}", post)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        # A host with a port ("remote.example:8443") resolves by its name; the resolver
        # sends every port of that name to the fake's real one.
        resolver.hosts[self.host.rsplit(":", 1)[0]] = self.runner.addresses[-1][1]

    async def stop(self) -> None:
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
