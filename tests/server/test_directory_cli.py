"""`verbund directory search` as an operator runs it (in-process)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from server import db
from server.config import DatabaseConfig
from tests.actors.test_directory_search import T0, add_entry, set_profile
from tests.server.test_cli import run, write_config


async def _profiles(database: DatabaseConfig) -> None:
    engine = db.create_engine(database)
    try:
        async with db.create_sessionmaker(engine)() as s:
            await set_profile(
                s,
                "klima",
                region="DE-BE",
                locality="Pankow",
                interests=["Klima", "Verkehrswende"],
                changed_at=T0 + timedelta(hours=2),
            )
            await set_profile(s, "hidden", region="DE-BE", interests=["Klima"], discoverable=False)
            await add_entry(
                s,
                "peer.test:8443",
                "kiez",
                type_="Group",
                region="DE-BE",
                interests=["Verkehrswende"],
                updated_at=T0 + timedelta(hours=1),
            )
            await add_entry(s, "peer.test:8443", "wien", region="AT-9", interests=["Kultur"])
            await s.commit()
    finally:
        await engine.dispose()


@pytest.fixture
def c(tmp_path: Path, make_database: Callable[[str], DatabaseConfig]) -> list[str]:
    path = tmp_path / "verbund.toml"
    database = make_database("clidirectory")
    write_config(path, database)
    config = ["--config", str(path)]
    assert run("db", "upgrade", *config).returncode == 0
    assert run("actor", "create", "klima", *config).returncode == 0
    assert run("actor", "create", "hidden", *config).returncode == 0
    asyncio.run(_profiles(database))
    return config


def lines(*args: str) -> list[str]:
    result = run("directory", "search", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_search_prints_handle_type_region_interests_and_where(c: list[str]) -> None:
    out = lines("--region", "DE", *c)
    assert len(out) == 2
    assert out[0].split() == [
        "@klima@localhost:8080",
        "Organization",
        "DE-BE",
        "(Pankow)",
        "Klima,",
        "Verkehrswende",
        "[this",
        "instance]",
    ]
    assert out[1].split() == [
        "@kiez@peer.test:8443",
        "Group",
        "DE-BE",
        "Verkehrswende",
        "[peer",
        "peer.test:8443]",
    ]


def handles(*args: str) -> list[str]:
    return [line.split()[0] for line in lines(*args)]


def test_search_filters(c: list[str]) -> None:
    assert len(lines(*c)) == 3
    assert handles("--local", *c) == ["@klima@localhost:8080"]
    assert handles("--interest", "kultur,fahrrad", *c) == ["@wien@peer.test:8443"]
    both = ["--interest", "Klima", "--interest", "verkehrswende", "--all", *c]
    assert handles(*both) == ["@klima@localhost:8080"]
    assert handles("--type", "group", *c) == ["@kiez@peer.test:8443"]
    assert handles("--q", "WIEN", *c) == ["@wien@peer.test:8443"]
    assert len(lines("--limit", "1", *c)) == 1
    assert lines("--q", "nirgends", *c) == ["nothing found"]


def test_non_discoverable_actor_is_never_printed(c: list[str]) -> None:
    for args in (
        [],
        ["--local"],
        ["--region", "DE-BE"],
        ["--interest", "klima"],
        ["--q", "hidden"],
    ):
        assert "hidden" not in "\n".join(lines(*args, *c))


def test_bad_input_exits_with_a_reason(c: list[str]) -> None:
    result = run("directory", "search", "--region", "ZZ", *c)
    assert result.returncode == 1 and "not an ISO" in result.stderr
    result = run("directory", "search", "--type", "robot", *c)
    assert result.returncode == 1 and "--type must be" in result.stderr
    many = ",".join(f"t{i}" for i in range(1000))
    result = run("directory", "search", "--interest", many, *c)
    assert result.returncode == 1 and "at most 20" in result.stderr
    assert run("directory", "search", "--limit", "100000", *c).returncode == 2
    assert run("directory", "search", "--limit", "0", *c).returncode == 2
