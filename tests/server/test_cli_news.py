"""`verbund post/edit/delete/boost/timeline` as an operator runs them: real processes."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from actors.accounts import create_user, grant_role
from actors.local import get_actor
from actors.models import RoleName
from outbox.models import Activity, Status
from server import db
from server.config import DatabaseConfig, load_config
from tests.server.test_cli import run, write_config


@pytest.fixture
def config_path(tmp_path: Path, make_database: Callable[[str], DatabaseConfig]) -> Path:
    path = tmp_path / "verbund.toml"
    write_config(path, make_database("clinews"))
    assert run("db", "upgrade", "--config", str(path)).returncode == 0
    c = ["--config", str(path)]
    assert run("actor", "create", "news", "--display-name", "News", *c).returncode == 0
    assert run("actor", "create", "kv", *c).returncode == 0
    return path


def add_people(config_path: Path) -> None:
    """anna edits for news; bob has no role there."""

    async def go() -> None:
        config = load_config(config_path)
        engine = db.create_engine(config.database)
        async with db.create_sessionmaker(engine)() as session:
            now = datetime.now(UTC)
            password = "correct horse battery"
            anna = await create_user(session, username="anna", password=password, now=now)
            await create_user(session, username="bob", password=password, now=now)
            actor = await get_actor(session, "news")
            await grant_role(session, user=anna, actor=actor, role=RoleName.EDITOR, now=now)
            await session.commit()
        await engine.dispose()

    asyncio.run(go())


def stored(config_path: Path) -> tuple[list[Status], list[tuple[str, dict[str, object]]]]:
    async def go() -> tuple[list[Status], list[tuple[str, dict[str, object]]]]:
        config = load_config(config_path)
        engine = db.create_engine(config.database)
        async with db.create_sessionmaker(engine)() as session:
            statuses = list(await session.scalars(select(Status).order_by(Status.id)))
            activities = [
                (a.type, json.loads(a.body))
                for a in await session.scalars(select(Activity).order_by(Activity.id))
            ]
        await engine.dispose()
        return statuses, activities

    return asyncio.run(go())


def test_post_edit_boost_timeline_delete(config_path: Path, tmp_path: Path) -> None:
    add_people(config_path)
    c = ["--config", str(config_path)]
    text = tmp_path / "news.md"
    text.write_text("# Sommerfest\n\nAm **Samstag** im Park. #Sommer", encoding="utf-8")
    result = run(
        "post", "news", "--file", str(text), "--title", "Sommerfest 2026", "--tags", "Fest,Park",
        "--language", "de", "--as", "anna", *c,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    m = re.search(
        r"published Article (\d+) \(public\)\n  (http://localhost:8080/@news/\1)\n", result.stdout
    )
    assert m, result.stdout
    post_id, url = m.groups()

    [status], [(kind, create)] = stored(config_path)
    assert kind == "Create" and status.id == int(post_id) and status.author_user_id is not None
    note = create["object"]
    assert isinstance(note, dict)
    assert note["type"] == "Article" and note["name"] == "Sommerfest 2026"
    assert note["contentMap"] == {"de": note["content"]} and note["url"] == url
    assert [t["name"] for t in note["tag"]] == ["#sommer", "#fest", "#park"]
    # The person who wrote it is recorded, never published.
    assert "anna" not in json.dumps(create)

    text.write_text("Am **Sonntag** im Park.", encoding="utf-8")
    edited = run("edit", "news", post_id, "--file", str(text), *c)
    assert edited.returncode == 0, edited.stderr
    assert run("boost", "kv", url, *c).returncode == 0

    timeline = run("timeline", "news", *c)
    assert timeline.returncode == 0, timeline.stderr
    assert "news@localhost:8080" in timeline.stdout and "Sommerfest 2026" in timeline.stdout
    assert run("timeline", "kv", *c).stdout.count("boosted by kv@localhost:8080)") == 1
    unboosted = run("unboost", "kv", url, *c)
    assert unboosted.returncode == 0, unboosted.stderr

    deleted = run("delete", "news", post_id, *c)
    assert deleted.returncode == 0 and "410" in deleted.stdout
    statuses, activities = stored(config_path)
    assert [k for k, _ in activities] == ["Create", "Update", "Announce", "Undo", "Delete"]
    update = activities[1][1]["object"]
    assert isinstance(update, dict) and update["name"] == "Sommerfest 2026"
    assert "<strong>Sonntag</strong>" in str(update["content"]) and "updated" in update
    assert statuses[0].deleted_at is not None
    assert "is empty" in run("timeline", "news", *c).stdout


def test_post_errors_are_clear(config_path: Path, tmp_path: Path) -> None:
    add_people(config_path)
    c = ["--config", str(config_path)]
    text = tmp_path / "n.md"
    text.write_text("Hallo @nobody@localhost", encoding="utf-8")
    missing = run("post", "news", "--file", str(tmp_path / "missing.md"), *c)
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    direct = run("post", "news", "--file", str(text), "--visibility", "direct", *c)
    assert direct.returncode == 1 and "direct post needs" in direct.stderr
    no_role = run("post", "news", "--file", str(text), "--as", "bob", *c)
    assert no_role.returncode == 1 and "may not publish" in no_role.stderr
    bad_lang = run("post", "news", "--file", str(text), "--language", "nope nope", *c)
    assert bad_lang.returncode == 1 and "language code" in bad_lang.stderr
    unknown = run("post", "ghost", "--file", str(text), *c)
    assert unknown.returncode == 1 and "no actor named 'ghost'" in unknown.stderr
    ok = run("post", "news", "--file", str(text), "--visibility", "followers", *c)
    assert ok.returncode == 0 and "(private)" in ok.stdout
    assert "@nobody@localhost:8080 could not be resolved" in ok.stdout
    post_id = re.search(r"published Note (\d+)", ok.stdout)
    assert post_id
    foreign = run("delete", "kv", post_id.group(1), *c)
    assert foreign.returncode == 1 and "not a post of kv" in foreign.stderr
    private_boost = run("boost", "kv", post_id.group(1), *c)
    assert private_boost.returncode == 1 and "only public and unlisted" in private_boost.stderr
    nothing = run("boost", "kv", "https://elsewhere.test/statuses/1", *c)
    assert nothing.returncode == 1 and "no post" in nothing.stderr


def test_post_a_poll_from_the_cli(config_path: Path, tmp_path: Path) -> None:
    c = ["--config", str(config_path)]
    text = tmp_path / "poll.md"
    text.write_text("Wohin geht der Ausflug?", encoding="utf-8")
    result = run(
        "post", "news", "--file", str(text), "--poll", "Zoo", "--poll", "Museum",
        "--poll", "See", "--poll-expires", "3d", "--poll-multiple", *c,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert re.search(r"published Question \d+ \(public\)", result.stdout), result.stdout
    [status], [(kind, create)] = stored(config_path)
    assert kind == "Create" and status.type == "Question"
    question = create["object"]
    assert isinstance(question, dict) and question["type"] == "Question"
    assert question["anyOf"] == [
        {"type": "Note", "name": name, "replies": {"type": "Collection", "totalItems": 0}}
        for name in ("Zoo", "Museum", "See")
    ]
    published = datetime.fromisoformat(str(question["published"]))
    ends = datetime.fromisoformat(str(question["endTime"]))
    assert (ends - published).total_seconds() == 3 * 86400
    assert question["votersCount"] == 0

    one = run("post", "news", "--file", str(text), "--poll", "Zoo", *c)
    assert one.returncode != 0 and "at least 2 options" in one.stderr
    bad = run(
        "post", "news", "--file", str(text), "--poll", "A", "--poll", "B",
        "--poll-expires", "soon", *c,
    )  # fmt: skip
    assert bad.returncode != 0 and "--poll-expires" in bad.stderr


def test_post_input_is_checked_before_anything_is_stored(config_path: Path, tmp_path: Path) -> None:
    text = config_path.read_text(encoding="utf-8")
    config_path.write_text(
        text.replace('scheme = "http"\n', 'scheme = "http"\nmax_post_chars = 40\n'),
        encoding="utf-8",
    )
    c = ["--config", str(config_path)]
    news_md = tmp_path / "news.md"
    news_md.write_bytes("\ufeffHallo aus Notepad. #Sommer".encode())
    ok = run("post", "news", "--file", str(news_md), *c)
    assert ok.returncode == 0, ok.stderr
    [status], _ = stored(config_path)
    assert status.source == "Hallo aus Notepad. #Sommer"
    assert "\ufeff" not in status.content

    long_md = tmp_path / "long.md"
    long_md.write_text("x" * 41, encoding="utf-8")
    too_long = run("post", "news", "--file", str(long_md), *c)
    assert too_long.returncode == 1
    assert "Text character limit of 40 exceeded (the text has 41)" in too_long.stderr
    assert "instance.max_post_chars" in too_long.stderr
    edit_too_long = run("edit", "news", str(status.id), "--file", str(long_md), *c)
    assert edit_too_long.returncode == 1 and "character limit" in edit_too_long.stderr

    for nonsense in ("12345", "not a post", "ftp://example.org/x", "https://"):
        refused = run("post", "news", "--file", str(news_md), "--reply-to", nonsense, *c)
        assert refused.returncode == 1, nonsense
        assert f"--reply-to {nonsense!r} names no post" in refused.stderr
    assert len(stored(config_path)[0]) == 1

    local = run("post", "kv", "--file", str(news_md), "--reply-to", str(status.id), *c)
    assert local.returncode == 0, local.stderr
    by_url = run("post", "kv", "--file", str(news_md), "--reply-to", status.url or "", *c)
    assert by_url.returncode == 0, by_url.stderr
    remote = "https://mastodon.example/users/someone/statuses/1"
    unknown = run("post", "kv", "--file", str(news_md), "--reply-to", remote, *c)
    assert unknown.returncode == 0, unknown.stderr
    replies = [s.in_reply_to_uri for s in stored(config_path)[0][1:]]
    assert replies == [status.uri, status.uri, remote]
