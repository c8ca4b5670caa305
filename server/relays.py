"""Relay subscriptions as the CLI and the API run them (FEP-ae0c): which Follow to send
for the URL the operator typed, and the listing. The rules are `outbox.relays`'.

A URL whose path ends in `/inbox` is a relay inbox, subscribed Mastodon-style
(`Follow{object: as:Public}` POSTed there, the relay actor learnt from its Accept);
any other URL is the relay's actor, fetched for its inbox and followed LitePub-style.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from actors.local import ensure_instance_actor
from actors.relays import Relay
from actors.relays import list_relays as _list_relays
from actors.remote import RemoteActorError
from federation.actors import is_http_url
from outbox.relays import RelayError, subscribe, unsubscribe
from server.services import Services

__all__ = ["RelayError", "add_relay", "list_relays", "remove_relay"]


def is_inbox_url(url: str) -> bool:
    return urlsplit(url).path.rstrip("/").endswith("/inbox")


async def add_relay(svc: Services, url: str) -> Relay:
    """Subscribe (again) to the relay at `url`; RelayError says why not."""
    if not is_http_url(url):
        raise RelayError(f"not an http(s) URL: {url}")
    inbox, relay_actor = url, None
    if not is_inbox_url(url):
        try:
            actor = await svc.directory.get_actor(url)
        except RemoteActorError as exc:
            raise RelayError(f"cannot read the relay actor {url}: {exc}") from None
        inbox, relay_actor = actor.shared_inbox_uri or actor.inbox_uri, actor.uri
    async with svc.sessionmaker() as session:
        instance = await ensure_instance_actor(session)
        row = await subscribe(
            session,
            instance=instance,
            instance_uri=svc.uris.instance_actor,
            inbox_uri=inbox,
            relay_actor_uri=relay_actor,
            now=svc.clock(),
            policy=svc.policy,
        )
        await session.commit()
    return row


async def remove_relay(svc: Services, url: str) -> Relay:
    """Leave the relay whose inbox or actor is `url`; RelayError when there is none."""
    async with svc.sessionmaker() as session:
        instance = await ensure_instance_actor(session)
        row = await unsubscribe(
            session,
            instance=instance,
            instance_uri=svc.uris.instance_actor,
            url=url,
            now=svc.clock(),
            policy=svc.policy,
        )
        await session.commit()
    return row


async def list_relays(svc: Services) -> list[Relay]:
    async with svc.sessionmaker() as session:
        return await _list_relays(session)
