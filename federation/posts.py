"""Posts on the wire: Note, Article, Page, Question and the other object types we store,
narrowed into a `Post` (wire → typed).

Content is sanitised and `name`/`summary` made plain text here, so nothing past this
module sees a peer's markup unsanitised; media and polls come from `federation.media`.
The audience is the object's `to`/`cc`, else the activity's; the author the first
`attributedTo`, else the activity's actor (Mastodon's status parser,
app/lib/activitypub/parser/status_parser.rb).

`parse_post` raises only `ParseError`. Pure protocol code: imports nothing of ours
outside `federation`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlsplit

from federation.activities import (
    NEWS_TYPES,
    AsObject,
    fits_uri,
    id_of,
    ids_of,
    items,
    type_in,
)
from federation.actors import is_http_url, same_origin
from federation.content import plain_text, sanitize_html
from federation.documents import parse_datetime
from federation.errors import ParseError
from federation.media import Attachment, QuestionPoll, parse_attachments, parse_question
from federation.records import record

__all__ = ["PUBLIC_COLLECTION", "Post", "Tag", "parse_post"]

# The three spellings of the public collection that peers send (Mastodon accepts all three).
PUBLIC_COLLECTION = frozenset(
    {"https://www.w3.org/ns/activitystreams#Public", "as:Public", "Public"}
)

MAX_TAGS = 100
MAX_NAME = 2048
MAX_SUMMARY = 10_000
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_TAG_TYPES = ("Mention", "Hashtag", "Emoji")


@record
class Tag:
    """A Mention, Hashtag or Emoji tag, reduced to what we use.

    A Hashtag's `name` is as sent (`#Straße`): the store normalises it. A Mention's
    `href` is the mentioned actor's id; an Emoji's `icon_url` its image.
    """

    kind: str  # "Mention", "Hashtag" or "Emoji"
    name: str
    href: str | None = None
    icon_url: str | None = None


@record
class Post:
    """A received post, narrowed and cleaned (content sanitised, texts plain)."""

    id: str
    type: str
    author: str
    content: str
    name: str | None
    summary: str
    language: str | None
    sensitive: bool
    to: tuple[str, ...]
    cc: tuple[str, ...]
    tags: tuple[Tag, ...]
    mentions: tuple[str, ...]  # mentioned actor ids, each once
    in_reply_to: str | None
    url: str | None
    published: datetime | None
    updated: datetime | None
    attachments: tuple[Attachment, ...] = ()
    poll: QuestionPoll | None = None  # a Question's options and counts


def _text(value: object, limit: int) -> str | None:
    """A text field that may carry markup (WordPress sends HTML summaries): visible text."""
    if not isinstance(value, str) or not value.strip():
        return None
    return plain_text(value[: limit * 4])[:limit] or None


def _first_map_value(value: object) -> tuple[str, str] | None:
    if isinstance(value, dict):
        for key, text in value.items():
            if isinstance(text, str):
                return key, text
    return None


def _mapped(obj: Mapping[str, object], key: str) -> str | None:
    """`key` when a non-empty string, else the first value of `keyMap`."""
    value = obj.get(key)
    if isinstance(value, str) and value:
        return value
    mapped = _first_map_value(obj.get(key + "Map"))
    return mapped[1] if mapped else None


def _language(obj: Mapping[str, object]) -> str | None:
    """First key of `contentMap` (then `nameMap`, `summaryMap`), as Mastodon reads it."""
    for name in ("contentMap", "nameMap", "summaryMap"):
        first = _first_map_value(obj.get(name))
        if first is not None:
            key = first[0]
            return key if len(key) <= 16 and _LANGUAGE.match(key) else None
    return None


def _same_host(a: str, b: str) -> bool:
    host = urlsplit(a).hostname
    return bool(host) and host == urlsplit(b).hostname


def _on_host_of(href: str, object_id: str, author: str, id_on_author: bool) -> bool:
    """`href` is an http(s) URL on `object_id`'s host. Most links share the author's
    origin, whose parse is memoised (`same_origin`): those skip parsing `href`."""
    if id_on_author and same_origin(href, author):
        return True
    return is_http_url(href) and _same_host(href, object_id)


def _html_url(value: object, object_id: str, author: str, id_on_author: bool) -> str | None:
    """The post's web page: first http(s) link (`text/html` first), on the object's host only."""
    candidates: list[tuple[int, str]] = []
    for item in items(value):
        href, media = (item, None) if isinstance(item, str) else (None, None)
        if isinstance(item, dict):
            href, media = item.get("href"), item.get("mediaType")
        if isinstance(href, str) and _on_host_of(href, object_id, author, id_on_author):
            candidates.append((0 if media in (None, "text/html") else 1, href))
    return min(candidates)[1] if candidates else None


def _tag_type(item: Mapping[str, object], name: str | None) -> str | None:
    """A tag's kind; a tag without a `type` whose name starts with `#` is a Hashtag
    (Pleroma and some WordPress setups send such tags)."""
    kind = type_in(item.get("type"), _TAG_TYPES)
    if kind is None and item.get("type") is None and name is not None and name.startswith("#"):
        return "Hashtag"
    return kind


def _tags(value: object) -> tuple[list[Tag], list[str]]:
    """Mention, Hashtag and Emoji tags (types may be lists or prefixed terms, `as:Hashtag`,
    as JSON-LD-compacting peers write them); and the mentioned actor ids."""
    tags: list[Tag] = []
    mentions: list[str] = []
    for item in list(items(value))[:MAX_TAGS]:
        if not isinstance(item, dict):
            continue
        name, href = item.get("name"), item.get("href")
        name = name[:256] if isinstance(name, str) else None
        kind = _tag_type(item, name)
        href = href if is_http_url(href) and fits_uri(str(href)) else None
        if kind == "Mention" and isinstance(href, str):
            if href not in mentions:
                mentions.append(href)
            tags.append(Tag("Mention", name or "", href))
        elif kind == "Hashtag" and name:
            tags.append(Tag("Hashtag", name, href if isinstance(href, str) else None))
        elif kind == "Emoji" and name:
            icon = item.get("icon")
            url = icon.get("url") if isinstance(icon, dict) else None
            if isinstance(url, str) and is_http_url(url):
                tags.append(Tag("Emoji", name, icon_url=url))
    return tags, mentions


def parse_post(obj: object) -> Post:
    """Narrow an embedded object (an `AsObject`, or a wire object) to a `Post`.

    An `AsObject` of a Create or Update lends the activity's actor and audience to a
    post that has none of its own. ParseError for references, unsupported types,
    objects without an http(s) id and posts without an author.
    """
    if isinstance(obj, AsObject):
        wire, envelope = obj.wire, obj.context or {}
    else:
        wire, envelope = (obj if isinstance(obj, dict) else None), {}
    if wire is None:
        raise ParseError("not an embedded object")
    obj_id = wire.get("id")
    obj_type = next(
        (t for t in items(wire.get("type")) if isinstance(t, str) and t in NEWS_TYPES), None
    )
    if obj_type is None:
        raise ParseError("not a post type")
    authors = ids_of(wire.get("attributedTo"))
    author = authors[0] if authors else id_of(envelope.get("actor"))
    # An id on its author's origin is an http(s) URL (`same_origin` says so without
    # parsing the id, which is new each time); only other ids are parsed here.
    id_on_author = isinstance(obj_id, str) and author is not None and same_origin(obj_id, author)
    if not isinstance(obj_id, str) or not (id_on_author or is_http_url(obj_id)):
        raise ParseError("a post needs an http(s) id")
    if author is None:
        raise ParseError("a post needs an author")
    tags, mentions = _tags(wire.get("tag"))
    to = wire["to"] if "to" in wire else envelope.get("to")
    cc = wire["cc"] if "cc" in wire else envelope.get("cc")
    return Post(
        id=obj_id,
        type=obj_type,
        author=author,
        content=sanitize_html(_mapped(wire, "content") or ""),
        name=_text(_mapped(wire, "name"), MAX_NAME),
        summary=_text(_mapped(wire, "summary"), MAX_SUMMARY) or "",
        language=_language(wire),
        sensitive=wire.get("sensitive") is True,
        to=tuple(ids_of(to)),
        cc=tuple(ids_of(cc)),
        tags=tuple(tags),
        mentions=tuple(mentions),
        in_reply_to=id_of(wire.get("inReplyTo")),
        url=_html_url(wire.get("url"), obj_id, author, id_on_author),
        published=parse_datetime(wire.get("published")),
        updated=parse_datetime(wire.get("updated")),
        attachments=tuple(parse_attachments(wire)),
        poll=parse_question(wire) if obj_type == "Question" else None,
    )
