"""The web pages in German and English (issue 16): which language a request reads, its
gettext catalogue, and locale-aware dates and numbers.

The language is the member's choice (`users.locale`) when signed in, else the
`verbund_lang` cookie a visitor set with the footer's switch, else the best match of the
browser's `Accept-Language`, else English. Catalogues are the `.po` files under
`server/web/locale` (edited by hand or with `pybabel update`), read once at start: no
compiled `.mo` file is kept in the repository. Templates translate with `_()` /
`{% trans %}` (Jinja2's i18n extension; one environment per language, so each keeps its
own template cache); Python code with `translate(request, ...)` (extracted as keyword
`translate:2`, see babel.cfg).

Must not import the page modules.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Final

import jinja2
from aiohttp import web
from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

from server.web.viewer import VIEWER

__all__ = [
    "LANGUAGES",
    "LANG_COOKIE",
    "Templates",
    "language_of",
    "negotiate",
    "translate",
    "translate_plural",
    "translations",
]

LANGUAGES: Final = ("en", "de")  # the first is the source language and the fallback
LANG_COOKIE: Final = "verbund_lang"
LOCALE_DIR: Final = Path(__file__).parent / "locale"
TEMPLATE_DIR: Final = Path(__file__).parent / "templates"
MAX_ACCEPT_LANGUAGE: Final = 500  # longer headers are cut, not parsed

# The request's language once chosen (absent: not decided yet).
LANGUAGE = web.RequestKey("language", str)


def _load(language: str) -> NullTranslations:
    path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


_TRANSLATIONS: Final[Mapping[str, NullTranslations]] = {lang: _load(lang) for lang in LANGUAGES}


def translations(language: str) -> NullTranslations:
    return _TRANSLATIONS.get(language, _TRANSLATIONS[LANGUAGES[0]])


def negotiate(header: str | None) -> str | None:
    """The best of our languages for an `Accept-Language` header (quality values honoured,
    `de-AT` matching `de`), or None when it names none of them."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header[:MAX_ACCEPT_LANGUAGE].split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.strip().split("-")[0].lower()
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else None


def language_of(request: web.Request, *, chosen: str = "") -> str:
    """The language of this request's page (see the module doc); `chosen` is the signed-in
    member's own choice, if any. Decided once per request."""
    if LANGUAGE in request:
        return request[LANGUAGE]
    viewer = request.get(VIEWER)
    if not chosen and viewer is not None:
        chosen = viewer.locale
    cookie = request.cookies.get(LANG_COOKIE, "")
    language = (
        chosen
        if chosen in LANGUAGES
        else cookie
        if cookie in LANGUAGES
        else negotiate(request.headers.get("Accept-Language")) or LANGUAGES[0]
    )
    request[LANGUAGE] = language
    return language


def translate(request: web.Request, message: str, **values: object) -> str:
    """`message` in the request's language, with `%(name)s` placeholders filled."""
    text = str(translations(language_of(request)).gettext(message))
    return text % values if values else text


def translate_plural(
    request: web.Request, singular: str, plural: str, n: int, **values: object
) -> str:
    """The singular or plural form for `n` (`%(num)d` is n) in the request's language."""
    text = str(translations(language_of(request)).ngettext(singular, plural, n))
    return text % {"num": n, **values}


def _locale(language: str) -> Locale:
    try:
        return Locale.parse(language)
    except (UnknownLocaleError, ValueError):
        return Locale.parse(LANGUAGES[0])


class Templates:
    """One Jinja2 environment per language, each with its catalogue installed and the
    `datetime`, `date` and `number` filters formatting in that language."""

    def __init__(self, directory: Path = TEMPLATE_DIR) -> None:
        loader = jinja2.FileSystemLoader(directory)
        self._environments = {lang: self._environment(loader, lang) for lang in LANGUAGES}

    @staticmethod
    def _environment(loader: jinja2.BaseLoader, language: str) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=loader, autoescape=True, extensions=["jinja2.ext.i18n"], enable_async=False
        )
        env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
        locale = _locale(language)

        def datetime_filter(value: datetime | None, format: str = "medium") -> str:
            return str(format_datetime(value, format, locale=locale)) if value else ""

        def date_filter(value: datetime | None, format: str = "medium") -> str:
            return str(format_date(value, format, locale=locale)) if value else ""

        def number_filter(value: float | int) -> str:
            return str(format_decimal(value, locale=locale))

        env.filters.update(datetime=datetime_filter, date=date_filter, number=number_filter)
        env.globals["lang"] = language
        return env

    def get(self, language: str) -> jinja2.Environment:
        return self._environments.get(language, self._environments[LANGUAGES[0]])
