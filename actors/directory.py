"""The directory: one search over our discoverable actors and the peers' cached entries,
and the queries behind our own `GET /directory` collection.

Invariants:
- Only discoverable, non-instance local actors are ever returned as hits or items; the
  collection shows the others only as Tombstones, and only with `since`.
- Every filter is SQL on indexed columns, never Python on fetched rows: a region code is
  an IN-list of itself and the ISO subdivisions under it (`DE` → `DE`, `DE-BE`, …, all
  equality on `region_code`), a postal prefix a left-anchored pattern on `postal_prefix`
  (`10` finds `10115`) or an IN-list of its own prefixes (`10115` finds `10`),
  interests a lookup of their `hashtag_key`s in `actor_interests` /
  `directory_entry_interests`. Only `text` (`?q=`) is a substring scan: no index serves
  "contains".
- Local actors and cached entries are combined in one `UNION ALL` of (row kind, row id,
  sort time), ordered and limited once; the page's rows are then loaded by primary key.

Case folding of `text`: entries carry a lower-cased `search_text`; local actors are
compared with SQL `lower()`, which on SQLite folds ASCII letters only.

Must not import `outbox`, `inbox` or `server`: the "most recently active" order needs the
time of an actor's newest post, which the caller passes in as a SQL expression.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pycountry
from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    and_,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from actors.base import dialect_name
from actors.documents import summary_html
from actors.models import (
    Actor,
    ActorInterest,
    DirectoryEntry,
    DirectoryEntryInterest,
    DirectoryPeer,
)
from actors.regions import InvalidRegionError, parse_postal_prefix, parse_region_code
from actors.uris import LocalUris
from federation.directory import Cursor, DirectoryItem
from federation.hashtags import hashtag_key

__all__ = [
    "MAX_LIMIT",
    "ORDERS",
    "DirectoryHit",
    "DirectoryQuery",
    "DirectoryQueryError",
    "LastPostAt",
    "ListingFilter",
    "check_query",
    "codes_within",
    "directory_item",
    "listing_basis",
    "listing_page",
    "search",
    "search_statement",
]

ORDERS = ("new", "active")
# The most a single search returns (the APIs allow 80; pages ask one more to see a next).
MAX_LIMIT = 200
MAX_OFFSET = 100_000
MAX_INTERESTS = 20
_TYPES = frozenset({"Organization", "Group", "Person"})

LastPostAt = Callable[[ColumnElement[str]], ColumnElement[Any]]
"""Given a local actor's URI as a SQL expression, the time of its newest post as a scalar
SQL expression (NULL without posts); `server` builds it over the statuses table, whose
(actor_uri, id) index finds the newest post with one seek."""


class DirectoryQueryError(ValueError):
    """A search that cannot be run as asked (a region ISO does not know, an interest
    without a letter, paging out of range); the message says what to change."""


@dataclass(frozen=True, slots=True)
class DirectoryQuery:
    region: str | None = None  # "DE", "DE-BE" or a postal prefix "10"
    interests: tuple[str, ...] = ()  # names as given; matched by hashtag_key
    match_all: bool = False  # interests: all (True) or any (False)
    types: tuple[str, ...] = ()  # "Organization" | "Group" | "Person"
    text: str | None = None  # ?q= on name, username, summary
    local_only: bool = False
    order: str = "new"  # "new" (profile_changed_at desc) | "active"
    offset: int = 0
    limit: int = 40


@dataclass(frozen=True, slots=True)
class DirectoryHit:
    actor_uri: str
    type: str
    username: str
    domain: str  # handle = username@domain
    display_name: str
    summary_html: str
    url: str | None
    icon_url: str | None
    region_code: str | None
    locality: str
    postal_prefix: str
    interests: tuple[str, ...]
    updated_at: datetime
    local_actor_id: int | None  # set for our own actors
    peer: str | None  # the peer domain a cached entry came from; None = local
    entry_id: int | None = None  # the directory_entries row of a cached entry

    @property
    def handle(self) -> str:
        return f"{self.username}@{self.domain}"


# --- filters --------------------------------------------------------------------------------


def _subdivisions(country: str) -> Any:
    # pycountry carries no type hints.
    return pycountry.subdivisions.get(country_code=country)  # type: ignore[no-untyped-call]  # untyped lib


@functools.lru_cache(maxsize=1024)
def codes_within(code: str) -> tuple[str, ...]:
    """`code` (canonical, known to ISO) and every ISO 3166-2 code under it: a country's
    subdivisions at every level, a subdivision's children (GB-ENG → GB-LND, …)."""
    subs = list(_subdivisions(code[:2]) or ())
    children: dict[str, list[str]] = {}
    for sub in subs:
        parent = getattr(sub, "parent_code", None) or code[:2]
        children.setdefault(parent, []).append(sub.code)
    out: list[str] = []
    todo = [code]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, ()))
    return tuple(sorted(set(out)))


