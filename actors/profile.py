"""The directory profile of a local actor: region, interests, discoverable, indexable.

`update_profile` is the one way these change (CLI, the Mastodon API and ours alike). It
checks everything before writing anything, keeps `actor_interests` equal to the keys of
`actors.interests`, and moves `profile_changed_at` (the directory's `?since=` cursor)
whenever something the directory shows changed, turning discoverable off included, so
peers learn of that too. Federating the new actor document is the caller's business
(`outbox.profiles`): this module knows no outbox.

Must not import `outbox`, `inbox` or `server`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from actors.base import utcnow
from actors.local import MAX_DISPLAY_NAME, MAX_SUMMARY, ActorError
from actors.models import Actor, ActorInterest
from actors.regions import InvalidRegionError, Region, parse_region, region_name
from federation.hashtags import hashtag_key

__all__ = [
    "DIRECTORY_FIELDS",
    "MAX_INTEREST",
    "MAX_INTERESTS",
    "InvalidProfileError",
    "ProfileChange",
    "actor_region",
    "apply_profile",
    "parse_interests",
    "region_names",
    "update_profile",
]

MAX_INTERESTS = 20
MAX_INTEREST = 50
# What a directory entry shows of an actor: a change to one of these moves
# `profile_changed_at`. `manually_approves` is in the actor document but not the listing.
DIRECTORY_FIELDS = frozenset(
    {
        "display_name",
        "summary",
        "region_code",
        "locality",
        "postal_prefix",
        "interests",
        "discoverable",
        "indexable",
    }
)


class InvalidProfileError(ActorError):
    """A profile value that cannot be stored; the message names the value and why."""


@dataclass(frozen=True, slots=True)
class ProfileChange:
    """What to change; None leaves a value as it is. `region=""` clears the region (and
    with it the district and postal prefix), another region code starts without them
    unless they are given; `locality`/`postal_prefix` alone change those of the current
    region. `interests` replaces the whole list (`()` clears it)."""

    region: str | None = None
    locality: str | None = None
    postal_prefix: str | None = None
    interests: Sequence[str] | None = None
    discoverable: bool | None = None
    indexable: bool | None = None
    display_name: str | None = None
    summary: str | None = None
    locked: bool | None = None


def parse_interests(names: Sequence[str]) -> list[str]:
    """Interests as typed (without `#`, trimmed), duplicates by `hashtag_key` collapsed
    onto their first spelling. Raises InvalidProfileError naming the first bad one, or
    when more than MAX_INTERESTS remain."""
    kept: dict[str, str] = {}
    for raw in names:
        name = raw.strip().removeprefix("#").strip()
        if not name:
            continue
        if len(name) > MAX_INTEREST:
            raise InvalidProfileError(f"interest {raw!r} is longer than {MAX_INTEREST} characters")
        key = hashtag_key(name)
        if key is None or not _hashtag_like(name):
            raise InvalidProfileError(
                f"interest {raw!r} is not a hashtag: use letters, digits and _ "
                "with at least one letter"
            )
        kept.setdefault(key, name)
    if len(kept) > MAX_INTERESTS:
        raise InvalidProfileError(f"at most {MAX_INTERESTS} interests, not {len(kept)}")
    return list(kept.values())


def _hashtag_like(name: str) -> bool:
    """Nothing a hashtag cannot hold (so the name federates as typed): `Verkehrswende`,
    `Bürger_innen`; not `a b`, `<b>`, `x-y`."""
    return all(ch.isalnum() or ch == "_" or _is_mark(ch) for ch in name)


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch)[0] == "M"


def actor_region(actor: Actor) -> Region | None:
    """The actor's region, or None (codes are stored checked, so none is refused here)."""
    if not actor.region_code:
        return None
    return Region(actor.region_code, actor.locality, actor.postal_prefix)


def _region_values(actor: Actor, change: ProfileChange) -> tuple[str | None, str, str]:
    """(code, locality, postal prefix) after `change`, checked by `actors.regions`."""
    code = actor.region_code if change.region is None else change.region.strip()
    # A district and prefix belong to their region: a new region starts without them.
    moved = change.region is not None and (code or "").upper() != (actor.region_code or "")
    locality = ("" if moved else actor.locality) if change.locality is None else change.locality
    postal = (
        ("" if moved else actor.postal_prefix)
        if change.postal_prefix is None
        else change.postal_prefix
    )
    if not code:
        if change.region is None and (change.locality or change.postal_prefix):
            raise InvalidProfileError("set a region (--region CODE) before a district or prefix")
        return None, "", ""
    try:
        region = parse_region(code, locality, postal)
    except InvalidRegionError as exc:
        raise InvalidProfileError(str(exc)) from None
    return region.code, region.locality, region.postal_prefix


def _check_texts(change: ProfileChange) -> None:
    if change.display_name is not None and len(change.display_name) > MAX_DISPLAY_NAME:
        raise InvalidProfileError(f"display name is longer than {MAX_DISPLAY_NAME} characters")
    if change.summary is not None and len(change.summary) > MAX_SUMMARY:
        raise InvalidProfileError(f"summary is longer than {MAX_SUMMARY} characters")


async def apply_profile(
    session: AsyncSession, actor: Actor, change: ProfileChange, *, now: datetime | None = None
) -> frozenset[str]:
    """`update_profile`, returning the names of the columns that changed (empty: nothing
    did, and no timestamp moved). The caller commits."""
    _check_texts(change)
    code, locality, postal = _region_values(actor, change)
    interests = None if change.interests is None else parse_interests(change.interests)
    wanted: dict[str, object] = {
        "region_code": code,
        "locality": locality,
        "postal_prefix": postal,
    }
    if interests is not None:
        wanted["interests"] = interests
    for name, value in (
        ("discoverable", change.discoverable),
        ("indexable", change.indexable),
        ("display_name", change.display_name),
        ("summary", change.summary),
        ("manually_approves", change.locked),
    ):
        if value is not None:
            wanted[name] = value
    changed = frozenset(name for name, value in wanted.items() if getattr(actor, name) != value)
    if not changed:
        return changed
    for name in changed:
        setattr(actor, name, wanted[name])
    if "interests" in changed:
        await session.execute(delete(ActorInterest).where(ActorInterest.actor_id == actor.id))
        keys = {hashtag_key(name) for name in actor.interests}
        session.add_all(ActorInterest(actor_id=actor.id, tag_key=k) for k in keys if k)
    moment = now or utcnow()
    actor.updated_at = moment
    if changed & DIRECTORY_FIELDS:
        actor.profile_changed_at = moment
    await session.flush()
    return changed


async def update_profile(
    session: AsyncSession, actor: Actor, change: ProfileChange, *, now: datetime | None = None
) -> Actor:
    """Validate `change` and write it to `actor` and its `actor_interests`; the caller
    commits (and federates the actor's new document, see `outbox.profiles`).

    Regions go through `actors.regions` (`""` clears one); interests through
    `parse_interests`. `updated_at`, and `profile_changed_at` when something the
    directory shows changed, become `now` (default: the current time). Raises
    InvalidProfileError, before anything is written, on bad input.
    """
    await apply_profile(session, actor, change, now=now)
    return actor


def region_names(code: str) -> dict[str, str]:
    """The names of a region code in every language we name regions in."""
    return {"en": region_name(code, "en"), "de": region_name(code, "de")}
