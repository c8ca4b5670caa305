"""The `verbund` command as an operator runs it: real files, real HTTP; commands run
in-process (`run`), `serve` and its port check in a real process (`run_process`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from server import db
from server.config import DatabaseConfig, load_config
from tests.helpers import run_cli

VERBUND = [sys.executable, "-m", "server.cli"]
ROOT = Path(__file__).parents[2]


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env, cwd=cwd)


def run_process(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VERBUND, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_config(path: Path, database: DatabaseConfig, port: int = 8080) -> None:
    schema = f'schema = "{database.schema}"\n' if database.schema else ""
    path.write_text(
        f"""[instance]
domain = "localhost:{port}"
scheme = "http"
[server]
port = {port}
[database]
url = "{database.url}"
{schema}[federation]
allow_private_addresses = true
""",
        encoding="utf-8",
    )


@pytest.fixture
def config_path(tmp_path: Path, make_database: Callable[[str], DatabaseConfig]) -> Path:
    path = tmp_path / "verbund.toml"
    write_config(path, make_database("cli"))
    result = run("db", "upgrade", "--config", str(path))
    assert result.returncode == 0, result.stderr
    return path


def test_init_writes_config_and_database(tmp_path: Path) -> None:
    path = tmp_path / "site" / "verbund.toml"
    result = run(
        "init",
        "--config",
        str(path),
        "--domain",
        "social.example.org",
        "--port",
        "9123",
        "--database-url",
        f"sqlite+aiosqlite:///{tmp_path}/site/v.db",
    )
    assert result.returncode == 0, result.stderr
    text = path.read_text(encoding="utf-8")
    assert 'domain = "social.example.org"' in text and 'scheme = "https"' in text
    assert "port = 9123" in text and "allow_private_addresses = false" in text
    assert (tmp_path / "site" / "v.db").exists()
    # Running it again keeps the file and is harmless; changing settings needs --force.
    assert run("init", "--config", str(path)).returncode == 0
    again = run("init", "--config", str(path), "--domain", "other.org")
    assert again.returncode == 1 and "--force" in again.stderr
    assert run("db", "current", "--config", str(path)).returncode == 0


def test_init_refuses_invalid_settings_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "verbund.toml"
    result = run("init", "--config", str(path), "--domain", "bad domain!")
    assert result.returncode == 1
    assert "instance.domain" in result.stderr
    assert not path.exists()


def test_actor_create_list_show(config_path: Path) -> None:
    c = ["--config", str(config_path)]
    created = run(
        "actor",
        "create",
        "news",
        "--type",
        "organization",
        "--display-name",
        "Kreisverband News",
        "--summary",
        "Our news",
        "--locked",
        *c,
    )
    assert created.returncode == 0, created.stderr
    assert "@news@localhost:8080\n" in created.stdout
    assert "http://localhost:8080/users/news" in created.stdout
    assert run("actor", "create", "erika", "--type", "person", *c).returncode == 0
    listed = run("actor", "list", *c)
    assert listed.returncode == 0
    assert "news" in listed.stdout and "Organization" in listed.stdout and "locked" in listed.stdout
    assert "erika" in listed.stdout and "Person" in listed.stdout
    shown = run("actor", "show", "NEWS", *c)
    assert shown.returncode == 0
    assert "Kreisverband News" in shown.stdout and "locked:      yes" in shown.stdout
    assert "PRIVATE" not in shown.stdout + shown.stderr + created.stdout + created.stderr


def test_actor_errors_are_clear(config_path: Path) -> None:
    c = ["--config", str(config_path)]
    assert run("actor", "create", "news", *c).returncode == 0
    taken = run("actor", "create", "News", *c)
    assert taken.returncode == 1 and "already taken" in taken.stderr
    unknown = run("actor", "show", "ghost", *c)
    assert unknown.returncode == 1 and "no actor named 'ghost'" in unknown.stderr
    bad = run("actor", "create", "no spaces", *c)
    assert bad.returncode == 1 and "invalid name" in bad.stderr
    reserved = run("actor", "create", "inbox", *c)
    assert reserved.returncode == 1 and "reserved" in reserved.stderr
    usage = run("actor", "create", "x", "--type", "robot", *c)
    assert usage.returncode == 2 and "invalid choice" in usage.stderr


def test_config_from_environment_and_bad_config(tmp_path: Path, config_path: Path) -> None:
    assert run("actor", "list", env={"VERBUND_CONFIG": str(config_path)}).returncode == 0
    missing = run("actor", "list", "--config", str(tmp_path / "none.toml"))
    assert missing.returncode == 1 and "not found" in missing.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[instance]\ndomain = "x.org"\n[server]\nport = "eighty"\n', encoding="utf-8")
    result = run("actor", "list", "--config", str(bad))
    assert result.returncode == 1 and "server.port must be an integer" in result.stderr


def test_unreachable_database_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "v.toml"
    port = free_port()  # nothing listens there
    write_config(
        path, DatabaseConfig(url=f"postgresql+asyncpg://verbund:secret@127.0.0.1:{port}/x")
    )
    result = run("db", "upgrade", "--config", str(path))
    assert result.returncode == 1
    assert "unreachable" in result.stderr and "secret" not in result.stderr
    assert "Traceback" not in result.stderr


def test_unmigrated_database_is_reported(
    tmp_path: Path, make_database: Callable[[str], DatabaseConfig]
) -> None:
    path = tmp_path / "v.toml"
    write_config(path, make_database("empty"))
    result = run("actor", "list", "--config", str(path))
    assert result.returncode == 1 and "verbund db upgrade" in result.stderr
    assert f"database {db.display_url(load_config(path).database)}: " in result.stderr
    assert "schema is at nothing" in result.stderr


def test_config_option_goes_before_or_after_the_command(config_path: Path) -> None:
    before = run("--config", str(config_path), "actor", "create", "kv", "--display-name", "KV")
    assert before.returncode == 0, before.stderr
    after = run("actor", "show", "kv", "--config", str(config_path))
    assert after.returncode == 0 and "display:     KV" in after.stdout
    # After the command wins, as the later option does everywhere else.
    both = run(
        "--config",
        str(config_path.parent / "none.toml"),
        "actor",
        "list",
        "--config",
        str(config_path),
    )
    assert both.returncode == 0, both.stderr


def test_init_keeps_the_database_next_to_the_config_wherever_it_runs(tmp_path: Path) -> None:
    site, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = site / "verbund.toml"
    assert run("init", "--config", str(config)).returncode == 0
    assert 'url = "sqlite+aiosqlite:///verbund.db"' in config.read_text(encoding="utf-8")
    assert (site / "verbund.db").exists()
    created = run("actor", "create", "kv", "--config", str(config), cwd=elsewhere)
    assert created.returncode == 0, created.stderr
    shown = run("actor", "show", "kv", env={"VERBUND_CONFIG": "site/verbund.toml"}, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert list(elsewhere.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == [
        "elsewhere",
        "site",
    ]


def test_init_that_fails_leaves_nothing_behind(tmp_path: Path) -> None:
    config = tmp_path / "site" / "verbund.toml"
    unreachable = run(
        "init",
        "--config",
        str(config),
        "--database-url",
        f"postgresql+asyncpg://verbund@127.0.0.1:{free_port()}/verbund",
    )
    assert unreachable.returncode == 1 and "unreachable" in unreachable.stderr
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    unwritable = run(
        "init",
        "--config",
        str(config),
        "--database-url",
        f"sqlite+aiosqlite:///{blocker}/sub/v.db",
    )
    assert unwritable.returncode == 1 and "error: cannot create the database" in unwritable.stderr
    assert "Traceback" not in unreachable.stderr + unwritable.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
    # So the retry starts afresh rather than saying the config already exists.
    retry = run("init", "--config", str(config), "--domain", "localhost:8080")
    assert retry.returncode == 0, retry.stderr
    assert "instance actor created" in retry.stdout


def test_init_force_keeps_the_identity_of_existing_actors(tmp_path: Path) -> None:
    config = tmp_path / "verbund.toml"
    assert run("init", "--config", str(config), "--domain", "social.example.org").returncode == 0
    before = config.read_text(encoding="utf-8")
    again = run("init", "--config", str(config), "--force", "--domain", "social.example.org")
    assert again.returncode == 0, again.stderr
    assert "instance actor already there" in again.stdout and "created" not in again.stdout
    assert run("actor", "create", "kv", "--config", str(config)).returncode == 0
    moved = run("init", "--config", str(config), "--force", "--domain", "other.example.org")
    assert moved.returncode == 1
    assert "refusing to change instance.domain from social.example.org" in moved.stderr
    assert "identity" in moved.stderr and "1 actor," in moved.stderr
    assert config.read_text(encoding="utf-8") == before


def test_serve_answers_and_reports_port_in_use(
    tmp_path: Path, make_database: Callable[[str], DatabaseConfig]
) -> None:
    port = free_port()
    path = tmp_path / "v.toml"
    write_config(path, make_database("serve"), port=port)
    assert run("db", "upgrade", "--config", str(path)).returncode == 0
    assert run("actor", "create", "demo", "--config", str(path)).returncode == 0
    proc = subprocess.Popen(
        [*VERBUND, "serve", "--config", str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body = b""
        # Until it answers: a loaded machine can take many seconds to start Python.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/users/demo",
                    headers={"Accept": "application/activity+json", "Host": f"localhost:{port}"},
                )
                with urllib.request.urlopen(req, timeout=2) as resp:
                    body = resp.read()
                break
            except OSError:
                time.sleep(0.1)
        assert b'"preferredUsername":"demo"' in body
        second = run_process("serve", "--config", str(path))
        assert second.returncode == 1
        assert "port already in use" in second.stderr
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert f"http://localhost:{port}/" in out


def test_serve_and_worker_run_on_uvloop_where_it_is_installed() -> None:
    """`run_event_loop` is what `verbund serve` and `verbund worker` run under."""
    import asyncio

    import uvloop

    from server.runtime import event_loop_factory, run_event_loop

    async def loop_module() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert event_loop_factory() is uvloop.new_event_loop
    assert run_event_loop(loop_module()).startswith("uvloop")
