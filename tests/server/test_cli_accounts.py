"""`verbund user|role|token` as an operator runs them (in-process), then the token over HTTP."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from server.config import DatabaseConfig
from tests.helpers import run_cli
from tests.server.test_cli import ROOT, run, write_config

PASSWORD = "a long and secret passphrase"


def run_input(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, stdin=stdin, cwd=ROOT)


@pytest.fixture
def c(tmp_path: Path, make_database: Callable[[str], DatabaseConfig]) -> list[str]:
    path = tmp_path / "verbund.toml"
    write_config(path, make_database("cliaccounts"))
    config = ["--config", str(path)]
    assert run("db", "upgrade", *config).returncode == 0
    assert run("actor", "create", "kv", *config).returncode == 0
    assert run("actor", "create", "ov", *config).returncode == 0
    return config


def test_users_roles_and_tokens(c: list[str]) -> None:
    result = run_input("user", "create", "Anna", "--password-stdin", *c, stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    assert "created user anna" in result.stdout
    result = run_input("user", "create", "anna", "--password-stdin", *c, stdin=PASSWORD + "\n")
    assert result.returncode == 1 and "already exists" in result.stderr
    result = run_input("user", "create", "ben", "--password-stdin", *c, stdin="short\n")
    assert result.returncode == 1 and "at least" in result.stderr
    # Without a terminal and without --password-stdin there is nobody to ask.
    result = run_input("user", "create", "carl", *c, stdin="")
    assert result.returncode == 1 and "--password-stdin" in result.stderr

    result = run("token", "create", "anna", "kv", *c)
    assert result.returncode == 1 and "holds no role on kv" in result.stderr
    assert run("role", "grant", "anna", "kv", "owner", *c).returncode == 0
    assert run("role", "grant", "anna", "ov", "moderator", *c).returncode == 0
    assert run("role", "grant", "anna", "kv", "boss", *c).returncode == 2
    assert run("role", "grant", "nobody", "kv", "owner", *c).returncode == 1
    assert run("role", "grant", "anna", "nothing", "owner", *c).returncode == 1
    listed = run("role", "list", "kv", *c).stdout.split()
    assert listed == ["kv", "anna", "owner"]
    assert "kv (owner), ov (moderator)" in run("user", "list", *c).stdout

    result = run("token", "create", "anna", "kv", "--name", "script", "--scopes", "read", *c)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert len(token) >= 40 and "\n" not in token
    assert "shown only now" in result.stderr
    assert run("token", "create", "anna", "kv", "--scopes", "read all", *c).returncode == 1
    listed_tokens = run("token", "list", "anna", *c).stdout
    assert "anna → kv" in listed_tokens and "script" in listed_tokens
    assert token not in listed_tokens
    token_id = listed_tokens.split()[0]
    assert run("token", "revoke", token_id, *c).returncode == 0
    assert run("token", "list", *c).stdout.strip() == "no tokens"
    assert "revoked" in run("token", "list", "--all", *c).stdout
    assert run("token", "revoke", "999", *c).returncode == 1

    # The operator may remove even the last owner (the API refuses that).
    assert run("role", "revoke", "anna", "kv", *c).returncode == 0
    assert run("role", "revoke", "anna", "kv", *c).returncode == 1
    assert run("role", "list", "kv", *c).stdout.startswith("no roles")
