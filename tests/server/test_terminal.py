"""What remote actors write never controls the operator's terminal: `server.cli.terminal` and
the `verbund` listings that show remote text (requests, timeline, following)."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TextIO

import aiohttp
import pytest

from actors.models import ActorType
from server.cli.terminal import LOG_FORMAT, DirectLines, SafeFormatter, err, out, terminal_safe
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.fakes import FakeRemote, shared_key
from tests.inbox.test_news_handlers import Peer, follow_remote
from tests.server.test_cli import ROOT, VERBUND

# Retitle the window, clear the screen, an 8-bit CSI, a right-to-left override.
EVIL = "\x1b]0;pwned\x07\x1b[2J\x9b31mHallo\u202eolleH\r"
SHOWN = "]0;pwned[2J31mHalloolleH"


def controls(text: str) -> list[str]:
    """Every character in `text` that a terminal would act on (newline and tab aside)."""
    return [
        ch
        for ch in text
        if (ord(ch) < 0x20 and ch not in "\n\t")
        or 0x7F <= ord(ch) < 0xA0
        or 0x202A <= ord(ch) <= 0x202E
        or 0x2066 <= ord(ch) <= 0x2069
    ]


def test_terminal_safe_removes_controls_and_keeps_the_text() -> None:
    assert terminal_safe(EVIL) == SHOWN
    assert terminal_safe("two\n\tlines") == "two\n\tlines"
    assert terminal_safe("ok \u200f\u05e9\u05dc\u05d5\u05dd \U0001f44b") == (
        "ok \u200f\u05e9\u05dc\u05d5\u05dd \U0001f44b"
    )
    assert terminal_safe("lone \ud800 surrogate") == "lone \ufffd surrogate"
    every = "".join(chr(c) for c in range(0x3000)) + "\ud800\udfff"
    assert controls(terminal_safe(every)) == []


def test_out_writes_one_safe_line_and_err_keeps_lines(capsys: pytest.CaptureFixture[str]) -> None:
    out(f"name: {EVIL}\nforged line")
    err(f"error: {EVIL}\nsecond line\n")
    captured = capsys.readouterr()
    assert captured.out == f"name: {SHOWN} forged line\n"
    assert captured.err == f"error: {SHOWN}\nsecond line\n"


def test_log_lines_are_terminal_safe() -> None:
    record = logging.LogRecord(
        "verbund.inbox", logging.INFO, __file__, 1, "cannot fetch %s: %s", ("u", EVIL), None
    )
    assert SafeFormatter("%(message)s").format(record) == f"cannot fetch u: {SHOWN}"


@pytest.fixture
async def mastodon(resolver: LoopbackResolver) -> AsyncIterator[FakeRemote]:
    fake = FakeRemote("mastodon.example", shared_key())
    uri = fake.add_person("bob")
    doc = fake.docs["/users/bob"]
    assert isinstance(doc, dict) and doc["id"] == uri
    doc["preferredUsername"] = f"bob{EVIL}"
    doc["name"] = f"Bob {EVIL}"
    doc["summary"] = f"<p>{EVIL}</p>"
    await fake.start(resolver)
    yield fake
    await fake.stop()


def config_for(inst: Instance, path: Path) -> Path:
    """A config file for the operator's `verbund`, on the instance's own database."""
    database = inst.config.database
    schema = f'schema = "{database.schema}"\n' if database.schema else ""
    path.write_text(
        f'[instance]\ndomain = "{inst.config.instance.domain}"\nscheme = "http"\n'
        f'[database]\nurl = "{database.url}"\n{schema}'
        "[federation]\nallow_private_addresses = true\n",
        encoding="utf-8",
    )
    return path


async def verbund(config: Path, *args: str) -> str:
    result = await asyncio.to_thread(
        subprocess.run,
        [*VERBUND, *args, "--config", str(config)],
        capture_output=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ},
    )
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 0, stderr
    assert controls(stderr) == []
    return result.stdout.decode("utf-8")


async def test_cli_listings_show_remote_text_without_control_characters(
    start_instance: StartInstance,
    mastodon: FakeRemote,
    client: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    alpha = await start_instance("alpha")
    await alpha.add_actor("kv", manually_approves=True)
    await alpha.add_actor("erika", ActorType.PERSON)
    bob = Peer(mastodon, "bob", alpha, client)
    # bob asks to follow the locked kv, with a message.
    await bob.send(
        {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{bob.uri}#follows/1",
            "type": "Follow",
            "actor": bob.uri,
            "object": alpha.actor_uri("kv"),
            "content": f"Bitte {EVIL} danke\n     2  alice@example.org 2025-01-01 00:00",
        }
    )
    # erika follows bob, who posts; one of the posts has a content warning.
    await follow_remote(alpha, mastodon, client, "erika", bob.uri)
    post = bob.shape("create_public", 1)
    assert isinstance(post["object"], dict)
    post["object"]["content"] = f"<p>Neu: {EVIL}</p>"
    post["object"]["contentMap"] = {"de": post["object"]["content"]}
    await bob.send(post)
    warned = bob.shape("create_public", 2)
    assert isinstance(warned["object"], dict)
    warned["object"]["summary"] = f"CW {EVIL}"
    await bob.send(warned)

    config = config_for(alpha, tmp_path / "verbund.toml")
    requests = await verbund(config, "requests", "list", "kv")
    timeline = await verbund(config, "timeline", "erika")
    following = await verbund(config, "following", "erika")
    for listing in (requests, timeline, following):
        assert controls(listing) == [], listing
        assert f"bob{SHOWN}@mastodon.example" in listing, listing
    # One line per request: the message cannot add a forged one.
    [request] = requests.splitlines()
    assert request.endswith(f"“Bitte {SHOWN} danke      2  alice@example.org 2025-01-01 00:00”")
    assert f"Neu: {SHOWN}" in timeline
    assert f"[CW: CW {SHOWN}]" in timeline


async def test_direct_lines_write_what_logging_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The access log's own writer (`DirectLines`) gives the lines `logging` gives, with a
    turn of the event loop's lines in one write, and steps aside once logging is
    configured otherwise (another handler, a filter)."""
    stream = io.StringIO()
    handler: logging.StreamHandler[TextIO] = logging.StreamHandler(stream)
    formatter = SafeFormatter(LOG_FORMAT)
    handler.setFormatter(formatter)
    monkeypatch.setattr(logging.root, "handlers", [handler])
    level = logging.root.level
    logging.root.setLevel(logging.INFO)  # setLevel: loggers cache what is enabled
    try:
        await _direct_lines(monkeypatch, stream, handler, formatter)
    finally:
        logging.root.setLevel(level)