@dataclass(frozen=True, slots=True)
class _Region:
    codes: tuple[str, ...] = ()
    postal_prefix: str = ""


def _region(value: str) -> _Region:
    """A code ("de-be" too) or, when it cannot be one (a digit, no code shape), a postal
    prefix; InvalidRegionError for a code ISO does not know or a malformed prefix."""
    text = value.strip()
    head = text.partition("-")[0]
    if len(head) == 2 and head.isalpha() and head.isascii():
        return _Region(codes=codes_within(parse_region_code(text)))
    return _Region(postal_prefix=parse_postal_prefix(text))


def _prefix_match(
    column: SQLColumnExpression[str], prefix: str, dialect: str
) -> ColumnElement[bool]:
    """`column` starts with `prefix`, or `prefix` starts with `column` (letters, digits,
    space and `-` only, so no escaping):
    GLOB on SQLite, whose LIKE is case-insensitive and skips the index; LIKE on
    PostgreSQL (its index uses text_pattern_ops, migration 0011)."""
    # A searcher's full postcode (10115) also finds who names an area around it (10, 101):
    # the stored prefix is one of the query's own prefixes — an indexed IN-list.
    covering = column.in_([prefix[:n] for n in range(1, len(prefix))])
    if dialect == "sqlite":
        return or_(column.op("GLOB")(prefix + "*"), covering)
    return or_(column.like(prefix + "%"), covering)


def _like_text(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True, slots=True)
class ListingFilter:
    """The checked form of a query's filters, shared by search and the collection."""

    region: _Region | None
    interest_keys: tuple[str, ...]
    match_all: bool
    types: tuple[str, ...]
    text: str | None

    @classmethod
    def of(cls, query: DirectoryQuery) -> ListingFilter:
        """Raises DirectoryQueryError saying what is wrong."""
        try:
            region = _region(query.region) if query.region and query.region.strip() else None
        except InvalidRegionError as exc:
            raise DirectoryQueryError(str(exc)) from None
        if len(query.interests) > MAX_INTERESTS:
            raise DirectoryQueryError(f"at most {MAX_INTERESTS} interests per search")
        keys: list[str] = []
        for name in query.interests:
            key = hashtag_key(name)
            if key is None:
                raise DirectoryQueryError(f"interest {name[:40]!r} has no letter in it")
            if key not in keys:
                keys.append(key)
        unknown = set(query.types) - _TYPES
        if unknown:
            raise DirectoryQueryError(f"unknown actor type {sorted(unknown)[0][:20]!r}")
        text = query.text.strip() if query.text else None
        return cls(region, tuple(keys), query.match_all, tuple(query.types), text or None)

    def local(self, dialect: str) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = []
        if self.region is not None and self.region.codes:
            conds.append(Actor.region_code.in_(self.region.codes))
        elif self.region is not None:
            conds.append(_prefix_match(Actor.postal_prefix, self.region.postal_prefix, dialect))
        if self.interest_keys:
            ids = select(ActorInterest.actor_id).where(
                ActorInterest.tag_key.in_(self.interest_keys)
            )
            if self.match_all and len(self.interest_keys) > 1:
                ids = ids.group_by(ActorInterest.actor_id).having(
                    func.count() == len(self.interest_keys)
                )
            conds.append(Actor.id.in_(ids))
        if self.types:
            conds.append(Actor.type.in_(self.types))
        if self.text:
            pattern = _like_text(self.text)
            conds.append(
                or_(
                    func.lower(Actor.display_name).like(pattern, escape="\\"),
                    Actor.username_key.like(pattern, escape="\\"),
                    func.lower(Actor.summary).like(pattern, escape="\\"),
                )
            )
        return conds

    def entries(self, dialect: str) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = []
        if self.region is not None and self.region.codes:
            conds.append(DirectoryEntry.region_code.in_(self.region.codes))
        elif self.region is not None:
            conds.append(
                _prefix_match(DirectoryEntry.postal_prefix, self.region.postal_prefix, dialect)
            )
        if self.interest_keys:
            ids = select(DirectoryEntryInterest.entry_id).where(
                DirectoryEntryInterest.tag_key.in_(self.interest_keys)
            )
            if self.match_all and len(self.interest_keys) > 1:
                ids = ids.group_by(DirectoryEntryInterest.entry_id).having(
                    func.count() == len(self.interest_keys)
                )
            conds.append(DirectoryEntry.id.in_(ids))
        if self.types:
            conds.append(DirectoryEntry.type.in_(self.types))
        if self.text:
            conds.append(DirectoryEntry.search_text.like(_like_text(self.text), escape="\\"))
        return conds


