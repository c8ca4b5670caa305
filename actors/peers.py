"""Reading peers' directories into the cache (issue 13): `DirectorySync`.

Each peer on `directory.peers` has a `DirectoryPeer` row (rows follow the config: a peer
taken off the list loses its row and its entries). A sync of one peer GETs
`<scheme>://<peer>/directory`, signed by our instance actor, and follows `first` and
`next`, writing the items into `directory_entries` (+ `directory_entry_interests`) in
batches as it goes (`WRITE_BATCH`; no transaction is held open across a request): upsert
by actor id; a `Tombstone`, or an item not `discoverable`, deletes.

Incremental and full syncs: an incremental sync asks `?since=<cursor>` (the newest
`updated` seen) with `If-None-Match: <etag>`, so a peer with nothing new costs one request
(a 304, the same ETag, or `totalItems: 0`). Every `full_sync_interval` a sync asks without
`since` and, if it reads the whole listing, drops the entries it did not see (`seen_at`
older than the sync's start). Cursor and ETag advance only after a complete read, so an
interrupted sync is read again from the old cursor next time.

What a peer may cost us per sync is bounded (`SyncSettings`): pages, bytes per page (the
body is streamed and cut off; Content-Length is not trusted), entries kept, and seconds in
all (a body trickling in a byte a second is cut off too). Outcomes, recorded on the row:
- complete: `last_success_at` set, `last_error` empty or naming skipped items;
- cut short by a limit on pages, entries or links (an endless or looping `next`, a `next`
  on another host): what was read is kept, `last_error` says where it stopped, and the
  peer counts as answering (`last_success_at` set);
- failed (network, status, not JSON, wrong shape, too large, too slow): `last_error`;
  entries stay until the peer has not answered for `drop_after`, then they are dropped.
Items whose id is not on the peer's origin are skipped and counted, never stored.

Concurrency: a process syncs one peer at a time; a sync first claims its peer with a
compare-and-set UPDATE of `claimed_until` (the end of its time budget), so two processes
(`verbund serve`, `verbund worker`, the CLI) never sync one peer at once. A claim left by
a crashed process expires by itself. `sync_due` claims only peers whose `last_sync_at` is
older than `sync_interval`.

Layering: actors may use federation (the signed client, the page parser), never server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote, urlsplit

import aiohttp
from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actors.base import dialect_name
from actors.links import linked_domains
from actors.models import DirectoryEntry, DirectoryEntryInterest, DirectoryPeer
from actors.regions import InvalidRegionError, parse_postal_prefix, parse_region_code
from federation.actors import same_origin
from federation.content import plain_text
from federation.directory_pages import (
    MAX_INTEREST_LENGTH,
    DirectoryItem,
    DirectoryPage,
    DirectoryTombstone,
    format_timestamp,
    parse_directory_collection,
    parse_directory_page,
)
from federation.errors import FederationError
from federation.fetch import ResponseTooLargeError, Signer, fetch_json_conditional
from federation.hashtags import hashtag_key
from federation.policy import FederationPolicy

__all__ = [
    "DirectorySync",
    "PeerStatus",
    "SyncReport",
    "SyncSettings",
    "UnknownPeerError",
    "add_operator_peer",
    "is_operator_peer",
    "remove_operator_peer",
]

log = logging.getLogger("verbund.directory.sync")

# A claim outlives the sync's time budget by this much: the last page's writes and the
# status update happen after the budget's deadline has been checked.
CLAIM_MARGIN_SECONDS = 60.0
# Rows per IN (...) list: well under SQLite's 32766 bound variables and PostgreSQL's 65535.
_CHUNK = 1000
_ERROR_LENGTH = 500  # last_error is shown in a listing; a peer's error text is not ours
# Items read are written (and committed) in batches of about this many: a commit per
# 100-item page made PostgreSQL's WAL flushes half of a 10k-entry sync (bench/directory.py).
WRITE_BATCH = 1000


class UnknownPeerError(Exception):
    """A peer that is not on `directory.peers` was asked for."""


@dataclass(frozen=True, slots=True)
class SyncSettings:
    """`directory.*` as the sync needs it (server.config.DirectoryConfig), and `scheme`,
    the instance's own (peers are asked over it: https, or http in development)."""

    scheme: str = "https"
    sync_interval: float = 3600
    full_sync_interval: float = 86400
    drop_after: float = 7 * 86400
    max_entries_per_peer: int = 20_000
    max_page_bytes: int = 1_048_576
    max_pages: int = 500
    sync_timeout: float = 120


