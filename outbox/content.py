"""Post text: Markdown rendered and sanitised, mentions and hashtags found and linked.

Mastodon's markup, so its clients style links as usual. `prepare_mentions` does the
network work (WebFinger) and is called before the caller opens its transaction; the
rest is pure. Must not import `inbox` or `server`.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from actors.models import RemoteActor
from actors.remote import RemoteActorError, RemoteDirectory
from actors.uris import LocalUris
from federation.content import render_markdown
from federation.hashtags import normalize_hashtag
from federation.webfinger import acct_domain

MAX_MENTIONS = 20

# Mastodon's MENTION_RE and HASHTAG_RE, simplified: not after a word character or
# `/` (so e-mail addresses and URL fragments stay text), and a tag needs a letter.
# The host may carry a port (`@alice@localhost:3000`), which is part of the handle.
_MENTION = re.compile(
    r"(?<![\w=/@.])@([A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)"
    r"(?:@([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[1-9][0-9]{0,4}(?![0-9]))?))?"
)
_HASHTAG = re.compile(r"(?<![\w/)#])#(\w*[^\W\d_]\w*)")
_MARKUP = re.compile(r"(<[^>]*>)")
_TAG_OPEN = re.compile(r"^<(/?)([A-Za-z0-9]+)")
# Text inside these stays text: no links inside links, none in code samples.
_NO_LINK_TAGS = frozenset({"a", "code", "pre"})


@dataclass(frozen=True, slots=True)
class Rendered:
    content: str
    tags: list[dict[str, object]]
    mentioned: list[RemoteActor]


def hashtags_in(source: str) -> set[str]:
    """The normalised keys of the hashtags written in a post's source text."""
    return {normalize_hashtag(m.group(1)) for m in _HASHTAG.finditer(source)}


# --- finding and linking mentions and hashtags ---------------------------------------------


def _text_segments(fragment: str) -> list[tuple[str, bool]]:
    """Split sanitised HTML into (piece, is_linkable_text); markup and text inside
    links or code are not linkable."""
    depth = 0
    out: list[tuple[str, bool]] = []
    for piece in _MARKUP.split(fragment):
        if not piece:
            continue
        if piece.startswith("<"):
            m = _TAG_OPEN.match(piece)
            if m and m.group(2).lower() in _NO_LINK_TAGS and not piece.endswith("/>"):
                depth += -1 if m.group(1) else 1
                depth = max(depth, 0)
            out.append((piece, False))
        else:
            out.append((piece, depth == 0))
    return out


def _mention_key(user: str, host: str | None, local_host: str) -> str:
    host = (host or local_host).lower()
    if host == local_host.partition(":")[0]:
        host = local_host  # our port-less host name, on a domain with a port, is us
    return f"{user}@{host}".lower()


def find_mentions(text: str, *, local_host: str) -> list[str]:
    """The `user@host` keys (lower-cased) that `text` mentions, in order, outside code and links.

    `local_host` is our acct host, port included (`localhost:8080`). A bare `@user`, and
    `@user@localhost` on such a domain, mean an actor of this instance.
    """
    keys: list[str] = []
    for piece, linkable in _text_segments(render_markdown(text)):
        if linkable:
            for m in _MENTION.finditer(piece):
                key = _mention_key(m.group(1), m.group(2), local_host)
                if key not in keys:
                    keys.append(key)
    return keys


async def prepare_mentions(
    directory: RemoteDirectory, text: str, *, local_base_url: str, webfinger_scheme: str
) -> dict[str, RemoteActor]:
    """Resolve the mentions in `text` through WebFinger; call before opening a transaction.

    Returns `user@host` (lower-cased) → actor. Handles that do not resolve are left
    out and stay plain text in the post. At most MAX_MENTIONS handles are looked up.
    Our own actors resolve the same way.
    """
    keys = find_mentions(text, local_host=acct_domain(local_base_url))[:MAX_MENTIONS]

    async def resolve(key: str) -> tuple[str, RemoteActor | None]:
        user, _, host = key.rpartition("@")
        try:
            actor = await directory.resolve_handle(user, host, scheme=webfinger_scheme)
        except RemoteActorError:
            return key, None
        return key, actor

    found = await asyncio.gather(*(resolve(k) for k in keys))
    return {key: actor for key, actor in found if actor is not None}


def _safe_href(url: str | None, fallback: str) -> str:
    """Remote profile URLs go into our HTML: only http(s), always escaped."""
    chosen = url if url and url.startswith(("https://", "http://")) else fallback
    return html.escape(chosen, quote=True)


def _hashtag_link(uris: LocalUris, typed: str) -> str:
    href = html.escape(uris.tag_page(normalize_hashtag(typed)), quote=True)
    return f'<a href="{href}" class="mention hashtag" rel="tag">#<span>{typed}</span></a>'


def _mention_link(actor: RemoteActor) -> str:
    href = _safe_href(actor.url, actor.uri)
    return (
        f'<span class="h-card"><a href="{href}" class="u-url mention">'
        f"@<span>{html.escape(actor.username)}</span></a></span>"
    )


def render_content(
    text: str,
    *,
    base_url: str,
    mentions: dict[str, RemoteActor],
    extra_tags: Sequence[str] = (),
) -> Rendered:
    """Markdown → sanitised HTML with hashtags and resolved mentions linked; plus the
    `tag` list (Mention and Hashtag objects) that goes with it.

    Extra tags not already in the text are appended as a last paragraph, so readers
    see every tag the post is filed under.
    """
    local_host = acct_domain(base_url)
    uris = LocalUris(base_url)
    hashtags: dict[str, str] = {}
    mentioned: dict[str, tuple[RemoteActor, str]] = {}

    def link_tag(m: re.Match[str]) -> str:
        hashtags.setdefault(normalize_hashtag(m.group(1)), m.group(1))
        return _hashtag_link(uris, m.group(1))

    def link_mention(m: re.Match[str]) -> str:
        key = _mention_key(m.group(1), m.group(2), local_host)
        actor = mentions.get(key)
        if actor is None:
            return m.group(0)
        mentioned.setdefault(actor.uri, (actor, key.rpartition("@")[2]))
        return _mention_link(actor)

    pieces: list[str] = []
    for piece, linkable in _text_segments(render_markdown(text)):
        if linkable:
            piece = _MENTION.sub(link_mention, piece)
            # Mention links contain no '#', so linking tags afterwards is safe.
            piece = "".join(
                part if part.startswith("<") else _HASHTAG.sub(link_tag, part)
                for part in _MARKUP.split(piece)
            )
        pieces.append(piece)
    content = "".join(pieces)
    extra = []
    for raw in extra_tags:
        name = raw.strip().lstrip("#")
        if normalize_hashtag(name) not in hashtags:
            hashtags[normalize_hashtag(name)] = name
            extra.append(_hashtag_link(uris, html.escape(name)))
    if extra:
        content += "<p>" + " ".join(extra) + "</p>"
    tags: list[dict[str, object]] = [
        {"type": "Mention", "href": actor.uri, "name": f"@{actor.username}@{host}"}
        for actor, host in mentioned.values()
    ]
    tags += [{"type": "Hashtag", "href": uris.tag_page(key), "name": f"#{key}"} for key in hashtags]
    return Rendered(content, tags, [actor for actor, _ in mentioned.values()])