async def _direct_lines(
    monkeypatch: pytest.MonkeyPatch,
    stream: io.StringIO,
    handler: logging.StreamHandler[TextIO],
    formatter: SafeFormatter,
) -> None:
    logger = logging.getLogger("verbund.access")
    direct = DirectLines(handler, formatter)
    assert direct.usable(logger)
    direct.write(logger, "GET /users/news 200 1.2ms")
    direct.write(logger, "POST /inbox 202 0.8ms signer=http://x.example/a#k\x1b[2J")
    assert stream.getvalue() == ""  # written once the loop turn is over
    await asyncio.sleep(0)
    logger.info("GET /users/news 200 1.2ms")  # the same line through logging
    first, second, third = stream.getvalue().splitlines()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.fullmatch(stamp + r" INFO verbund\.access: GET /users/news 200 1\.2ms", first)
    assert second.endswith(
        "INFO verbund.access: POST /inbox 202 0.8ms signer=http://x.example/a#k[2J"
    )
    assert first[23:] == third[23:]
    other = io.StringIO()
    monkeypatch.setattr(logging.root, "handlers", [handler, logging.StreamHandler(other)])
    assert not direct.usable(logger)
    # Queued while logging changes: the line goes through logging, to both handlers.
    direct.write(logger, "GET /about 200 0.4ms")
    await asyncio.sleep(0)
    assert stream.getvalue().splitlines()[3].endswith("INFO verbund.access: GET /about 200 0.4ms")
    assert other.getvalue() == "GET /about 200 0.4ms\n"
    monkeypatch.setattr(logging.root, "handlers", [handler])
    handler.addFilter(lambda record: True)
    assert not direct.usable(logger)