@dataclass(frozen=True, slots=True)
class SyncReport:
    """One sync of one peer. `requests` counts GETs (redirect hops included), `bytes` body
    bytes read, `skipped` items not stored (not on the peer's origin, or malformed);
    `error` is what `last_error` became ("" when all went well)."""

    peer: str
    full: bool
    requests: int = 0
    pages: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    skipped: int = 0
    bytes: int = 0
    seconds: float = 0.0
    not_modified: bool = False
    complete: bool = False
    error: str = ""


@dataclass(frozen=True, slots=True)
class PeerStatus:
    """A `directory_peers` row, for `verbund directory peers`."""

    domain: str
    last_sync_at: datetime | None
    last_success_at: datetime | None
    last_full_sync_at: datetime | None
    entry_count: int
    last_error: str
    syncing: bool
    operator_added: bool = False  # added on the admin pages, not in the config


@dataclass(slots=True)
class _Progress:
    """Counters of a sync under way; kept when it is cut short."""

    stored: int  # the peer's entries now, against max_entries_per_peer
    requests: int = 0
    pages: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    foreign: int = 0
    malformed: int = 0
    bytes: int = 0
    newest: datetime | None = None
    notes: list[str] = field(default_factory=list)
    pending: list[DirectoryItem | DirectoryTombstone] = field(default_factory=list)

    def saw(self, when: datetime | None) -> None:
        if when is not None and (self.newest is None or when > self.newest):
            self.newest = when


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    domain: str
    etag: str | None
    cursor: datetime | None
    last_success_at: datetime | None
    last_full_sync_at: datetime | None


class _Stop(Exception):
    """A limit cut the sync short; what was read is kept and the peer counts as answering."""


class _Failed(Exception):
    """The peer did not give a usable answer; the message is for last_error."""


