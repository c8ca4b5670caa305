"""The directory on the wire: our `GET /directory` collection, its pages, items and
Tombstones (typed → wire), and the query parameters every directory surface reads
(wire → typed).

The collection (docs/federation.md) is an `OrderedCollection` whose pages are
keyset-paged newest change first: `?page=true&before=<cursor>`, the cursor being the
base64url of `"<updated as RFC 3339>|<row id>"` of the last item of the previous page.
With `?since=<RFC 3339>` it lists only what changed after that instant, and actors that
stopped being listed as `Tombstone`s carrying nothing but `id`, `type`, `formerType` and
`updated`.

Pure protocol code: must not import SQLAlchemy, config, or any package of ours outside
`federation`. Region codes are checked for their shape here; whether ISO knows them is
`actors.regions`' business.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from federation.documents import AS_CONTEXT, accept_quality, format_datetime
from federation.errors import ParseError
from federation.text import clean_text

__all__ = [
    "DIRECTORY_CONTEXT",
    "MAX_INTERESTS",
    "MAX_TEXT",
    "TYPES",
    "VERBUND_NS",
    "Cursor",
    "DirectoryItem",
    "DirectoryParamError",
    "DirectoryParams",
    "decode_cursor",
    "directory_etag",
    "encode_cursor",
    "etag_matches",
    "filter_pairs",
    "parse_directory_params",
    "parse_rfc3339",
    "render_directory_collection",
    "render_directory_item",
    "render_directory_page",
    "render_tombstone",
    "wants_directory_json",
]

VERBUND_NS = "https://w3id.org/verbund/ns#"
# Inline term definitions, so that a reader needs no fetch of /ns/verbund.jsonld.
DIRECTORY_CONTEXT: list[object] = [
    AS_CONTEXT,
    {
        "verbund": VERBUND_NS,
        "region": "verbund:region",
        "locality": "verbund:locality",
        "postalCodePrefix": "verbund:postalCodePrefix",
        "interests": "verbund:interests",
        "toot": "http://joinmastodon.org/ns#",
        "discoverable": "toot:discoverable",
        "indexable": "toot:indexable",
        "Hashtag": "as:Hashtag",
    },
]

# What one query may ask for: enough for any person's search, too little to make a
# query planner's IN-list or a HAVING count expensive.
MAX_INTERESTS = 20
MAX_TEXT = 100
MAX_REGION = 20
# The actor types a directory lists, by the lower-case names the parameters use.
TYPES = {"organization": "Organization", "group": "Group", "person": "Person"}
_FILTER_KEYS = ("region", "interest", "match", "type", "q")
_CURSOR_ID = re.compile(r"[0-9]{1,19}")


class DirectoryParamError(ParseError):
    """A directory query parameter that cannot be read; the message names it and says why."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """The position after which a page continues: the last item's `updated` and row id."""

    updated: datetime
    row_id: int


@dataclass(frozen=True, slots=True)
class DirectoryParams:
    """The directory filters and the collection's paging, read from a query string.

    `region` is as given (trimmed): a code or a postal prefix, checked by the caller.
    `interests` are the names as given, comma lists split, blanks dropped, at most
    MAX_INTERESTS. `types` are ActivityStreams type names ("Organization").
    """

    region: str | None = None
    interests: tuple[str, ...] = ()
    match_all: bool = False
    types: tuple[str, ...] = ()
    text: str | None = None
    since: datetime | None = None
    before: Cursor | None = None
    page: bool = False


@dataclass(frozen=True, slots=True)
class DirectoryItem:
    """What the collection shows of one listed actor (built by `actors.directory`).

    `summary_html` is escaped HTML; `tags` are (name as typed, tag page URL) pairs.
    """

    id: str
    type: str
    preferred_username: str
    name: str
    summary_html: str
    url: str
    icon_url: str | None
    inbox: str
    updated: datetime
    region: str | None
    locality: str
    postal_prefix: str
    interests: tuple[str, ...]
    tags: tuple[tuple[str, str], ...]
    indexable: bool


# --- reading --------------------------------------------------------------------------------


