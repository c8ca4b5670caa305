"""A relay on loopback that behaves as ActivityRelay (barkshark's `relay`) does.

What it checks and sends, as `relay/processors.py` and `relay/misc.py` do:
- every POST must carry `Digest: SHA-256=…` (upper case: ActivityRelay's check) and a
  valid draft-cavage signature by the activity's actor; 401 otherwise;
- a `Follow` (of `as:Public` or of the relay actor) is accepted only from an actor of
  type `Application`; anything else is answered with `Reject`. Accepted: it sends
  `Accept{object: {id: the Follow's id, type: Follow, object: relay actor, actor: them}}`
  and follows back (`Follow{object: them}`);
- a public `Create` from a subscriber is relayed as `Announce{object: the created
  object's id}` to every other subscriber;
- `Undo{Follow}` unsubscribes and is answered with `Undo{object: that Undo}`.
It POSTs inline (before answering), so a test's `settle()` sees the whole exchange.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from federation.errors import FederationError
from federation.keys import public_key_pem
from federation.signatures import (
    ResolvedKey,
    SignatureError,
    SignatureReason,
    sign_request,
    verify_request,
)
from tests.conftest import LoopbackResolver
from tests.fakes import shared_key

AS = "https://www.w3.org/ns/activitystreams"
PUBLIC = AS + "#Public"
ACTIVITY_JSON = "application/activity+json"


@dataclass
class RelayStandin:
    host: str
    client: aiohttp.ClientSession
    key: str = field(default_factory=shared_key)
    # By the subscriber's host (ActivityRelay keys its inboxes by domain): (actor, inbox).
    subscribers: dict[str, tuple[str, str]] = field(default_factory=dict)
    sent: list[tuple[str, dict[str, object], int]] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://{self.host}"

    @property
    def actor(self) -> str:
        return f"{self.base}/actor"

    @property
    def inbox(self) -> str:
        return f"{self.base}/inbox"

    def document(self) -> dict[str, object]:
        return {
            "@context": [AS, "https://w3id.org/security/v1"],
            "id": self.actor,
            "type": "Application",
            "preferredUsername": "relay",
            "name": "ActivityRelay",
            "followers": f"{self.base}/followers",
            "following": f"{self.base}/following",
            "inbox": self.inbox,
            "url": self.inbox,
            "endpoints": {"sharedInbox": self.inbox},
            "publicKey": {
                "id": f"{self.actor}#main-key",
                "owner": self.actor,
                "publicKeyPem": public_key_pem(self.key),
            },
        }

    async def start(self, resolver: LoopbackResolver) -> None:
        app = web.Application()
        app.router.add_get("/actor", self._actor)
        app.router.add_post("/inbox", self._receive)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        resolver.hosts[urlsplit(self.base).hostname or ""] = self.runner.addresses[-1][1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _actor(self, request: web.Request) -> web.Response:
        return web.json_response(self.document(), content_type=ACTIVITY_JSON)

    async def _get(self, url: str) -> dict[str, object]:
        async with self.client.get(url, headers={"Accept": ACTIVITY_JSON}) as resp:
            doc = await resp.json(content_type=None)
        assert isinstance(doc, dict)
        return doc

    async def _key(self, key_id: str, *, refresh: bool) -> ResolvedKey:
        doc = await self._get(key_id.split("#")[0])
        key = doc.get("publicKey")
        if not isinstance(key, dict):
            raise SignatureError(SignatureReason.KEY_UNAVAILABLE, "no publicKey")
        return ResolvedKey(str(key["id"]), str(doc["id"]), str(key["publicKeyPem"]))

    def _refuse(self, status: int, why: str) -> web.Response:
        self.refused.append((status, why))
        return web.Response(status=status, text=why)

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not request.headers.get("Digest", "").startswith("SHA-256="):
            return self._refuse(401, "missing SHA-256 digest")
        try:
            verified = await verify_request(
                method="POST",
                target=request.path_qs,
                headers=dict(request.headers),
                body=body,
                resolver=self._key,
                now=datetime.now(UTC),
                url_scheme="http",
            )
        except (SignatureError, FederationError) as exc:
            return self._refuse(401, f"signature: {exc}")
        activity = json.loads(body)
        actor = activity.get("actor")
        if verified.owner != actor:
            return self._refuse(401, "signer is not the actor")
        kind = activity.get("type")
        if kind == "Follow":
            return await self._follow(activity, str(actor))
        if kind == "Undo":
            inner = activity.get("object")
            if isinstance(inner, dict) and inner.get("type") == "Follow":
                subscriber = self.subscribers.pop(_host(str(actor)), None)
                if subscriber is not None:
                    await self._send(subscriber[1], self._new("Undo", to=[actor], object=activity))
            return web.Response(status=202)
        if kind == "Create" and _host(str(actor)) in self.subscribers:
            obj = activity.get("object")
            addressed = [*_list(activity.get("to")), *_list(activity.get("cc"))]
            object_id = obj.get("id") if isinstance(obj, dict) else obj
            if PUBLIC in addressed and isinstance(object_id, str):
                announce = self._new("Announce", to=[f"{self.base}/followers"], object=object_id)
                for host, (_, inbox) in list(self.subscribers.items()):
                    if host != _host(str(actor)):
                        await self._send(inbox, announce)
        return web.Response(status=202)

    async def _follow(self, activity: dict[str, object], actor: str) -> web.Response:
        doc = await self._get(actor)
        endpoints = doc.get("endpoints")
        shared = endpoints.get("sharedInbox") if isinstance(endpoints, dict) else None
        inbox = str(shared or doc["inbox"])
        accepted = doc.get("type") == "Application"
        response = self._new(
            "Accept" if accepted else "Reject",
            to=[actor],
            object={"id": activity["id"], "type": "Follow", "object": self.actor, "actor": actor},
        )
        await self._send(inbox, response)
        if not accepted:
            return self._refuse(403, "non-application actor")
        self.subscribers[_host(actor)] = (actor, inbox)
        await self._send(inbox, self._new("Follow", to=[actor], object=actor))
        return web.Response(status=202)

    def _new(self, kind: str, **fields: object) -> dict[str, object]:
        return {
            "@context": AS,
            "id": f"{self.base}/activities/{uuid.uuid4()}",
            "type": kind,
            "actor": self.actor,
            **fields,
        }

    async def _send(self, inbox: str, activity: dict[str, object]) -> None:
        body = json.dumps(activity).encode()
        headers = sign_request(
            method="POST",
            url=inbox,
            headers={"Content-Type": ACTIVITY_JSON},
            body=body,
            key_id=f"{self.actor}#main-key",
            private_key_pem=self.key,
            now=datetime.now(UTC),
        )
        async with self.client.post(inbox, data=body, headers=headers) as resp:
            await resp.read()
            self.sent.append((inbox, activity, resp.status))


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else [value] if value is not None else []


def _host(uri: str) -> str:
    return urlsplit(uri).netloc.lower()