def _chunks(values: Sequence[object], size: int = _CHUNK) -> Iterator[Sequence[object]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _base_url(settings: SyncSettings, peer: _Claimed) -> str:
    """The peer's origin as its actor ids must spell it."""
    return f"{settings.scheme}://{peer.domain}"


def _host_key(url: str) -> str:
    """`host[:port]` of a URL, as peer domains are written."""
    parts = urlsplit(url)
    return parts.netloc.lower().rpartition("@")[2]


class DirectorySync:
    """Syncs the peers of `directory.peers` into the directory cache.

    `http` gives the federation client (SSRF guard), `signer` our instance actor's key,
    `policy` the domain blocks (a blocked peer is never asked, and fails). `clock` is the
    wall clock for the timestamps stored; `monotonic` measures a sync's duration.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        http: Callable[[], aiohttp.ClientSession],
        *,
        peers: Iterable[str],
        settings: SyncSettings,
        signer: Callable[[], Awaitable[Signer]],
        policy: FederationPolicy,
        allow_private: bool,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
        linked_from: str | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._http = http
        self.peers = tuple(dict.fromkeys(p.strip().lower() for p in peers))
        self._configured = self.peers
        # Our own host (`host[:port]`): the instances of our actors' confirmed organisation
        # links are peers too (`actors.links.linked_domains`), until the link ends.
        self._linked_from = linked_from
        self.settings = settings
        self._signer = signer
        self._policy = policy
        self._allow_private = allow_private
        self._clock = clock
        self._monotonic = monotonic

    # --- the peers' rows ----------------------------------------------------------------

    async def ensure_peers(self) -> None:
        """Make `directory_peers` follow the configured list: add missing rows, delete rows
        (and so their entries) of peers no longer listed. The list is `directory.peers`,
        the instances of confirmed organisation links and the peers the operator added
        (`add_operator_peer`)."""
        async with self._sessionmaker() as session:
            linked: Sequence[str] = ()
            if self._linked_from is not None:
                linked = await linked_domains(session, own_host=self._linked_from)
            rows = (
                await session.execute(
                    select(DirectoryPeer.id, DirectoryPeer.domain, DirectoryPeer.operator_added_at)
                )
            ).all()
            added = [domain for _, domain, at in rows if at is not None]
            self.peers = tuple(dict.fromkeys((*self._configured, *linked, *added)))
            known = {domain: peer_id for peer_id, domain, _ in rows}
            gone = [peer_id for domain, peer_id in known.items() if domain not in self.peers]
            if gone:
                await session.execute(
                    delete(DirectoryEntry).where(DirectoryEntry.peer_id.in_(gone))
                )
                await session.execute(delete(DirectoryPeer).where(DirectoryPeer.id.in_(gone)))
                log.info("dropped %d directory peers no longer configured", len(gone))
            missing = [d for d in self.peers if d not in known]
            if missing:
                ins = postgresql.insert if dialect_name(session) == "postgresql" else sqlite.insert
                await session.execute(
                    ins(DirectoryPeer)
                    .values([{"domain": d, "last_error": "", "entry_count": 0} for d in missing])
                    .on_conflict_do_nothing(index_elements=["domain"])
                )
            await session.commit()

    async def statuses(self) -> list[PeerStatus]:
        """Every configured peer's row, in the order of the config."""
        await self.ensure_peers()
        now = self._clock()
        async with self._sessionmaker() as session:
            rows = {p.domain: p for p in (await session.scalars(select(DirectoryPeer))).all()}
        return [
            PeerStatus(
                domain=p.domain,
                last_sync_at=p.last_sync_at,
                last_success_at=p.last_success_at,
                last_full_sync_at=p.last_full_sync_at,
                entry_count=p.entry_count,
                last_error=p.last_error,
                syncing=p.claimed_until is not None and p.claimed_until > now,
                operator_added=p.operator_added_at is not None,
            )
            for domain in self.peers
            if (p := rows.get(domain)) is not None
        ]

    async def drop_stale(self) -> int:
        """Drop the entries of peers that have not answered for `drop_after` seconds;
        returns how many were dropped."""
        cutoff = self._clock() - timedelta(seconds=self.settings.drop_after)
        async with self._sessionmaker() as session:
            stale = (
                await session.scalars(
                    select(DirectoryPeer.id).where(
                        DirectoryPeer.last_success_at < cutoff, DirectoryPeer.entry_count > 0
                    )
                )
            ).all()
            dropped = await self._drop_entries(session, list(stale))
            await session.commit()
        return dropped

    async def _drop_entries(self, session: AsyncSession, peer_ids: list[int]) -> int:
        if not peer_ids:
            return 0
        result = await session.execute(
            delete(DirectoryEntry).where(DirectoryEntry.peer_id.in_(peer_ids))
        )
        await session.execute(
            update(DirectoryPeer).where(DirectoryPeer.id.in_(peer_ids)).values(entry_count=0)
        )
        dropped: int = getattr(result, "rowcount", 0) or 0
        if dropped:
            log.warning("dropped %d directory entries of peers failing too long", dropped)
        return dropped

    # --- claims ---------------------------------------------------------------------------

    async def _claim(self, domain: str, *, due_before: datetime | None) -> _Claimed | None:
        """Compare-and-set: the peer is ours if no live claim holds it (and, with
        `due_before`, if it was last synced before then). Sets last_sync_at to now."""
        now = self._clock()
        until = now + timedelta(seconds=self.settings.sync_timeout + CLAIM_MARGIN_SECONDS)
        conditions = [
            DirectoryPeer.domain == domain,
            or_(DirectoryPeer.claimed_until.is_(None), DirectoryPeer.claimed_until < now),
        ]
        if due_before is not None:
            conditions.append(
                or_(DirectoryPeer.last_sync_at.is_(None), DirectoryPeer.last_sync_at < due_before)
            )
        async with self._sessionmaker() as session:
            result = await session.execute(
                update(DirectoryPeer)
                .where(*conditions)
                .values(claimed_until=until, last_sync_at=now)
                .returning(
                    DirectoryPeer.id,
                    DirectoryPeer.domain,
                    DirectoryPeer.etag,
                    DirectoryPeer.cursor,
                    DirectoryPeer.last_success_at,
                    DirectoryPeer.last_full_sync_at,
                )
                .execution_options(synchronize_session=False)
            )
            row = result.one_or_none()
            await session.commit()
        return None if row is None else _Claimed(*row)

    # --- syncing --------------------------------------------------------------------------

    async def sync_peer(self, domain: str, *, full: bool | None = None) -> SyncReport:
        """Sync one configured peer now, due or not (`verbund directory sync`). `full`
        None: full if the last full sync is older than `full_sync_interval` (or never was).

        Raises UnknownPeerError for a peer not on the list. A peer another process is
        syncing right now is left alone: the report's error says so.
        """
        domain = domain.strip().lower()
        await self.ensure_peers()
        if domain not in self.peers:
            raise UnknownPeerError(f"{domain} is not on directory.peers nor a linked instance")
        claimed = await self._claim(domain, due_before=None)
        if claimed is None:
            return SyncReport(peer=domain, full=bool(full), error="another process is syncing it")
        return await self._run(claimed, full)

    async def sync_due(self) -> list[SyncReport]:
        """Sync every peer that is due (last synced more than `sync_interval` ago, or never)
        and not claimed by another process, one after the other; drop the entries of peers
        failing for longer than `drop_after`. A peer whose sync fails unexpectedly is logged
        and the next one is synced all the same."""
        await self.ensure_peers()
        await self.drop_stale()
        now = self._clock()
        due_before = now - timedelta(seconds=self.settings.sync_interval)
        async with self._sessionmaker() as session:
            due = (
                await session.scalars(
                    select(DirectoryPeer.domain)
                    .where(
                        or_(
                            DirectoryPeer.last_sync_at.is_(None),
                            DirectoryPeer.last_sync_at < due_before,
                        ),
                        or_(
                            DirectoryPeer.claimed_until.is_(None),
                            DirectoryPeer.claimed_until < now,
                        ),
                    )
                    .order_by(DirectoryPeer.last_sync_at.asc().nulls_first(), DirectoryPeer.id)
                )
            ).all()
        reports: list[SyncReport] = []
        for domain in due:
            try:
                claimed = await self._claim(domain, due_before=due_before)
                if claimed is not None:
                    reports.append(await self._run(claimed, None))
            except Exception:  # loop top: one peer's unexpected failure must not stop the rest
                log.exception("directory sync of %s failed", domain)
        return reports

    def _is_full(self, peer: _Claimed, full: bool | None, now: datetime) -> bool:
        if full is not None:
            return full
        if peer.cursor is None or peer.last_full_sync_at is None:
            return True
        return peer.last_full_sync_at < now - timedelta(seconds=self.settings.full_sync_interval)

    async def _run(self, peer: _Claimed, full_wanted: bool | None) -> SyncReport:
        """Sync a claimed peer and record the outcome on its row (claim released)."""
        started_at = self._clock()
        started = self._monotonic()
        full = self._is_full(peer, full_wanted, started_at)
        async with self._sessionmaker() as session:
            stored = await session.scalar(
                select(func.count())
                .select_from(DirectoryEntry)
                .where(DirectoryEntry.peer_id == peer.id)
            )
        progress = _Progress(stored=stored or 0)
        outcome = "failed"
        error = "interrupted (see the log)"
        etag: str | None = None
        not_modified = False
        try:
            try:
                async with asyncio.timeout(self.settings.sync_timeout):
                    etag, not_modified = await self._read(peer, full, started_at, progress)
                outcome, error = "complete", ""
            except _Stop as exc:
                outcome, error = "cut", str(exc)
            except _Failed as exc:
                error = str(exc)
            except TimeoutError:
                error = f"stopped after {self.settings.sync_timeout:g} s (directory.sync_timeout)"
            except FederationError as exc:
                error = str(exc)
            if progress.pending:  # what was read before the sync ended or was cut short
                limit = await self._write(
                    peer, _base_url(self.settings, peer), started_at, progress
                )
                if limit and outcome == "complete":
                    outcome, error = "cut", limit
        finally:
            if progress.foreign:
                progress.notes.append(f"skipped {progress.foreign} items not on {peer.domain}")
            if progress.malformed:
                progress.notes.append(f"skipped {progress.malformed} malformed items")
            message = "; ".join([m for m in (error, *progress.notes) if m])[:_ERROR_LENGTH]
            await self._finish(peer, outcome, message, etag, full, started_at, progress)
        report = SyncReport(
            peer=peer.domain,
            full=full,
            requests=progress.requests,
            pages=progress.pages,
            added=progress.added,
            updated=progress.updated,
            removed=progress.removed,
            skipped=progress.foreign + progress.malformed,
            bytes=progress.bytes,
            seconds=round(self._monotonic() - started, 3),
            not_modified=not_modified,
            complete=outcome == "complete",
            error=message,
        )
        if outcome != "complete" or message:
            log.warning("directory sync of %s: %s", peer.domain, message)
        return report

    async def _finish(
        self,
        peer: _Claimed,
        outcome: str,
        message: str,
        etag: str | None,
        full: bool,
        started_at: datetime,
        progress: _Progress,
    ) -> None:
        now = self._clock()
        values: dict[str, object] = {"claimed_until": None, "last_error": message}
        async with self._sessionmaker() as session:
            if outcome == "complete":
                if full:
                    # Everything listed was seen at `started_at`; the rest is gone.
                    result = await session.execute(
                        delete(DirectoryEntry).where(
                            DirectoryEntry.peer_id == peer.id, DirectoryEntry.seen_at < started_at
                        )
                    )
                    progress.removed += getattr(result, "rowcount", 0) or 0
                    values["last_full_sync_at"] = started_at
                newest = progress.newest
                if newest is not None and newest > started_at:
                    newest = started_at  # a peer's clock ahead of ours must not skip changes
                if newest is not None and (peer.cursor is None or full or newest > peer.cursor):
                    values["cursor"] = newest
                values["etag"] = etag
            if outcome in ("complete", "cut"):
                values["last_success_at"] = now
            elif peer.last_success_at is not None and peer.last_success_at < now - timedelta(
                seconds=self.settings.drop_after
            ):
                progress.removed += await self._drop_entries(session, [peer.id])
            count = await session.scalar(
                select(func.count())
                .select_from(DirectoryEntry)
                .where(DirectoryEntry.peer_id == peer.id)
            )
            values["entry_count"] = count or 0
            await session.execute(
                update(DirectoryPeer).where(DirectoryPeer.id == peer.id).values(**values)
            )
            await session.commit()

    def _remaining(self, deadline: float) -> float:
        # One second past the sync's own deadline: its asyncio.timeout fires first and says
        # which limit it was.
        return max(deadline - self._monotonic(), 0.0) + 1.0

    async def _read(
        self, peer: _Claimed, full: bool, started_at: datetime, progress: _Progress
    ) -> tuple[str | None, bool]:
        """Read the collection and its pages, applying each page; returns (the collection's
        ETag, whether it was unchanged). Raises _Stop, _Failed, FederationError."""
        settings = self.settings
        deadline = self._monotonic() + settings.sync_timeout
        base = _base_url(settings, peer)
        url = f"{base}/directory"
        if not full and peer.cursor is not None:
            url += "?since=" + quote(format_timestamp(peer.cursor), safe=":")
        sent_etag = None if full else peer.etag
        answer = await self._fetch(url, sent_etag, deadline, progress)
        if answer.not_modified or (sent_etag is not None and answer.etag == sent_etag):
            return sent_etag, True
        assert answer.doc is not None  # not_modified is False
        collection = parse_directory_collection(answer.doc)
        if collection.total_items == 0:
            return answer.etag, False
        seen = {url.partition("#")[0]}
        page: DirectoryPage | None = collection.first_page
        next_url = collection.first
        while True:
            if page is None:
                if next_url is None:
                    break
                self._check_next(next_url, base, seen, progress)
                seen.add(next_url.partition("#")[0])
                fetched = await self._fetch(next_url, None, deadline, progress)
                page = parse_directory_page(fetched.doc)
            progress.pages += 1
            progress.malformed += page.malformed
            progress.pending += page.items
            if len(progress.pending) >= WRITE_BATCH:
                limit = await self._write(peer, base, started_at, progress)
                if limit:
                    raise _Stop(limit)
            next_url, page = page.next, None
        return answer.etag, False

    def _check_next(self, url: str, base: str, seen: set[str], progress: _Progress) -> None:
        if progress.pages >= self.settings.max_pages:
            raise _Stop(f"stopped after {progress.pages} pages (directory.max_pages)")
        if not same_origin(url, base):
            raise _Stop(f"stopped at a next page on another host ({_host_key(url)[:100]})")
        if url.partition("#")[0] in seen:
            raise _Stop(f"stopped after {progress.pages} pages: next leads back to a page read")

    async def _fetch(
        self, url: str, etag: str | None, deadline: float, progress: _Progress
    ) -> _Answer:
        progress.requests += 1
        try:
            answer = await fetch_json_conditional(
                self._http(),
                url,
                etag=etag,
                signer=await self._signer(),
                allow_private=self._allow_private,
                policy=self._policy,
                max_bytes=self.settings.max_page_bytes,
                timeout=self._remaining(deadline),
            )
        except ResponseTooLargeError:
            raise _Failed(
                f"a page exceeds {self.settings.max_page_bytes} bytes (directory.max_page_bytes)"
            ) from None
        progress.requests += answer.requests - 1
        progress.bytes += answer.size
        return _Answer(answer.doc, answer.etag, answer.not_modified)

    # --- writing a page -----------------------------------------------------------------

    def _entry_values(
        self, peer: _Claimed, item: DirectoryItem, seen_at: datetime
    ) -> dict[str, object]:
        try:
            region = parse_region_code(item.region) if item.region else None
        except InvalidRegionError:
            region = None
        try:
            postal = parse_postal_prefix(item.postal_prefix)
        except InvalidRegionError:
            postal = ""
        summary = plain_text(item.summary_html) if item.summary_html else ""
        return {
            "peer_id": peer.id,
            "actor_uri": item.id,
            "type": item.type,
            "username": item.preferred_username,
            "domain": peer.domain,
            "display_name": item.name,
            "summary": summary,
            "url": item.url,
            "icon_url": item.icon_url,
            "region_code": region,
            "locality": item.locality,
            "postal_prefix": postal,
            "interests": list(item.interests),
            "search_text": " ".join((item.name, item.preferred_username, summary)).lower(),
            "updated_at": item.updated,
            "seen_at": seen_at,
        }

    async def _write(
        self, peer: _Claimed, base: str, seen_at: datetime, progress: _Progress
    ) -> str:
        """Write the items read so far (`progress.pending`), in one transaction: deletions,
        then inserts and updates in bulk. Returns "" or, when the peer's entries reached
        max_entries_per_peer, the message saying so (what fits is written)."""
        items, progress.pending = progress.pending, []
        upserts: dict[str, DirectoryItem] = {}
        removals: set[str] = set()
        for item in items:
            if not same_origin(item.id, base):
                progress.foreign += 1
                continue
            progress.saw(item.updated)
            if item.id in upserts or item.id in removals:
                continue  # listed twice: the first (newest) mention wins
            if isinstance(item, DirectoryTombstone) or not item.discoverable:
                removals.add(item.id)
            else:
                upserts[item.id] = item
        limit_hit = False
        async with self._sessionmaker() as session:
            for chunk in _chunks(sorted(removals)):
                result = await session.execute(
                    delete(DirectoryEntry).where(
                        DirectoryEntry.peer_id == peer.id, DirectoryEntry.actor_uri.in_(chunk)
                    )
                )
                gone = getattr(result, "rowcount", 0) or 0
                progress.removed += gone
                progress.stored -= gone
            existing: dict[str, tuple[int, int, datetime]] = {}
            for chunk in _chunks(list(upserts)):
                rows = await session.execute(
                    select(
                        DirectoryEntry.actor_uri,
                        DirectoryEntry.id,
                        DirectoryEntry.peer_id,
                        DirectoryEntry.updated_at,
                    ).where(DirectoryEntry.actor_uri.in_(chunk))
                )
                existing.update({uri: (i, p, u) for uri, i, p, u in rows})
            new = [item for uri, item in upserts.items() if uri not in existing]
            room = max(self.settings.max_entries_per_peer - progress.stored, 0)
            if len(new) > room:
                new, limit_hit = new[:room], True
            changed: list[tuple[int, DirectoryItem]] = []
            unchanged: list[int] = []
            for uri, (entry_id, peer_id, updated_at) in existing.items():
                item = upserts[uri]
                if peer_id == peer.id and updated_at == item.updated:
                    unchanged.append(entry_id)
                else:
                    changed.append((entry_id, item))
            interest_rows: list[dict[str, object]] = []
            if new:
                inserted = await session.execute(
                    insert(DirectoryEntry).returning(DirectoryEntry.id, DirectoryEntry.actor_uri),
                    [self._entry_values(peer, item, seen_at) for item in new],
                )
                for entry_id, uri in inserted:
                    interest_rows += _interest_rows(entry_id, upserts[uri])
                progress.added += len(new)
                progress.stored += len(new)
            if changed:
                await session.execute(
                    update(DirectoryEntry),
                    [
                        {"id": entry_id, **self._entry_values(peer, item, seen_at)}
                        for entry_id, item in changed
                    ],
                )
                ids = [entry_id for entry_id, _ in changed]
                for chunk in _chunks(ids):
                    await session.execute(
                        delete(DirectoryEntryInterest).where(
                            DirectoryEntryInterest.entry_id.in_(chunk)
                        )
                    )
                for entry_id, item in changed:
                    interest_rows += _interest_rows(entry_id, item)
                progress.updated += len(changed)
                progress.stored += sum(1 for uri in existing if existing[uri][1] != peer.id)
            for chunk in _chunks(unchanged):
                await session.execute(
                    update(DirectoryEntry)
                    .where(DirectoryEntry.id.in_(chunk))
                    .values(seen_at=seen_at)
                    .execution_options(synchronize_session=False)
                )
            if interest_rows:
                await session.execute(insert(DirectoryEntryInterest), interest_rows)
            await session.commit()
        if limit_hit:
            return (
                f"stopped at {self.settings.max_entries_per_peer} entries"
                " (directory.max_entries_per_peer)"
            )
        return ""


@dataclass(frozen=True, slots=True)
class _Answer:
    doc: dict[str, object] | None
    etag: str | None
    not_modified: bool


def _interest_rows(entry_id: int, item: DirectoryItem) -> list[dict[str, object]]:
    keys = {hashtag_key(name) for name in item.interests}
    return [
        {"entry_id": entry_id, "tag_key": key}
        for key in sorted(k for k in keys if k is not None and len(k) <= MAX_INTEREST_LENGTH)
    ]


async def add_operator_peer(session: AsyncSession, domain: str, *, now: datetime) -> None:
    """Read `domain`'s directory too (the admin pages), until `remove_operator_peer`. The
    caller commits; the next `DirectorySync.ensure_peers` (every sync round) lists it."""
    domain = domain.strip().lower()
    row = await session.scalar(select(DirectoryPeer).where(DirectoryPeer.domain == domain))
    if row is None:
        session.add(
            DirectoryPeer(domain=domain, last_error="", entry_count=0, operator_added_at=now)
        )
    elif row.operator_added_at is None:
        row.operator_added_at = now
    await session.flush()


async def remove_operator_peer(session: AsyncSession, domain: str) -> bool:
    """Stop reading a peer the operator added; False if there was none. Its row and
    entries go at the next `ensure_peers` unless `directory.peers` or a link lists it."""
    result = await session.execute(
        update(DirectoryPeer)
        .where(DirectoryPeer.domain == domain.strip().lower())
        .where(DirectoryPeer.operator_added_at.is_not(None))
        .values(operator_added_at=None)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def is_operator_peer(session: AsyncSession, domain: str) -> bool:
    """Whether the operator added `domain` as a directory peer."""
    found = await session.scalar(
        select(DirectoryPeer.id).where(
            DirectoryPeer.domain == domain.strip().lower(),
            DirectoryPeer.operator_added_at.is_not(None),
        )
    )
    return found is not None