_LISTED = (
    Actor.is_instance.is_(False),
    Actor.is_alias.is_(False),
    Actor.discoverable.is_(True),
)


# --- search ---------------------------------------------------------------------------------


def search_statement(
    query: DirectoryQuery,
    *,
    dialect: str,
    uris: LocalUris | None = None,
    last_post_at: LastPostAt | None = None,
) -> Select[int, int, Any]:
    """The one UNION ALL statement behind `search`: rows of (is_local, row_id, sort_at),
    ordered and limited. Public for EXPLAIN in tests and benchmarks."""
    if query.order not in ORDERS:
        raise DirectoryQueryError("order must be 'new' or 'active'")
    if not 0 <= query.offset <= MAX_OFFSET:
        raise DirectoryQueryError(f"offset must be from 0 to {MAX_OFFSET}")
    if not 1 <= query.limit <= MAX_LIMIT:
        raise DirectoryQueryError(f"limit must be from 1 to {MAX_LIMIT}")
    filters = ListingFilter.of(query)
    local_sort: SQLColumnExpression[Any] = Actor.profile_changed_at
    if query.order == "active" and last_post_at is not None and uris is not None:
        # `LocalUris.actor` is the users prefix and the name, which needs no quoting.
        actor_uri = literal(uris.actor("")).concat(Actor.username)
        local_sort = func.coalesce(last_post_at(actor_uri), Actor.profile_changed_at)
    branches: list[Select[int, int, Any]] = [
        select(
            literal(1).label("is_local"),
            Actor.id.label("row_id"),
            local_sort.label("sort_at"),
        ).where(*_LISTED, *filters.local(dialect))
    ]
    if not query.local_only:
        branches.append(
            select(
                literal(0).label("is_local"),
                DirectoryEntry.id.label("row_id"),
                DirectoryEntry.updated_at.label("sort_at"),
            ).where(*filters.entries(dialect))
        )
    rows = union_all(*branches).subquery("hits")
    return (
        select(rows.c.is_local, rows.c.row_id, rows.c.sort_at)
        .order_by(rows.c.sort_at.desc(), rows.c.is_local.desc(), rows.c.row_id.desc())
        .offset(query.offset)
        .limit(query.limit)
    )


