"""Rendered actor documents, cached in memory until they change.

The read path (WebFinger, actor GETs) must not touch the database or re-render
JSON on every request. Changes made through this process invalidate at once;
changes made by another process (CLI, a second `serve`) show after `ttl` seconds.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actors.links import LINKABLE_TYPES, collection_url, featured_collections_url
from actors.local import find_actor, get_instance_actor
from actors.models import Actor, LinkKind
from actors.profile import actor_region
from actors.regions import region_label
from actors.uris import LocalUris
from federation.documents import (
    Interest,
    LocalActorView,
    ProfileView,
    render_actor,
    render_actor_bare,
)
from federation.hashtags import hashtag_key
from federation.webfinger import Acct, render_jrd


@dataclass(frozen=True, slots=True)
class CachedActor:
    view: LocalActorView
    actor_json: bytes
    bare_json: bytes
    jrd_json: bytes
    hide_collections: bool
    loaded_at: float
    # A retired anonymous contact alias: its document and WebFinger answer 410, so that
    # peers drop it; its inbox still takes the reports of it.
    gone: bool = False


def summary_html(text: str) -> str:
    """Actor summaries are stored as plain text; the wire and pages get escaped HTML."""
    if not text:
        return ""
    paragraphs = [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join(
        "<p>" + html.escape(p.strip()).replace("\n", "<br>") + "</p>" for p in paragraphs
    )


def profile_view(actor: Actor, uris: LocalUris) -> ProfileView:
    """The directory profile as the wire shows it; the Region field names the region in
    English with its code ("Pankow, Berlin (DE-BE)"), which every reader can parse."""
    region = actor_region(actor)
    interests = tuple(
        Interest(name, uris.tag_page(key))
        for name in actor.interests
        if isinstance(name, str) and (key := hashtag_key(name)) is not None
    )
    if region is None:
        return ProfileView(interests=interests)
    return ProfileView(
        region_code=region.code,
        region_label=region_label(region, "en"),
        locality=region.locality,
        postal_prefix=region.postal_prefix,
        interests=interests,
    )


def actor_view(actor: Actor, *, base_url: str, acct_host: str) -> LocalActorView:
    """What the wire and the pages show of a local actor."""
    uris = LocalUris(base_url)
    if actor.is_instance:
        # Mastodon names its instance actor after the domain (acct:host@host).
        urls, username = uris.instance_actor_uris(), acct_host
    else:
        urls, username = uris.actor_uris(actor.username), actor.username
        if actor.type in LINKABLE_TYPES and not actor.is_alias:
            urls = replace(
                urls,
                parents=collection_url(urls.id, LinkKind.PARENT),
                branches=collection_url(urls.id, LinkKind.BRANCH),
                partners=collection_url(urls.id, LinkKind.PARTNER),
                featured_collections=featured_collections_url(urls.id),
            )
    return LocalActorView(
        urls=urls,
        type=actor.type,
        username=username,
        display_name=actor.display_name,
        summary_html=summary_html(actor.summary),
        public_key_pem=actor.public_key_pem,
        manually_approves=actor.manually_approves,
        discoverable=actor.discoverable,
        published=actor.created_at,
        icon_url=actor.icon_url,
        header_url=actor.header_url,
        indexable=actor.indexable,
        # The instance actor is no one to find in a directory: no profile at all.
        profile=None if actor.is_instance else profile_view(actor, uris),
    )


def _dumps(doc: object) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class ActorDocuments:
    """Per-process cache of actor documents and JRDs, keyed by lower-cased username."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        base_url: str,
        acct_host: str,
        ttl: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessionmaker = sessionmaker
        self.base_url = base_url
        self._uris = LocalUris(base_url)
        self.acct_host = acct_host
        self._ttl = ttl
        self._now = monotonic
        self._cache: dict[str, CachedActor] = {}
        self._instance: CachedActor | None = None

    def actor_id(self, username: str) -> str:
        return self._uris.actor(username)

    def view_of(self, actor: Actor) -> LocalActorView:
        return actor_view(actor, base_url=self.base_url, acct_host=self.acct_host)

    def _build(self, actor: Actor) -> CachedActor:
        view = self.view_of(actor)
        jrd = render_jrd(
            acct=Acct(user=view.username.lower(), host=self.acct_host),
            actor_id=view.id,
            profile_url=view.profile_url,
            subscribe_template=f"{self.base_url}/authorize_interaction?uri={{uri}}",
        )
        return CachedActor(
            view,
            _dumps(render_actor(view)),
            _dumps(render_actor_bare(view)),
            _dumps(jrd),
            actor.hide_collections,
            self._now(),
            gone=actor.is_alias and actor.alias_retired_at is not None,
        )

    def _fresh(self, entry: CachedActor | None) -> bool:
        return entry is not None and self._now() - entry.loaded_at < self._ttl

    async def get(self, username: str) -> CachedActor | None:
        """The cached documents of a local actor, or None if there is no such actor."""
        key = username.lower()
        entry = self._cache.get(key)
        if entry is not None and self._fresh(entry):
            return entry
        async with self._sessionmaker() as session:
            actor = await find_actor(session, key)
        if actor is None:
            self._cache.pop(key, None)
            return None
        entry = self._build(actor)
        self._cache[key] = entry
        return entry

    async def instance(self) -> CachedActor | None:
        entry = self._instance
        if entry is not None and self._fresh(entry):
            return entry
        async with self._sessionmaker() as session:
            actor = await get_instance_actor(session)
        self._instance = None if actor is None else self._build(actor)
        return self._instance

    def invalidate(self, username: str | None = None) -> None:
        """Drop one actor's documents (or all): call after changing an actor."""
        if username is None:
            self._cache.clear()
            self._instance = None
        else:
            self._cache.pop(username.lower(), None)