def parse_rfc3339(value: str) -> datetime:
    """An RFC 3339 timestamp with a zone (`Z` or `±hh:mm`) as an aware UTC datetime.

    Raises DirectoryParamError for anything else: no zone, a date alone, garbage.
    """
    text = value.strip()
    if not re.fullmatch(
        r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})", text
    ):
        raise DirectoryParamError(
            f"since must be an RFC 3339 timestamp such as 2026-01-31T12:00:00Z, got {value[:40]!r}"
        )
    text = text[:-1] + "+00:00" if text[-1] in "Zz" else text
    head, dot, rest = text.partition(".")
    if dot:  # fromisoformat takes at most 6 fraction digits
        digits = re.match(r"\d+", rest)
        assert digits is not None
        text = f"{head}.{digits.group()[:6].ljust(6, '0')}{rest[digits.end() :]}"
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except (ValueError, OverflowError):
        raise DirectoryParamError(f"since is not a valid time: {value[:40]!r}") from None


def encode_cursor(updated: datetime, row_id: int) -> str:
    raw = f"{updated.astimezone(UTC).isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(value: str) -> Cursor:
    """A cursor made by `encode_cursor`; DirectoryParamError for anything else."""
    bad = DirectoryParamError("before is not a cursor this directory handed out")
    if len(value) > 200:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise bad from None
    stamp, sep, row_id = raw.partition("|")
    if not sep or not _CURSOR_ID.fullmatch(row_id) or int(row_id) >= 2**63:
        raise bad
    try:
        updated = datetime.fromisoformat(stamp)
    except ValueError:
        raise bad from None
    if updated.tzinfo is None:
        raise bad
    return Cursor(updated.astimezone(UTC), int(row_id))


