"""A peer's directory collection (`GET /directory`, issue 13), wire → typed.

`parse_directory_collection`, `parse_directory_page` and `parse_directory_item` narrow
untrusted JSON into frozen dataclasses and raise only `ParseError`. A page whose shape is
wrong is an error; a malformed item on an otherwise good page is dropped and counted in
`DirectoryPage.malformed`, so one bad entry never costs us the rest of the page.

What an item may cost us is bounded here: texts are cut to Mastodon's limits, at most
`MAX_INTERESTS` interests are kept (a peer listing 10,000 on one actor gets the first
ones). Region codes and postal prefixes are passed on as given, trimmed and cut to length;
whether they are ISO codes is for `actors.regions` to decide. Whether an item's id lies on
the peer's origin is the caller's check (it knows the peer).

Pure protocol layer: imports only `federation.*`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from federation.actors import (
    ACTOR_TYPES,
    MAX_NAME,
    MAX_SUMMARY,
    MAX_USERNAME,
    _icon_url,
    _link_href,
    is_http_url,
)
from federation.errors import ParseError

__all__ = [
    "MAX_INTERESTS",
    "MAX_INTEREST_LENGTH",
    "DirectoryCollection",
    "DirectoryItem",
    "DirectoryPage",
    "DirectoryTombstone",
    "format_timestamp",
    "parse_directory_collection",
    "parse_directory_item",
    "parse_directory_page",
    "parse_timestamp",
]

MAX_INTERESTS = 50  # what one profile may show; more is a peer padding its entries
MAX_INTEREST_LENGTH = 100  # the length of a tag key column (directory_entry_interests)
MAX_LOCALITY = 100
MAX_POSTAL_PREFIX = 10
MAX_REGION = 6  # "DE-BE", "FR-971": ISO 3166-2 codes are at most 6 characters


@dataclass(frozen=True, slots=True)
class DirectoryItem:
    """A listed actor. `summary_html` is as the peer sent it (not yet sanitised);
    `discoverable` False means the peer no longer lists it and it is to be forgotten."""

    id: str
    type: str
    preferred_username: str
    updated: datetime
    name: str = ""
    summary_html: str = ""
    url: str | None = None
    icon_url: str | None = None
    region: str = ""
    locality: str = ""
    postal_prefix: str = ""
    interests: tuple[str, ...] = ()
    discoverable: bool = False
    indexable: bool = False


@dataclass(frozen=True, slots=True)
class DirectoryTombstone:
    """An actor that stopped being listed (only in answers to `?since=`)."""

    id: str
    updated: datetime | None = None


@dataclass(frozen=True, slots=True)
class DirectoryPage:
    """One `OrderedCollectionPage`; `next` is None on the last page."""

    id: str | None
    next: str | None
    items: tuple[DirectoryItem | DirectoryTombstone, ...]
    malformed: int = 0


@dataclass(frozen=True, slots=True)
class DirectoryCollection:
    """The `OrderedCollection`. `first` is the first page's URL; a peer that embeds the
    first page (or lists `orderedItems` on the collection itself) gives `first_page`."""

    id: str | None
    total_items: int | None
    first: str | None
    first_page: DirectoryPage | None = None


def parse_timestamp(value: object) -> datetime:
    """An RFC 3339 / xsd:dateTime with a UTC offset (`Z` or `+hh:mm`), as an aware UTC
    datetime. Raises ParseError for anything else, naive times included."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        raise ParseError("timestamp is not an RFC 3339 string")
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ParseError(f"timestamp {value[:40]!r} is not RFC 3339") from None
    if when.tzinfo is None:
        raise ParseError(f"timestamp {value[:40]!r} has no UTC offset")
    try:
        return when.astimezone(UTC)
    except OverflowError:  # year 1 at +01:00, year 9999 at -01:00
        raise ParseError(f"timestamp {value[:40]!r} is out of range") from None


