"""Regions of the directory: ISO 3166-1 countries and ISO 3166-2 subdivisions.

Codes are checked against pycountry's copy of the ISO tables (kept current by its
maintainers, with the Debian iso-codes translations), never a hand-typed list, and named
in German or English from the same source. A region is a code plus, optionally, a
district or town in free text and a postal-code prefix.

Matching (see `actors.directory`): a query code matches itself and everything under it
(`DE` matches `DE-BE`), a postal prefix matches every longer prefix it starts (`10`
matches `10115`). Codes are stored upper-case, so both are plain indexed comparisons.
"""

from __future__ import annotations

import functools
import gettext
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import pycountry

__all__ = [
    "LANGUAGES",
    "InvalidRegionError",
    "Region",
    "countries",
    "parse_postal_prefix",
    "parse_region",
    "parse_region_code",
    "region_label",
    "region_name",
    "subdivisions",
]

LANGUAGES = ("en", "de")
MAX_LOCALITY = 100
MAX_POSTAL_PREFIX = 10
_CODE_SHAPE = re.compile(r"[A-Z]{2}(?:-[A-Z0-9]{1,3})?")
_POSTAL_SHAPE = re.compile(r"[A-Z0-9][A-Z0-9 -]*")


class InvalidRegionError(ValueError):
    """A region code, district or postal prefix that is not acceptable; says which."""


@dataclass(frozen=True, slots=True)
class Region:
    """`code` is "DE" or "DE-BE" (upper-case); `locality` free text; `postal_prefix` e.g. "10"."""

    code: str
    locality: str = ""
    postal_prefix: str = ""

    @property
    def country(self) -> str:
        return self.code[:2]

    @property
    def subdivision(self) -> str | None:
        return self.code if "-" in self.code else None


def parse_region_code(value: str) -> str:
    """The canonical (upper-case) form of an ISO 3166-1 alpha-2 or ISO 3166-2 code.

    Raises InvalidRegionError for anything ISO does not list (`DE-XX`, `ZZ`, `deu`).
    """
    code = value.strip().upper()
    if not _CODE_SHAPE.fullmatch(code) or not _is_known(code):
        raise InvalidRegionError(f"{value!r} is not an ISO 3166-1 or ISO 3166-2 code")
    return code


# pycountry's lookups carry no type hints; these two are the only calls into it.
def _subdivision(code: str) -> Any:
    return pycountry.subdivisions.get(code=code)  # type: ignore[no-untyped-call]  # untyped lib


def _country(code: str) -> Any:
    return pycountry.countries.get(alpha_2=code)


@functools.lru_cache(maxsize=4096)
def _is_known(code: str) -> bool:
    return (_subdivision(code) if "-" in code else _country(code)) is not None


def parse_postal_prefix(value: str) -> str:
    """A postal-code prefix, upper-case without surrounding space: "10", "SW1A", "1010"."""
    prefix = value.strip().upper()
    if not prefix:
        return ""
    if len(prefix) > MAX_POSTAL_PREFIX or not _POSTAL_SHAPE.fullmatch(prefix):
        raise InvalidRegionError(
            f"postal prefix {value!r} must be up to {MAX_POSTAL_PREFIX} letters and digits"
        )
    return prefix


def parse_region(code: str, locality: str = "", postal_prefix: str = "") -> Region:
    """A checked region; the district or town is trimmed and limited in length."""
    town = " ".join(locality.split())
    if len(town) > MAX_LOCALITY:
        raise InvalidRegionError(f"district or town is longer than {MAX_LOCALITY} characters")
    return Region(parse_region_code(code), town, parse_postal_prefix(postal_prefix))


@functools.lru_cache(maxsize=8)
def _catalogue(domain: str, language: str) -> gettext.NullTranslations:
    # English too: ISO names subdivisions in their own language ("Bayern"), and the
    # iso-codes English catalogue has "Bavaria"; where none exists the name stands.
    return gettext.translation(domain, pycountry.LOCALES_DIR, languages=[language], fallback=True)


@functools.lru_cache(maxsize=8192)
def region_name(code: str, language: str = "en") -> str:
    """The name of a known code in `language` ("en" or "de"): DE-BY → "Bayern" / "Bavaria".

    Unknown codes (a peer's typo) are returned as they are, so they still display.
    """
    if "-" in code:
        sub = _subdivision(code)
        if sub is None:
            return code
        return _catalogue("iso3166-2", language).gettext(sub.name)
    country = _country(code)
    if country is None:
        return code
    name = getattr(country, "common_name", None) or country.name
    return _catalogue("iso3166-1", language).gettext(name)


def region_label(region: Region, language: str = "en") -> str:
    """What a profile field shows: "Pankow, Berlin (DE-BE)" — town, region name, code."""
    named = f"{region_name(region.code, language)} ({region.code})"
    return f"{region.locality}, {named}" if region.locality else named


def _sort_key(pair: tuple[str, str]) -> str:
    """Alphabetical as a reader expects it: "Ägypten" among the A's."""
    decomposed = unicodedata.normalize("NFKD", pair[1])
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@functools.lru_cache(maxsize=4)
def countries(language: str = "en") -> tuple[tuple[str, str], ...]:
    """Every ISO 3166-1 country as (code, name in `language`), sorted by name (a form's
    choices)."""
    listed = [(c.alpha_2, region_name(c.alpha_2, language)) for c in pycountry.countries]
    return tuple(sorted(listed, key=_sort_key))


@functools.lru_cache(maxsize=64)
def subdivisions(country: str, language: str = "en") -> tuple[tuple[str, str], ...]:
    """The ISO 3166-2 subdivisions of a country as (code, name in `language`), sorted by
    name; empty for an unknown country or one ISO does not divide."""
    found = pycountry.subdivisions.get(country_code=country.upper()) or ()  # type: ignore[no-untyped-call]  # untyped lib
    listed = [(sub.code, region_name(sub.code, language)) for sub in found]
    return tuple(sorted(listed, key=_sort_key))
