"""`verbund profile set|show` and `actor create --discoverable` as an operator runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server.test_cli import config_path, run  # noqa: F401  # the fixture


def test_profile_set_and_show(config_path: Path) -> None:  # noqa: F811
    c = ("--config", str(config_path))
    assert run("actor", "create", "kv", *c).returncode == 0
    result = run(
        "profile", "set", "kv", "--region", "de-by", "--district", "Fürth",
        "--postal-prefix", "907", "--interests", "Bürgerrat, Klima,bürgerrat",
        "--not-indexable", *c,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "updated the profile of kv" in result.stdout
    shown = run("profile", "show", "kv", *c)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "region:       DE-BY  Bayern / Bavaria" in lines
    assert "district:     Fürth" in lines
    assert "postal:       907" in lines
    assert "interests:    Bürgerrat, Klima" in lines
    assert "discoverable: yes" in lines
    assert "indexable:    no" in lines

    assert run("profile", "set", "kv", "--region", "", "--interests", "", *c).returncode == 0
    lines = run("profile", "show", "kv", *c).stdout.splitlines()
    assert "region:       (none)" in lines and "interests:    (none)" in lines


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--region", "DE-XX"), "'DE-XX'"),
        (("--region", "DE", "--postal-prefix", "1/2"), "'1/2'"),
        (("--interests", "Klima,2025"), "'2025'"),
        (("--district", "Pankow"), "set a region"),
    ],
)
def test_profile_set_names_the_bad_value(
    config_path: Path,  # noqa: F811
    args: tuple[str, ...],
    named: str,
) -> None:
    c = ("--config", str(config_path))
    assert run("actor", "create", "kv", *c).returncode == 0
    result = run("profile", "set", "kv", *args, *c)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and named in result.stderr
    assert run("profile", "set", "nobody", "--region", "DE", *c).returncode == 1


def test_profile_set_refuses_both_switches(config_path: Path) -> None:  # noqa: F811
    c = ("--config", str(config_path))
    usage = run("profile", "set", "kv", "--discoverable", "--not-discoverable", *c)
    assert usage.returncode == 2


def test_actor_create_discoverable_defaults_by_type(config_path: Path) -> None:  # noqa: F811
    c = ("--config", str(config_path))

    def discoverable(name: str) -> str:
        lines = run("profile", "show", name, *c).stdout.splitlines()
        return next(line for line in lines if line.startswith("discoverable:"))

    assert run("actor", "create", "erika", "--type", "person", *c).returncode == 0
    assert run("actor", "create", "max", "--type", "person", "--discoverable", *c).returncode == 0
    assert run("actor", "create", "kv", *c).returncode == 0
    assert run("actor", "create", "ov", "--not-discoverable", *c).returncode == 0
    assert [discoverable(n) for n in ("erika", "max", "kv", "ov")] == [
        "discoverable: no",
        "discoverable: yes",
        "discoverable: yes",
        "discoverable: no",
    ]