def _split_list(values: Iterable[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def parse_directory_params(pairs: Sequence[tuple[str, str]]) -> DirectoryParams:
    """Read `region`, `interest` (also `interests`, `interest[]`; repeatable and/or comma
    separated), `match` (`any` | `all`), `type` (repeatable/comma: organization, group,
    person), `q`, `since`, `page` and `before` from query-string pairs.

    Unknown parameters are ignored; NUL and lone surrogates are dropped from values (no
    database compares them). Raises DirectoryParamError naming the parameter.
    """
    pairs = [(k, clean_text(v)) for k, v in pairs]

    def values(*names: str) -> list[str]:
        return [v for k, v in pairs if k in names]

    def one(name: str) -> str | None:
        found = values(name)
        if not found:
            return None
        return found[-1].strip() or None

    region = one("region")
    if region is not None and len(region) > MAX_REGION:
        raise DirectoryParamError(f"region must be at most {MAX_REGION} characters")
    interests = _split_list(values("interest", "interest[]", "interests", "interests[]"))
    if len(interests) > MAX_INTERESTS:
        raise DirectoryParamError(f"at most {MAX_INTERESTS} interests per search")
    if any(len(i) > 100 for i in interests):
        raise DirectoryParamError("an interest must be at most 100 characters")
    match = (one("match") or "any").lower()
    if match not in ("any", "all"):
        raise DirectoryParamError("match must be 'any' or 'all'")
    types: list[str] = []
    for raw in _split_list(values("type", "type[]")):
        name = TYPES.get(raw.lower())
        if name is None:
            raise DirectoryParamError("type must be organization, group or person")
        if name not in types:
            types.append(name)
    text = one("q")
    if text is not None and len(text) > MAX_TEXT:
        raise DirectoryParamError(f"q must be at most {MAX_TEXT} characters")
    since_raw = one("since")
    before_raw = one("before")
    return DirectoryParams(
        region=region,
        interests=tuple(dict.fromkeys(interests)),
        match_all=match == "all",
        types=tuple(types),
        text=text,
        since=parse_rfc3339(since_raw) if since_raw is not None else None,
        before=decode_cursor(before_raw) if before_raw is not None else None,
        page=one("page") is not None,
    )


def filter_pairs(params: DirectoryParams) -> list[tuple[str, str]]:
    """The filters of `params` as query-string pairs, in a fixed order (for links and ETags)."""
    pairs: list[tuple[str, str]] = []
    if params.region:
        pairs.append(("region", params.region))
    pairs += [("interest", i) for i in params.interests]
    if params.match_all:
        pairs.append(("match", "all"))
    inverse = {v: k for k, v in TYPES.items()}
    pairs += [("type", inverse[t]) for t in params.types]
    if params.text:
        pairs.append(("q", params.text))
    return pairs


_AS_TYPES = frozenset({"application/activity+json", "application/ld+json"})
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def wants_directory_json(accept: str) -> bool:
    """True when Accept asks for ActivityStreams (`application/activity+json` or
    `application/ld+json`) at least as much as for HTML; `*/*`, `application/json` and
    no Accept get the page, as the directory is a page first."""
    lowered = accept.lower()
    best_as = accept_quality(lowered, _AS_TYPES)
    return best_as > 0 and best_as >= accept_quality(lowered, _HTML_TYPES)


# --- ETags ----------------------------------------------------------------------------------


def directory_etag(*parts: object) -> str:
    """A strong ETag over `parts` (newest change, count, the query): equal parts, equal tag."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]
    return f'"{digest}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match (a list, `*`, weak tags compared weakly, RFC 9110 §13.1.2)."""
    if not if_none_match:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


# --- rendering ------------------------------------------------------------------------------


def _url(base: str, pairs: Sequence[tuple[str, str]]) -> str:
    return f"{base}?{urlencode(pairs, safe=':')}" if pairs else base


def render_directory_collection(
    collection_id: str, *, query: Sequence[tuple[str, str]], total: int
) -> dict[str, object]:
    """The collection head; `query` (filters and `since`) is carried by `id` and `first`."""
    return {
        "@context": DIRECTORY_CONTEXT,
        "id": _url(collection_id, query),
        "type": "OrderedCollection",
        "totalItems": total,
        "first": _url(collection_id, [*query, ("page", "true")]),
    }


def render_directory_page(
    collection_id: str,
    *,
    query: Sequence[tuple[str, str]],
    before: Cursor | None,
    items: list[object],
    next_cursor: Cursor | None,
) -> dict[str, object]:
    """One page; `next` when `next_cursor` is given (there are more items)."""
    page_query = [*query, ("page", "true")]
    here = page_query if before is None else [*page_query, ("before", _cursor(before))]
    doc: dict[str, object] = {
        "@context": DIRECTORY_CONTEXT,
        "id": _url(collection_id, here),
        "type": "OrderedCollectionPage",
        "partOf": _url(collection_id, query),
        "orderedItems": items,
    }
    if next_cursor is not None:
        doc["next"] = _url(collection_id, [*page_query, ("before", _cursor(next_cursor))])
    return doc


def _cursor(cursor: Cursor) -> str:
    return encode_cursor(cursor.updated, cursor.row_id)


def render_directory_item(item: DirectoryItem) -> dict[str, object]:
    """A listed actor; keys without a value are left out (we never serve `null`)."""
    doc: dict[str, object] = {
        "id": item.id,
        "type": item.type,
        "preferredUsername": item.preferred_username,
        "name": item.name or item.preferred_username,
        "summary": item.summary_html,
        "url": item.url,
        "inbox": item.inbox,
        "updated": format_datetime(item.updated),
    }
    if item.icon_url:
        doc["icon"] = {"type": "Image", "url": item.icon_url}
    if item.region:
        doc["region"] = item.region
    if item.locality:
        doc["locality"] = item.locality
    if item.postal_prefix:
        doc["postalCodePrefix"] = item.postal_prefix
    doc["interests"] = list(item.interests)
    doc["tag"] = [{"type": "Hashtag", "name": f"#{name}", "href": href} for name, href in item.tags]
    doc["discoverable"] = True
    doc["indexable"] = item.indexable
    return doc


def render_tombstone(actor_id: str, former_type: str, updated: datetime) -> dict[str, object]:
    """An actor no longer listed: nothing about it but that it was, and when it changed."""
    return {
        "id": actor_id,
        "type": "Tombstone",
        "formerType": former_type,
        "updated": format_datetime(updated),
    }
