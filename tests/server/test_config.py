"""Config loading: defaults, and errors that name the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from server import cli
from server.cli import deliveries
from server.config import (
    Config,
    ConfigError,
    WorkerConfig,
    load_config,
    parse_config,
    render_config,
    resolve_sqlite_url,
)


def test_minimal_config_gets_documented_defaults() -> None:
    cfg = parse_config({"instance": {"domain": "social.example.org"}})
    assert cfg.instance.scheme == "https"
    assert cfg.instance.base_url == "https://social.example.org"
    assert cfg.server.host == "127.0.0.1" and cfg.server.port == 8080
    assert cfg.server.header_timeout_seconds == 10.0
    assert cfg.server.body_timeout_seconds == 30.0
    assert cfg.database.url == "sqlite+aiosqlite:///verbund.db"
    assert cfg.federation.allow_private_addresses is False
    assert cfg.federation.authorized_fetch is False
    assert cfg.logging.level == "info"


def test_limits_default_to_values_a_busy_instance_lives_with_and_zero_is_allowed() -> None:
    cfg = parse_config({"instance": {"domain": "social.example.org"}})
    assert (cfg.limits.inbox_per_host, cfg.limits.inbox_per_host_seconds) == (3000, 60)
    assert (cfg.limits.sign_in_per_account, cfg.limits.sign_in_per_account_seconds) == (10, 1800)
    assert cfg.limits.client_address_header == ""
    cfg = parse_config(
        {
            "instance": {"domain": "social.example.org"},
            "limits": {"follows_per_host": 0, "client_address_header": "X-Real-IP"},
        }
    )
    assert cfg.limits.follows_per_host == 0
    assert cfg.limits.client_address_header == "X-Real-IP"


def test_domain_with_port_keeps_port_in_urls_and_in_acct_host() -> None:
    cfg = parse_config({"instance": {"domain": "localhost:8080", "scheme": "http"}})
    assert cfg.instance.base_url == "http://localhost:8080"
    assert cfg.instance.host == "localhost:8080"
    assert cfg.instance.hostname == "localhost"


@pytest.mark.parametrize(
    ("domain", "scheme", "message"),
    [
        ("localhost:0", "http", "port out of range"),
        ("localhost:70000", "http", "port out of range"),
        ("localhost:80", "http", "must not name the default port of http"),
        ("social.example.org:443", "https", "use 'social.example.org'"),
    ],
)
def test_domain_port_must_be_in_range_and_not_the_default(
    domain: str, scheme: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"instance": {"domain": domain, "scheme": scheme}})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "instance.domain is required"),
        ({"instance": {"domain": "bad domain"}}, "instance.domain must be a host name"),
        ({"instance": {"domain": "https://x.org"}}, "instance.domain"),
        ({"instance": {"domain": 5}}, "instance.domain must be a string"),
        ({"instance": {"domain": "x.org", "scheme": "ftp"}}, "instance.scheme must be"),
        ({"instance": {"domain": "x.org", "scheme": "http"}}, "development only"),
        (
            {"instance": {"domain": "x.org"}, "server": {"port": 70000}},
            "server.port must be between",
        ),
        (
            {"instance": {"domain": "x.org"}, "server": {"port": True}},
            "server.port must be an integer",
        ),
        ({"instance": {"domain": "x.org"}, "server": {"host": "not a host!"}}, "server.host"),
        (
            {"instance": {"domain": "x.org"}, "server": {"header_timeout_seconds": 0.5}},
            "server.header_timeout_seconds must be between 1 and 3600, got 0.5",
        ),
        (
            {"instance": {"domain": "x.org"}, "server": {"body_timeout_seconds": "30"}},
            "server.body_timeout_seconds must be a number of seconds",
        ),
        (
            {"instance": {"domain": "x.org"}, "server": {"body_timeout_seconds": True}},
            "server.body_timeout_seconds must be a number of seconds",
        ),
        (
            {"instance": {"domain": "x.org"}, "server": {"body_timeout_seconds": float("nan")}},
            "server.body_timeout_seconds must be between",
        ),
        (
            {"instance": {"domain": "x.org"}, "database": {"url": "mysql://x"}},
            "database.url must start",
        ),
        (
            {"instance": {"domain": "x.org"}, "database": {"schema": "x"}},
            "only supported with PostgreSQL",
        ),
        (
            {"instance": {"domain": "x.org"}, "logging": {"level": "loud"}},
            "logging.level must be one of",
        ),
        (
            {"instance": {"domain": "x.org"}, "federation": {"allow_private_addresses": "yes"}},
            "federation.allow_private_addresses must be true or false",
        ),
        (
            {"instance": {"domain": "x.org"}, "federation": {"blocked_domains": [1]}},
            "federation.blocked_domains",
        ),
        (
            {"instance": {"domain": "x.org"}, "limits": {"inbox_per_host": -1}},
            "limits.inbox_per_host must be between 0 and",
        ),
        (
            {"instance": {"domain": "x.org"}, "limits": {"sign_in_per_account_seconds": 0}},
            "limits.sign_in_per_account_seconds must be between 1 and",
        ),
        (
            {"instance": {"domain": "x.org"}, "limits": {"client_address_header": "X Real"}},
            "limits.client_address_header must be an HTTP header name",
        ),
        (
            {"instance": {"domain": "x.org"}, "limits": {"api_writes": 5}},
            "unknown key limits.api_writes",
        ),
        ({"instance": {"domain": "x.org", "colour": "red"}}, "unknown key instance.colour"),
        ({"instance": {"domain": "x.org"}, "extra": {}}, "unknown section [extra]"),
        ({"instance": "x.org"}, "[instance] must be a table"),
    ],
)
def test_invalid_config_names_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert message in str(info.value)


def test_timeouts_take_integers_and_decimals() -> None:
    cfg = parse_config(
        {
            "instance": {"domain": "x.org"},
            "server": {"header_timeout_seconds": 5, "body_timeout_seconds": 12.5},
        }
    )
    assert cfg.server.header_timeout_seconds == 5.0
    assert isinstance(cfg.server.header_timeout_seconds, float)
    assert cfg.server.body_timeout_seconds == 12.5


def test_missing_file_suggests_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="verbund init"):
        load_config(tmp_path / "nope.toml")


def test_invalid_toml_is_reported_with_path(tmp_path: Path) -> None:
    path = tmp_path / "v.toml"
    path.write_text("[instance\ndomain=", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_rendered_config_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "v.toml"
    path.write_text(
        render_config(
            domain="localhost:8080",
            scheme="http",
            host="0.0.0.0",
            port=9000,
            database_url='sqlite+aiosqlite:///a "b".db',
            allow_private_addresses=True,
        ),
        encoding="utf-8",
    )
    cfg = load_config(path)
    assert cfg.server.port == 9000 and cfg.server.host == "0.0.0.0"
    # A relative SQLite path is relative to the config file's folder.
    assert cfg.database.url == f'sqlite+aiosqlite:///{tmp_path.resolve().as_posix()}/a "b".db'
    assert cfg.federation.allow_private_addresses is True


def test_example_config_is_valid_and_documents_every_key() -> None:
    example = Path(__file__).parents[2] / "config.example.toml"
    cfg = load_config(example)
    text = example.read_text(encoding="utf-8")
    for section, obj in (
        ("instance", cfg.instance),
        ("server", cfg.server),
        ("database", cfg.database),
        ("federation", cfg.federation),
        ("limits", cfg.limits),
        ("logging", cfg.logging),
    ):
        assert f"[{section}]" in text
        for name in obj.__slots__:
            assert f"\n{name} =" in text or f"\n# {name} =" in text, (
                f"{section}.{name} undocumented"
            )


def test_relative_sqlite_urls_resolve_against_the_config_folder(tmp_path: Path) -> None:
    folder = tmp_path / "site"
    assert resolve_sqlite_url("sqlite+aiosqlite:///v.db", folder) == (
        f"sqlite+aiosqlite:///{folder.resolve().as_posix()}/v.db"
    )
    assert resolve_sqlite_url("sqlite+aiosqlite:///data/v.db?timeout=5", folder) == (
        f"sqlite+aiosqlite:///{folder.resolve().as_posix()}/data/v.db?timeout=5"
    )
    for unchanged in (
        "sqlite+aiosqlite:////srv/v.db",
        "sqlite+aiosqlite:///:memory:",
        "sqlite+aiosqlite://",
        "postgresql+asyncpg://u@h/db",
    ):
        assert resolve_sqlite_url(unchanged, folder) == unchanged


def test_worker_tuning_comes_from_the_worker_section() -> None:
    cfg = parse_config({"instance": {"domain": "social.example.org"}})
    assert cfg.worker == WorkerConfig()
    assert (cfg.worker.concurrency, cfg.worker.batch_size) == (128, 256)
    cfg = parse_config(
        {
            "instance": {"domain": "social.example.org"},
            "worker": {
                "concurrency": 16,
                "per_host_limit": 2,
                "batch_size": 32,
                "lock_seconds": 60,
                "post_timeout": 5,
                "idle_seconds": 0.5,
                "signer_process": False,
            },
        }
    )
    assert cfg.worker == WorkerConfig(
        concurrency=16,
        per_host_limit=2,
        batch_size=32,
        lock_seconds=60.0,
        post_timeout=5.0,
        idle_seconds=0.5,
        signer_process=False,
    )


@pytest.mark.parametrize(
    ("worker", "message"),
    [
        ({"concurrency": 0}, "worker.concurrency must be between 1 and"),
        ({"batch_size": "many"}, "worker.batch_size must be an integer"),
        ({"lock_seconds": 10, "post_timeout": 10}, "worker.lock_seconds (10) must be at least"),
        ({"lock_seconds": 20}, "worker.lock_seconds (20) must be at least"),
        ({"threads": 4}, "unknown key worker.threads"),
    ],
)
def test_worker_section_errors_name_the_key(worker: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"instance": {"domain": "social.example.org"}, "worker": worker})
    assert message in str(error.value)


def test_example_config_documents_the_worker_section() -> None:
    example = Path(__file__).parents[2] / "config.example.toml"
    cfg = load_config(example)
    text = example.read_text(encoding="utf-8")
    assert "[worker]" in text
    for name in cfg.worker.__slots__:
        assert f"\n{name} =" in text or f"\n# {name} =" in text, f"worker.{name} undocumented"
    assert cfg.worker == WorkerConfig()


def _worker_site(tmp_path: Path, worker: str) -> Path:
    path = tmp_path / "verbund.toml"
    path.write_text(
        render_config(
            domain="localhost:8080",
            scheme="http",
            host="127.0.0.1",
            port=8080,
            database_url="sqlite+aiosqlite:///verbund.db",
            allow_private_addresses=False,
        )
        + "\n[worker]\n"
        + worker,
        encoding="utf-8",
    )
    return path


def test_verbund_worker_takes_the_worker_section_and_flags_override_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[WorkerConfig] = []

    async def fake_run(config: Config, options: WorkerConfig | None = None) -> None:
        assert options is not None
        started.append(options)

    monkeypatch.setattr(deliveries, "run_worker_process", fake_run)
    path = _worker_site(tmp_path, "concurrency = 8\nbatch_size = 16\nsigner_process = false\n")
    assert cli.main(["worker", "--config", str(path), "--batch-size", "4"]) == 0
    assert started == [WorkerConfig(concurrency=8, batch_size=4, signer_process=False)]


def test_verbund_worker_refuses_a_timeout_that_the_configured_claims_do_not_cover(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _worker_site(tmp_path, "lock_seconds = 30\n")
    with pytest.raises(SystemExit) as usage:
        cli.main(["worker", "--config", str(path), "--timeout", "20"])
    assert usage.value.code == 2
    assert "--lock-seconds (30) must be at least" in capsys.readouterr().err


def test_contacts_defaults_and_bounds_name_the_key() -> None:
    cfg = parse_config({"instance": {"domain": "social.example.org"}})
    assert cfg.contacts.message_limit == 500
    assert cfg.contacts.expire_after == 30 * 86400
    assert cfg.contacts.per_person_per_day == 20
    cfg = parse_config(
        {
            "instance": {"domain": "social.example.org"},
            "contacts": {"message_limit": 1000, "expire_after": 3600, "per_person_per_day": 5},
        }
    )
    assert (cfg.contacts.message_limit, cfg.contacts.expire_after) == (1000, 3600)
    for key, value in (("message_limit", 0), ("expire_after", 10), ("per_person_per_day", 0)):
        with pytest.raises(ConfigError, match=rf"contacts\.{key} must be"):
            parse_config({"instance": {"domain": "a.example"}, "contacts": {key: value}})
    with pytest.raises(ConfigError, match=r"unknown key contacts\.limit"):
        parse_config({"instance": {"domain": "a.example"}, "contacts": {"limit": 1}})


def test_relay_section_names_subscriber_domains(tmp_path: Path) -> None:
    path = tmp_path / "verbund.toml"
    path.write_text(
        '[instance]\ndomain = "relay.example"\n'
        '[relay]\nserve = true\nsubscribers = ["A.example", "b.example:8443", "relay.example"]\n',
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.relay.serve is True
    assert config.relay.subscribers == ("a.example", "b.example:8443")
    path.write_text(
        '[instance]\ndomain = "relay.example"\n[relay]\nsubscribers = ["https://x/"]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"relay\.subscribers must hold instance domains"):
        load_config(path)