def format_timestamp(when: datetime) -> str:
    """RFC 3339 in UTC with `Z` (what `?since=` carries): `2026-12-03T17:00:00.5Z`."""
    text = when.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def _object(value: object, what: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ParseError(f"{what} is not a JSON object")
    return value


def _type_names(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def _string(obj: dict[str, object], field: str, limit: int) -> str:
    value = obj.get(field)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _link(value: object) -> str | None:
    """A page reference: a URL string, or an object whose `id` is one."""
    if isinstance(value, dict):
        value = value.get("id")
    if value is None:
        return None
    if not is_http_url(value):
        raise ParseError("page link is not an http(s) URL")
    assert isinstance(value, str)  # is_http_url checked it
    return value


def _interests(obj: dict[str, object]) -> tuple[str, ...]:
    """`interests` (names as typed), else the names of `Hashtag` tags; at most
    MAX_INTERESTS, without `#`, duplicates and over-long names dropped."""
    raw = obj.get("interests")
    names: list[object]
    if isinstance(raw, list):
        names = raw
    else:
        tags = obj.get("tag")
        names = [
            t.get("name")
            for t in (tags if isinstance(tags, list) else [])
            if isinstance(t, dict) and t.get("type") == "Hashtag"
        ]
    kept: list[str] = []
    seen: set[str] = set()
    for name in names:
        if len(kept) >= MAX_INTERESTS:
            break
        if not isinstance(name, str):
            continue
        name = name.strip().removeprefix("#").strip()
        if not name or len(name) > MAX_INTEREST_LENGTH or name.lower() in seen:
            continue
        seen.add(name.lower())
        kept.append(name)
    return tuple(kept)


def parse_directory_item(obj: object) -> DirectoryItem | DirectoryTombstone:
    """One entry of `orderedItems`: an actor, or a `Tombstone` for one no longer listed.

    Requires an http(s) `id`; an actor also needs an actor `type`, a `preferredUsername`
    and an `updated` timestamp. `discoverable` and `indexable` are true only when they are
    the JSON value `true`. Raises ParseError.
    """
    item = _object(obj, "directory item")
    item_id = item.get("id")
    if not isinstance(item_id, str) or not is_http_url(item_id):
        raise ParseError("directory item id is not an http(s) URL")
    types = _type_names(item.get("type"))
    if "Tombstone" in types:
        updated = item.get("updated")
        return DirectoryTombstone(item_id, parse_timestamp(updated) if updated else None)
    actor_type = next((t for t in types if t in ACTOR_TYPES), None)
    if actor_type is None:
        raise ParseError("directory item type is not an actor type")
    username = item.get("preferredUsername")
    if not isinstance(username, str) or not username.strip():
        raise ParseError("directory item has no preferredUsername")
    if len(username) > MAX_USERNAME:
        raise ParseError("preferredUsername too long")
    return DirectoryItem(
        id=item_id,
        type=actor_type,
        preferred_username=username.strip(),
        updated=parse_timestamp(item.get("updated")),
        name=_string(item, "name", MAX_NAME),
        summary_html=_string(item, "summary", MAX_SUMMARY),
        url=_link_href(item.get("url"), prefer_html=True),
        icon_url=_icon_url(item.get("icon")),
        region=_string(item, "region", MAX_REGION),
        locality=" ".join(_string(item, "locality", 4 * MAX_LOCALITY).split())[:MAX_LOCALITY],
        postal_prefix=_string(item, "postalCodePrefix", MAX_POSTAL_PREFIX),
        interests=_interests(item),
        discoverable=item.get("discoverable") is True,
        indexable=item.get("indexable") is True,
    )


def _page_items(value: object) -> tuple[tuple[DirectoryItem | DirectoryTombstone, ...], int]:
    if value is None:
        return (), 0
    if not isinstance(value, list):
        raise ParseError("orderedItems is not a list")
    items: list[DirectoryItem | DirectoryTombstone] = []
    malformed = 0
    for raw in value:
        try:
            items.append(parse_directory_item(raw))
        except ParseError:
            malformed += 1
    return tuple(items), malformed


def parse_directory_page(obj: object) -> DirectoryPage:
    """An `OrderedCollectionPage` (a `CollectionPage` or a bare collection holding
    `orderedItems` is read the same way). Raises ParseError if it is not an object, has no
    `orderedItems` list (`items` is accepted too) or a `next` that is not a URL."""
    page = _object(obj, "directory page")
    page_id = page.get("id")
    raw_items = page.get("orderedItems", page.get("items"))
    if not isinstance(raw_items, list):
        raise ParseError("directory page has no orderedItems list")
    items, malformed = _page_items(raw_items)
    return DirectoryPage(
        id=page_id if isinstance(page_id, str) else None,
        next=_link(page.get("next")),
        items=items,
        malformed=malformed,
    )


def parse_directory_collection(obj: object) -> DirectoryCollection:
    """The `OrderedCollection` at `/directory`. Its `first` is a URL or an embedded page;
    a collection without `first` but with `orderedItems` is its own only page.
    Raises ParseError (not an object, not a collection, bad `first`, bad `totalItems`)."""
    coll = _object(obj, "directory")
    types = _type_names(coll.get("type"))
    if not {"OrderedCollection", "Collection"} & set(types):
        raise ParseError("directory is not an OrderedCollection")
    total = coll.get("totalItems")
    if total is not None and (isinstance(total, bool) or not isinstance(total, int) or total < 0):
        raise ParseError("totalItems is not a count")
    coll_id = coll.get("id")
    first = coll.get("first")
    first_page: DirectoryPage | None = None
    first_url: str | None
    if isinstance(first, dict) and ("orderedItems" in first or "items" in first):
        first_page = parse_directory_page(first)
        first_url = None
    elif first is None and ("orderedItems" in coll or "items" in coll):
        first_page = parse_directory_page({**coll, "next": None})
        first_url = None
    else:
        first_url = _link(first)
    return DirectoryCollection(
        id=coll_id if isinstance(coll_id, str) else None,
        total_items=total,
        first=first_url,
        first_page=first_page,
    )