def _names(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _local_hit(actor: Actor, uris: LocalUris, local_domain: str) -> DirectoryHit:
    return DirectoryHit(
        actor_uri=uris.actor(actor.username),
        type=actor.type,
        username=actor.username,
        domain=local_domain,
        display_name=actor.display_name,
        summary_html=summary_html(actor.summary),
        url=uris.profile_page(actor.username),
        icon_url=actor.icon_url,
        region_code=actor.region_code,
        locality=actor.locality,
        postal_prefix=actor.postal_prefix,
        interests=_names(actor.interests),
        updated_at=actor.profile_changed_at or actor.created_at,
        local_actor_id=actor.id,
        peer=None,
    )


def _entry_hit(entry: DirectoryEntry, peer: str) -> DirectoryHit:
    return DirectoryHit(
        actor_uri=entry.actor_uri,
        type=entry.type,
        username=entry.username,
        domain=entry.domain,
        display_name=entry.display_name,
        summary_html=summary_html(entry.summary),
        url=entry.url if entry.url and entry.url.startswith(("https://", "http://")) else None,
        icon_url=entry.icon_url,
        region_code=entry.region_code,
        locality=entry.locality,
        postal_prefix=entry.postal_prefix,
        interests=_names(entry.interests),
        updated_at=entry.updated_at,
        local_actor_id=None,
        peer=peer,
        entry_id=entry.id,
    )


async def search(
    session: AsyncSession,
    query: DirectoryQuery,
    *,
    local_domain: str,
    uris: LocalUris,
    last_post_at: LastPostAt | None = None,
) -> list[DirectoryHit]:
    """Discoverable local actors and cached peer entries matching `query`, in its order
    (newest change first; "active": newest post first for ours, `updated` for entries),
    `query.limit` at most from `query.offset` on. Three queries: the union, then the
    page's actors and entries by id.

    Raises DirectoryQueryError.
    """
    stmt = search_statement(
        query, dialect=dialect_name(session), uris=uris, last_post_at=last_post_at
    )
    order = [(bool(is_local), int(row_id)) for is_local, row_id, _ in await session.execute(stmt)]
    local_ids = [row_id for is_local, row_id in order if is_local]
    entry_ids = [row_id for is_local, row_id in order if not is_local]
    hits: dict[tuple[bool, int], DirectoryHit] = {}
    if local_ids:
        for actor in await session.scalars(select(Actor).where(Actor.id.in_(local_ids))):
            hits[(True, actor.id)] = _local_hit(actor, uris, local_domain)
    if entry_ids:
        rows = await session.execute(
            select(DirectoryEntry, DirectoryPeer.domain)
            .join(DirectoryPeer, DirectoryPeer.id == DirectoryEntry.peer_id)
            .where(DirectoryEntry.id.in_(entry_ids))
        )
        for entry, peer in rows:
            hits[(False, entry.id)] = _entry_hit(entry, peer)
    # A row deleted between the two reads is simply left out.
    return [hits[key] for key in order if key in hits]


# --- our collection -------------------------------------------------------------------------


def _listing_where(
    query: DirectoryQuery, *, dialect: str, since: datetime | None
) -> list[ColumnElement[bool]]:
    """Listed actors matching the filters; with `since`, those changed after it, and the
    actors no longer listed (Tombstones), whatever the filters say about them."""
    listed = and_(Actor.discoverable.is_(True), *ListingFilter.of(query).local(dialect))
    if since is None:
        return [Actor.is_instance.is_(False), listed, Actor.profile_changed_at.is_not(None)]
    return [
        Actor.is_instance.is_(False),
        Actor.profile_changed_at > since,
        or_(listed, Actor.discoverable.is_(False)),
    ]


async def listing_basis(
    session: AsyncSession, query: DirectoryQuery, *, since: datetime | None
) -> tuple[int, datetime | None]:
    """(How many actors the collection lists — Tombstones included with `since` —, the
    newest change among them): `totalItems` and what the ETag is made of."""
    where = _listing_where(query, dialect=dialect_name(session), since=since)
    row = (
        await session.execute(
            select(func.count(), func.max(Actor.profile_changed_at)).where(*where)
        )
    ).one()
    return int(row[0] or 0), row[1]


async def listing_page(
    session: AsyncSession,
    query: DirectoryQuery,
    *,
    since: datetime | None,
    before: Cursor | None,
    limit: int,
) -> list[Actor]:
    """Up to `limit` actors of the collection, newest change first (`profile_changed_at`
    then id, descending), after `before`. Non-discoverable ones are Tombstones to the
    caller (they come only with `since`)."""
    where = _listing_where(query, dialect=dialect_name(session), since=since)
    if before is not None:
        where.append(
            or_(
                Actor.profile_changed_at < before.updated,
                and_(Actor.profile_changed_at == before.updated, Actor.id < before.row_id),
            )
        )
    stmt = (
        select(Actor)
        .where(*where)
        .order_by(Actor.profile_changed_at.desc(), Actor.id.desc())
        .limit(limit)
    )
    return list(await session.scalars(stmt))


def directory_item(actor: Actor, uris: LocalUris) -> DirectoryItem:
    """A listed local actor as the collection shows it."""
    interests = _names(actor.interests)
    tags = []
    for name in interests:
        key = hashtag_key(name)
        if key is not None:
            tags.append((name, uris.tag_page(key)))
    actor_uri = uris.actor(actor.username)
    return DirectoryItem(
        id=actor_uri,
        type=actor.type,
        preferred_username=actor.username,
        name=actor.display_name,
        summary_html=summary_html(actor.summary),
        url=uris.profile_page(actor.username),
        icon_url=actor.icon_url,
        inbox=uris.inbox(actor_uri),
        updated=actor.profile_changed_at or actor.created_at,
        region=actor.region_code,
        locality=actor.locality,
        postal_prefix=actor.postal_prefix,
        interests=interests,
        tags=tuple(tags),
        indexable=actor.indexable,
    )


def check_query(query: DirectoryQuery) -> None:
    """Raise DirectoryQueryError as `search` would, without a database (for early 4xx)."""
    ListingFilter.of(query)
