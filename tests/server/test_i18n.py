"""The pages in German and English (issue 16): every message of the templates, of
`server/web` and of the authorize page (`server/api/oauth.py`) has a German translation,
and a request reads the language its browser, its cookie or its member chose."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from sqlalchemy import update

from actors.models import User
from server.web.i18n import negotiate
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.webpages import browser_client, create_person, sign_in

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "translate": (2,),
            "translate_plural": (2, 3)}  # fmt: skip


def _extracted() -> set[str]:
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT / "server"),
        # The authorize page's messages live with the rest of OAuth (server/api/oauth.py).
        method_map=[
            ("web/**.py", "python"),
            ("api/oauth.py", "python"),
            ("web/templates/**.html", "jinja2"),
        ],
        options_map={"web/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
        keywords=KEYWORDS,
    ):
        found.update([message] if isinstance(message, str) else [m for m in message if m])
    return found


def test_every_message_has_a_german_translation() -> None:
    with (ROOT / "server/web/locale/de/LC_MESSAGES/messages.po").open("rb") as po:
        catalog = read_po(po)
    translated: set[str] = set()
    for m in catalog:
        if m.id and (m.string if isinstance(m.string, str) else all(m.string or ())):
            # A plural entry translates its singular and its plural text.
            translated.update([m.id] if isinstance(m.id, str) else m.id)
    extracted = _extracted()
    assert "Sign in" in extracted  # the extraction itself works
    missing = sorted(extracted - translated)
    assert not missing, f"no German translation in messages.po for: {missing}"


def test_accept_language_negotiation() -> None:
    assert negotiate("de-AT,de;q=0.9,en;q=0.5") == "de"
    assert negotiate("fr, en;q=0.3, de;q=0.7") == "de"
    assert negotiate("de;q=0, en") == "en"
    assert negotiate("fr-FR") is None
    assert negotiate("de;q=abc, en;q=0.1") == "en"
    assert negotiate(None) is None


async def front(client: aiohttp.ClientSession, inst: Instance, **headers: str) -> str:
    async with client.get(f"{inst.base_url}/", headers=headers) as resp:
        assert resp.status == 200
        return await resp.text()


async def test_the_language_follows_browser_cookie_and_member(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha = await start_instance("alpha")
    await create_person(alpha, "anna", "a long passphrase of hers")
    async with browser_client(resolver) as browser:
        page = await front(browser, alpha, **{"Accept-Language": "de-DE,de;q=0.9,en;q=0.8"})
        assert '<html lang="de">' in page and "Verzeichnis" in page and "Anmelden" in page
        page = await front(browser, alpha, **{"Accept-Language": "fr"})
        assert '<html lang="en">' in page and "Directory" in page
        # The footer's switch sets a cookie that wins over the header, and returns.
        async with browser.get(
            f"{alpha.base_url}/lang/de?next=/directory", allow_redirects=False
        ) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/directory"
            assert resp.cookies["verbund_lang"]["httponly"]
        page = await front(browser, alpha, **{"Accept-Language": "en"})
        assert '<html lang="de">' in page
        async with browser.get(
            f"{alpha.base_url}/lang/de?next=//evil.example/", allow_redirects=False
        ) as resp:
            assert resp.headers["Location"] == "/"
        async with browser.get(
            f"{alpha.base_url}/lang/en",
            headers={"Referer": f"{alpha.base_url}/tags/klima?x=1"},
            allow_redirects=False,
        ) as resp:
            assert resp.headers["Location"] == "/tags/klima?x=1"
        async with browser.get(
            f"{alpha.base_url}/lang/de",
            headers={"Referer": "http://evil.example/tags/klima"},
            allow_redirects=False,
        ) as resp:
            assert resp.headers["Location"] == "/"
        async with browser.get(f"{alpha.base_url}/lang/xx") as resp:
            assert resp.status == 404
        # A member's own choice wins over the cookie.
        async with alpha.sessionmaker() as session:
            await session.execute(update(User).where(User.username == "anna").values(locale="en"))
            await session.commit()
        await sign_in(browser, alpha, "anna", "a long passphrase of hers")
        page = await front(browser, alpha)
        assert '<html lang="en">' in page and "Signed in as <strong>anna</strong>" in page


def test_the_german_catalogue_names_each_message_once() -> None:
    """Two entries for one message would make the translation depend on their order
    (merges of `*.po` keep both sides' lines: .gitattributes `merge=union`)."""
    text = (ROOT / "server/web/locale/de/LC_MESSAGES/messages.po").read_text()
    entries = [block.split("\nmsgstr", 1)[0] for block in text.split("\n\n") if "msgid" in block]
    keys = ["\n".join(ln for ln in e.splitlines() if not ln.startswith("#")) for e in entries]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    assert not twice, f"messages.po has these messages more than once: {twice}"
