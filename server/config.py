"""Typed configuration: TOML → frozen dataclasses, validated once at start-up.

Every error names the offending key, so an operator can fix the file without
reading code. Values reach other packages as arguments, never as globals.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actors.visitors import VisitorPolicy
from outbox.delivery import DeliveryTuning

ENV_VAR = "VERBUND_CONFIG"
DEFAULT_PATH = "verbund.toml"
LOG_LEVELS = ("debug", "info", "warning", "error")
_DOMAIN_RE = re.compile(
    r"^(?=.{1,253}(:|$))([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
    r"(:[0-9]{1,5})?$"
)
_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_MIB = 1_048_576
_DAY = 86_400


class ConfigError(Exception):
    """The configuration is missing, unreadable or invalid; the message names the key."""


@dataclass(frozen=True, slots=True)
class InstanceConfig:
    domain: str
    scheme: str = "https"
    name: str = "Verbund"
    description: str = ""
    open_registrations: bool = False
    # The longest post (source text, in characters) the CLI and the API accept.
    max_post_chars: int = 5000

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.domain}"

    @property
    def host(self) -> str:
        """The host part of our `acct:` handles: the whole domain, port included
        (`alice@localhost:8080`), as Mastodon with `LOCAL_DOMAIN=localhost:3000` does."""
        return self.domain

    @property
    def hostname(self) -> str:
        """The domain without a port: for DNS and address checks, never for handles."""
        return self.domain.rsplit(":", 1)[0] if ":" in self.domain else self.domain


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    run_worker: bool = True
    # Process stored inbox activities in this process; false leaves them to `verbund
    # worker` processes, so that this one only accepts (see WorkerConfig.process_inbox).
    process_inbox: bool = True
    # Seconds a request's line and headers may take to arrive: from the connection's
    # start, or from the first byte of a later request on a kept-alive connection.
    header_timeout_seconds: float = 10.0
    # Seconds a request's whole body may take to arrive after its headers.
    body_timeout_seconds: float = 30.0
    # One log line per request (logger "verbund.access").
    access_log: bool = True


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    url: str = "sqlite+aiosqlite:///verbund.db"
    schema: str = ""
    pool_size: int = 10


@dataclass(frozen=True, slots=True)
class FederationConfig:
    allow_private_addresses: bool = False
    authorized_fetch: bool = False
    blocked_domains: tuple[str, ...] = ()
    max_inbox_bytes: int = _MIB
    key_cache_seconds: int = _DAY
    key_failure_cache_seconds: int = 60


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    """Rate limits: each `<name>` events per `<name>_seconds`, in bursts of up to `<name>`;
    0 switches a limit off. Counted per `verbund serve` process."""

    inbox_per_host: int = 3000
    inbox_per_host_seconds: int = 60
    inbox_per_actor: int = 600
    inbox_per_actor_seconds: int = 60
    follows_per_host: int = 300
    follows_per_host_seconds: int = 300
    sign_in_per_account: int = 10
    sign_in_per_account_seconds: int = 1800
    sign_in_per_address: int = 30
    sign_in_per_address_seconds: int = 300
    api_writes_per_token: int = 300
    api_writes_per_token_seconds: int = 300
    client_address_header: str = ""


def _has_second_core() -> bool:
    return (os.cpu_count() or 1) > 1


def lock_seconds_problem(lock_seconds: float, post_timeout: float) -> str | None:
    """Why `lock_seconds` is too short for `post_timeout`, or None: a claim must outlast
    the attempt it covers (two requests, a double knock, plus 2 s). The caller puts the
    name of the setting in front (`worker.lock_seconds`, `--lock-seconds`)."""
    shortest = 2 * post_timeout + 2
    if lock_seconds >= shortest:
        return None
    return (
        f"({lock_seconds:g}) must be at least two request timeouts plus 2 s ({shortest:g}): "
        "a claim must outlast the attempt it covers"
    )


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """Tuning of one delivery worker, inside `verbund serve` or alone as `verbund worker`
    (whose flags override these); the defaults suit one small machine.

    `lock_seconds` is how long a claim holds: a worker that dies leaves its claims for
    that long before others send them (see `lock_seconds_problem`).
    """

    concurrency: int = DeliveryTuning.concurrency
    per_host_limit: int = DeliveryTuning.per_host_limit
    batch_size: int = DeliveryTuning.batch_size
    lock_seconds: float = DeliveryTuning.lock_seconds
    post_timeout: float = DeliveryTuning.post_timeout
    idle_seconds: float = DeliveryTuning.idle_seconds
    # Sign in a child process when there is a second core (see outbox.signer).
    signer_process: bool = field(default_factory=_has_second_core)
    # `verbund worker` also processes stored inbox activities (claimed by lease, so any
    # number of processes share them), looking for new ones every inbox_poll_seconds.
    process_inbox: bool = True
    inbox_poll_seconds: float = 0.25

    def __post_init__(self) -> None:
        problem = lock_seconds_problem(self.lock_seconds, self.post_timeout)
        if problem is not None:
            raise ValueError(f"lock_seconds {problem}")


@dataclass(frozen=True, slots=True)
class DirectoryConfig:
    """The directory (issue 13): which peers' directories we read, who may read ours,
    how often, and what a misbehaving peer may cost us per sync."""

    peers: tuple[str, ...] = ()
    share_with: str = "everyone"  # or "peers": only instances on `peers` read ours
    sync_interval: float = 3600
    full_sync_interval: float = _DAY
    drop_after: float = 7 * _DAY
    max_entries_per_peer: int = 20_000
    max_page_bytes: int = _MIB
    max_pages: int = 500
    sync_timeout: float = 120
    page_size: int = 100
    # The instances of our actors' confirmed organisation links are peers too (issue 15),
    # both ways: we read theirs, and they may read ours under `share_with = "peers"`.
    link_peers: bool = True
    # Seconds between refreshes of the network trees of confirmed branches.
    tree_interval: float = 3600


@dataclass(frozen=True, slots=True)
class MailConfig:
    """The operator's SMTP server, through which the instance sends e-mail (visitors'
    contact requests). Present only when `[mail]` names a `host`."""

    host: str
    sender: str  # the `from` key: the From address of every mail
    port: int = 587
    username: str = ""
    password: str = ""
    starttls: bool = True  # upgrade the connection with STARTTLS (port 587)
    tls: bool = False  # TLS from the first byte (port 465)
    reply_to: str = ""  # Reply-To of answers to visitors; empty: replies go to `from`
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class ContactsConfig:
    """Named contact requests (issue 14): how long a message may be, how long a request
    waits for a decision (seconds), how many requests one person may send per day."""

    message_limit: int = 500
    expire_after: float = 30 * _DAY
    per_person_per_day: int = 20
    # An anonymous request's Follow and message wait a random 0 … this many seconds, so
    # their arrival does not follow the moment the real actor acted (0: at once).
    alias_delay_seconds: float = 120
    # A declined or expired alias still knows its real actor this many seconds, so that
    # a report (`Flag`) of it that arrives after the Reject names the real actor.
    report_window: float = 14 * _DAY


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """Acting as a relay (FEP-ae0c) for the instances in `subscribers` (domains as in
    `instance.domain`): their instance actors may subscribe, and their public posts are
    announced to the other subscribers. Off unless `serve`."""

    serve: bool = False
    subscribers: tuple[str, ...] = ()


REGISTRATION_MODES = ("invite", "approval", "closed")


@dataclass(frozen=True, slots=True)
class RegistrationsConfig:
    """Who may sign up on the web pages (issue 16): `invite` (only with an invitation
    link from staff or the operator), `approval` (anyone may ask, the operator approves;
    invitations still let people in at once) or `closed` (nobody, invitations neither)."""

    mode: str = "invite"


@dataclass(frozen=True, slots=True)
class MediaConfig:
    """Uploaded images (`server.media`): the folder they are kept in (empty: `media` next
    to the SQLite database file, else `var/media` beside the config file), the largest
    upload accepted in bytes, and the longest edge in pixels an image is scaled down to."""

    path: str = ""
    max_bytes: int = 10 * _MIB
    max_pixels: int = 2048


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: str = "info"


@dataclass(frozen=True, slots=True)
class Config:
    instance: InstanceConfig
    server: ServerConfig = field(default_factory=ServerConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    federation: FederationConfig = field(default_factory=FederationConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    directory: DirectoryConfig = field(default_factory=DirectoryConfig)
    mail: MailConfig | None = None
    visitors: VisitorPolicy = field(default_factory=VisitorPolicy)

    contacts: ContactsConfig = field(default_factory=ContactsConfig)
    relay: RelayConfig = field(default_factory=RelayConfig)
    registrations: RegistrationsConfig = field(default_factory=RegistrationsConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    path: Path | None = None


def resolve_path(explicit: str | None) -> Path:
    """`--config` wins, then `$VERBUND_CONFIG`, then ./verbund.toml."""
    return Path(explicit or os.environ.get(ENV_VAR) or DEFAULT_PATH)


def load_config(path: Path) -> Config:
    """Read and validate a config file; raise ConfigError naming the problem."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found (create one with `verbund init --config {path}`)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, path=path)


class _Section:
    """Typed reads from one TOML table, recording which keys were consumed."""

    def __init__(self, data: dict[str, Any], name: str) -> None:
        raw = data.get(name, {})
        if not isinstance(raw, dict):
            raise ConfigError(f"[{name}] must be a table")
        self.raw: dict[str, Any] = raw
        self.name = name
        self.seen: set[str] = set()

    def _get(self, key: str, default: object, kind: type | tuple[type, ...], kind_name: str) -> Any:
        self.seen.add(key)
        if key not in self.raw:
            if default is _REQUIRED:
                raise ConfigError(f"{self.name}.{key} is required")
            return default
        value = self.raw[key]
        # bool is a subclass of int: refuse `port = true`.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"{self.name}.{key} must be {kind_name}, got {value!r}")
        return value

    def get_str(self, key: str, default: object = None) -> str:
        value: str = self._get(key, default, str, "a string")
        return value

    def get_bool(self, key: str, default: bool) -> bool:
        value: bool = self._get(key, default, bool, "true or false")
        return value

    def get_int(self, key: str, default: int, *, low: int, high: int) -> int:
        value: int = self._get(key, default, int, "an integer")
        if not low <= value <= high:
            raise ConfigError(f"{self.name}.{key} must be between {low} and {high}, got {value}")
        return value

    def get_seconds(self, key: str, default: float, *, low: float, high: float) -> float:
        """A duration: an integer or a float, in [low, high]."""
        value = self._get(key, default, (int, float), "a number of seconds")
        if isinstance(value, bool):
            raise ConfigError(f"{self.name}.{key} must be a number of seconds, got {value!r}")
        if not low <= value <= high:
            raise ConfigError(f"{self.name}.{key} must be between {low} and {high}, got {value}")
        return float(value)

    def get_str_list(self, key: str) -> tuple[str, ...]:
        value = self._get(key, [], list, "a list of strings")
        if not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{self.name}.{key} must be a list of strings")
        return tuple(value)

    def finish(self) -> None:
        unknown = sorted(set(self.raw) - self.seen)
        if unknown:
            raise ConfigError(f"unknown key {self.name}.{unknown[0]}")


_REQUIRED = object()


def parse_config(data: dict[str, Any], *, path: Path | None = None) -> Config:
    """Validate a parsed TOML document into a Config."""
    unknown = sorted(
        set(data)
        - {
            "instance",
            "server",
            "database",
            "federation",
            "limits",
            "worker",
            "logging",
            "directory",
            "mail",
            "visitors",
            "contacts",
            "relay",
            "registrations",
            "media",
        }
    )
    if unknown:
        raise ConfigError(f"unknown section [{unknown[0]}]")

    inst = _Section(data, "instance")
    domain = inst.get_str("domain", _REQUIRED).strip().lower()
    if not _DOMAIN_RE.match(domain):
        raise ConfigError(
            f"instance.domain must be a host name with an optional port "
            f"(like social.example.org or localhost:8080), got {domain!r}"
        )
    d_inst = InstanceConfig(domain=domain)
    scheme = inst.get_str("scheme", d_inst.scheme)
    if scheme not in ("https", "http"):
        raise ConfigError(f"instance.scheme must be 'https' or 'http', got {scheme!r}")
    _, colon, port = domain.partition(":")
    if colon and not 0 < int(port) <= 65535:
        raise ConfigError(f"instance.domain has a port out of range: {domain!r}")
    if colon and int(port) == {"https": 443, "http": 80}[scheme]:
        # Peers drop a default port from the acct they build from our actor ids.
        raise ConfigError(
            f"instance.domain must not name the default port of {scheme}: "
            f"use {domain.partition(':')[0]!r}"
        )
    instance = InstanceConfig(
        domain=domain,
        scheme=scheme,
        name=inst.get_str("name", d_inst.name),
        description=inst.get_str("description", d_inst.description),
        open_registrations=inst.get_bool("open_registrations", d_inst.open_registrations),
        # 100 000: outbox.posts.MAX_TEXT, what any post may hold.
        max_post_chars=inst.get_int("max_post_chars", d_inst.max_post_chars, low=1, high=100_000),
    )
    inst.finish()

    srv = _Section(data, "server")
    d_srv = ServerConfig()
    host = srv.get_str("host", d_srv.host)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _DOMAIN_RE.match(host):
            raise ConfigError(
                f"server.host must be an IP address or host name, got {host!r}"
            ) from None
    server = ServerConfig(
        host=host,
        port=srv.get_int("port", d_srv.port, low=0, high=65535),
        run_worker=srv.get_bool("run_worker", d_srv.run_worker),
        process_inbox=srv.get_bool("process_inbox", d_srv.process_inbox),
        header_timeout_seconds=srv.get_seconds(
            "header_timeout_seconds", d_srv.header_timeout_seconds, low=1, high=3600
        ),
        body_timeout_seconds=srv.get_seconds(
            "body_timeout_seconds", d_srv.body_timeout_seconds, low=1, high=3600
        ),
        access_log=srv.get_bool("access_log", d_srv.access_log),
    )
    srv.finish()

    db = _Section(data, "database")
    d_db = DatabaseConfig()
    url = db.get_str("url", d_db.url)
    if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ConfigError(
            "database.url must start with sqlite+aiosqlite:// or postgresql+asyncpg://, "
            f"got {url.split(':', 1)[0]!r}"
        )
    schema = db.get_str("schema", d_db.schema)
    if schema and not _SCHEMA_RE.match(schema):
        raise ConfigError(f"database.schema must be a plain lower-case identifier, got {schema!r}")
    if schema and not url.startswith("postgresql"):
        raise ConfigError("database.schema is only supported with PostgreSQL")
    if path is not None:
        url = resolve_sqlite_url(url, path.parent)
    database = DatabaseConfig(
        url=url, schema=schema, pool_size=db.get_int("pool_size", d_db.pool_size, low=1, high=200)
    )
    db.finish()

    fed = _Section(data, "federation")
    d_fed = FederationConfig()
    federation = FederationConfig(
        allow_private_addresses=fed.get_bool(
            "allow_private_addresses", d_fed.allow_private_addresses
        ),
        authorized_fetch=fed.get_bool("authorized_fetch", d_fed.authorized_fetch),
        blocked_domains=tuple(d.strip().lower() for d in fed.get_str_list("blocked_domains")),
        max_inbox_bytes=fed.get_int(
            "max_inbox_bytes", d_fed.max_inbox_bytes, low=1024, high=64 * _MIB
        ),
        key_cache_seconds=fed.get_int(
            "key_cache_seconds", d_fed.key_cache_seconds, low=0, high=30 * _DAY
        ),
        key_failure_cache_seconds=fed.get_int(
            "key_failure_cache_seconds", d_fed.key_failure_cache_seconds, low=0, high=_DAY
        ),
    )
    fed.finish()

    limits = _parse_limits(_Section(data, "limits"))
    worker = _parse_worker(_Section(data, "worker"))

    log = _Section(data, "logging")
    level = log.get_str("level", LoggingConfig().level).lower()
    if level not in LOG_LEVELS:
        raise ConfigError(f"logging.level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    log.finish()

    if (
        instance.scheme == "http"
        and not federation.allow_private_addresses
        and not _is_local(instance.hostname)
    ):
        raise ConfigError(
            "instance.scheme = 'http' is for development only: use it with a local domain "
            "(localhost, *.test, *.localhost) or set federation.allow_private_addresses = true"
        )
    return Config(
        instance=instance,
        server=server,
        database=database,
        federation=federation,
        limits=limits,
        worker=worker,
        logging=LoggingConfig(level=level),
        directory=_parse_directory(_Section(data, "directory"), own_domain=instance.domain),
        mail=_parse_mail(_Section(data, "mail"), base=path.parent if path else None),
        visitors=_parse_visitors(_Section(data, "visitors")),
        contacts=_parse_contacts(_Section(data, "contacts")),
        relay=_parse_relay(_Section(data, "relay"), own_domain=instance.domain),
        registrations=_parse_registrations(_Section(data, "registrations")),
        media=_parse_media(_Section(data, "media"), base=path.parent if path else None),
        path=path,
    )


def _parse_media(sec: _Section, *, base: Path | None) -> MediaConfig:
    """A relative `path` is taken from the config file's folder."""
    d = MediaConfig()
    folder = sec.get_str("path", d.path).strip()
    if folder and base is not None and not Path(folder).is_absolute():
        folder = (base.resolve() / folder).as_posix()
    media = MediaConfig(
        path=folder,
        max_bytes=sec.get_int("max_bytes", d.max_bytes, low=1024, high=200 * _MIB),
        max_pixels=sec.get_int("max_pixels", d.max_pixels, low=16, high=16_384),
    )
    sec.finish()
    return media


_MAX_LIMIT = 1_000_000
_MAX_LIMIT_SECONDS = 7 * _DAY
_HEADER_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def _parse_limits(sec: _Section) -> LimitsConfig:
    """Every count in 0 (off) … 1 000 000, every period in 1 s … one week."""
    d = LimitsConfig()

    def count(key: str, default: int) -> int:
        return sec.get_int(key, default, low=0, high=_MAX_LIMIT)

    def seconds(key: str, default: int) -> int:
        return sec.get_int(key, default, low=1, high=_MAX_LIMIT_SECONDS)

    header = sec.get_str("client_address_header", d.client_address_header).strip()
    if header and not _HEADER_RE.match(header):
        raise ConfigError(
            f"limits.client_address_header must be an HTTP header name, got {header!r}"
        )
    limits = LimitsConfig(
        inbox_per_host=count("inbox_per_host", d.inbox_per_host),
        inbox_per_host_seconds=seconds("inbox_per_host_seconds", d.inbox_per_host_seconds),
        inbox_per_actor=count("inbox_per_actor", d.inbox_per_actor),
        inbox_per_actor_seconds=seconds("inbox_per_actor_seconds", d.inbox_per_actor_seconds),
        follows_per_host=count("follows_per_host", d.follows_per_host),
        follows_per_host_seconds=seconds("follows_per_host_seconds", d.follows_per_host_seconds),
        sign_in_per_account=count("sign_in_per_account", d.sign_in_per_account),
        sign_in_per_account_seconds=seconds(
            "sign_in_per_account_seconds", d.sign_in_per_account_seconds
        ),
        sign_in_per_address=count("sign_in_per_address", d.sign_in_per_address),
        sign_in_per_address_seconds=seconds(
            "sign_in_per_address_seconds", d.sign_in_per_address_seconds
        ),
        api_writes_per_token=count("api_writes_per_token", d.api_writes_per_token),
        api_writes_per_token_seconds=seconds(
            "api_writes_per_token_seconds", d.api_writes_per_token_seconds
        ),
        client_address_header=header,
    )
    sec.finish()
    return limits


def _parse_worker(sec: _Section) -> WorkerConfig:
    """Counts from 1, durations in seconds; a claim must outlast the attempt it covers."""
    d = WorkerConfig()
    lock_seconds = sec.get_seconds("lock_seconds", d.lock_seconds, low=1, high=_DAY)
    post_timeout = sec.get_seconds("post_timeout", d.post_timeout, low=1, high=600)
    problem = lock_seconds_problem(lock_seconds, post_timeout)
    if problem is not None:
        raise ConfigError(f"worker.lock_seconds {problem}")
    worker = WorkerConfig(
        concurrency=sec.get_int("concurrency", d.concurrency, low=1, high=10_000),
        per_host_limit=sec.get_int("per_host_limit", d.per_host_limit, low=1, high=1000),
        batch_size=sec.get_int("batch_size", d.batch_size, low=1, high=10_000),
        lock_seconds=lock_seconds,
        post_timeout=post_timeout,
        idle_seconds=sec.get_seconds("idle_seconds", d.idle_seconds, low=0.01, high=3600),
        signer_process=sec.get_bool("signer_process", d.signer_process),
        process_inbox=sec.get_bool("process_inbox", d.process_inbox),
        inbox_poll_seconds=sec.get_seconds(
            "inbox_poll_seconds", d.inbox_poll_seconds, low=0.01, high=60
        ),
    )
    sec.finish()
    return worker


def _parse_directory(sec: _Section, *, own_domain: str) -> DirectoryConfig:
    """Peers are instance domains as in `instance.domain` (`host` or `host:port`)."""
    d = DirectoryConfig()
    peers: list[str] = []
    for raw in sec.get_str_list("peers"):
        peer = raw.strip().lower()
        if not _DOMAIN_RE.match(peer):
            raise ConfigError(
                f"directory.peers must hold instance domains (host or host:port), got {raw!r}"
            )
        if peer != own_domain and peer not in peers:
            peers.append(peer)
    share_with = sec.get_str("share_with", d.share_with)
    if share_with not in ("everyone", "peers"):
        raise ConfigError(f"directory.share_with must be 'everyone' or 'peers', got {share_with!r}")
    directory = DirectoryConfig(
        peers=tuple(peers),
        share_with=share_with,
        sync_interval=sec.get_seconds("sync_interval", d.sync_interval, low=10, high=7 * _DAY),
        full_sync_interval=sec.get_seconds(
            "full_sync_interval", d.full_sync_interval, low=60, high=30 * _DAY
        ),
        drop_after=sec.get_seconds("drop_after", d.drop_after, low=60, high=365 * _DAY),
        max_entries_per_peer=sec.get_int(
            "max_entries_per_peer", d.max_entries_per_peer, low=1, high=10_000_000
        ),
        max_page_bytes=sec.get_int("max_page_bytes", d.max_page_bytes, low=1024, high=64 * _MIB),
        max_pages=sec.get_int("max_pages", d.max_pages, low=1, high=100_000),
        sync_timeout=sec.get_seconds("sync_timeout", d.sync_timeout, low=1, high=3600),
        page_size=sec.get_int("page_size", d.page_size, low=1, high=1000),
        link_peers=sec.get_bool("link_peers", d.link_peers),
        tree_interval=sec.get_seconds("tree_interval", d.tree_interval, low=10, high=7 * _DAY),
    )
    sec.finish()
    return directory


# An address for a header: no spaces, commas, angle brackets or line breaks.
_ADDRESS_RE = re.compile(r"^[^\s@<>,;\"]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$")


_MAIL_KEYS = frozenset(
    {"port", "username", "password", "password_file", "starttls", "tls", "from", "reply_to"}
    | {"timeout"}
)


def _parse_mail(sec: _Section, *, base: Path | None) -> MailConfig | None:
    """None without `host`: then the instance sends no mail and says so where it would."""
    host = sec.get_str("host", "").strip()
    if not host:
        given = sorted(set(sec.raw) & _MAIL_KEYS)
        if given:
            raise ConfigError(f"mail.{given[0]} is set but mail.host is not")
        sec.finish()
        return None
    if not _DOMAIN_RE.match(host.lower()):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ConfigError(
                f"mail.host must be a host name or IP address, got {host!r}"
            ) from None
    sender = sec.get_str("from", _REQUIRED).strip()
    if not _ADDRESS_RE.match(sender):
        raise ConfigError(f"mail.from must be a plain e-mail address, got {sender!r}")
    reply_to = sec.get_str("reply_to", "").strip()
    if reply_to and not _ADDRESS_RE.match(reply_to):
        raise ConfigError(f"mail.reply_to must be a plain e-mail address, got {reply_to!r}")
    password = sec.get_str("password", "")
    password_file = sec.get_str("password_file", "")
    if password and password_file:
        raise ConfigError("mail.password and mail.password_file: set one of them")
    if password_file:
        file = Path(password_file)
        if base is not None and not file.is_absolute():
            file = base / file
        try:
            password = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"mail.password_file: cannot read {file}: {exc.strerror}") from None
    d = MailConfig(host=host, sender=sender)
    starttls = sec.get_bool("starttls", d.starttls)
    tls = sec.get_bool("tls", d.tls)
    if starttls and tls:
        raise ConfigError("mail.starttls and mail.tls: set at most one of them to true")
    mail = MailConfig(
        host=host,
        sender=sender,
        port=sec.get_int("port", d.port, low=1, high=65535),
        username=sec.get_str("username", d.username),
        password=password,
        starttls=starttls,
        tls=tls,
        reply_to=reply_to,
        timeout=sec.get_seconds("timeout", d.timeout, low=1, high=600),
    )
    sec.finish()
    return mail


def _parse_visitors(sec: _Section) -> VisitorPolicy:
    """Counts 0 (no submissions at all) … 1 000 000, durations in seconds or hours."""
    d = VisitorPolicy()
    policy = VisitorPolicy(
        per_address_per_day=sec.get_int(
            "per_address_per_day", d.per_address_per_day, low=0, high=_MAX_LIMIT
        ),
        per_ip_per_day=sec.get_int("per_ip_per_day", d.per_ip_per_day, low=0, high=_MAX_LIMIT),
        min_form_seconds=sec.get_seconds("min_form_seconds", d.min_form_seconds, low=0, high=3600),
        keep_seconds=sec.get_seconds("keep_seconds", d.keep_seconds, low=3600, high=3650 * _DAY),
        verify_hours=sec.get_seconds("verify_hours", d.verify_hours, low=1, high=24 * 30),
    )
    sec.finish()
    return policy


def _parse_contacts(sec: _Section) -> ContactsConfig:
    d = ContactsConfig()
    contacts = ContactsConfig(
        message_limit=sec.get_int("message_limit", d.message_limit, low=1, high=5000),
        expire_after=sec.get_seconds("expire_after", d.expire_after, low=60, high=365 * _DAY),
        per_person_per_day=sec.get_int(
            "per_person_per_day", d.per_person_per_day, low=1, high=100_000
        ),
        alias_delay_seconds=sec.get_seconds(
            "alias_delay_seconds", d.alias_delay_seconds, low=0, high=_DAY
        ),
        report_window=sec.get_seconds("report_window", d.report_window, low=0, high=365 * _DAY),
    )
    sec.finish()
    return contacts


def _parse_registrations(sec: _Section) -> RegistrationsConfig:
    mode = sec.get_str("mode", RegistrationsConfig().mode)
    if mode not in REGISTRATION_MODES:
        raise ConfigError(
            f"registrations.mode must be one of {', '.join(REGISTRATION_MODES)}, got {mode!r}"
        )
    sec.finish()
    return RegistrationsConfig(mode=mode)


def _parse_relay(sec: _Section, *, own_domain: str) -> RelayConfig:
    subscribers: list[str] = []
    for raw in sec.get_str_list("subscribers"):
        domain = raw.strip().lower()
        if not _DOMAIN_RE.match(domain):
            raise ConfigError(
                f"relay.subscribers must hold instance domains (host or host:port), got {raw!r}"
            )
        if domain != own_domain and domain not in subscribers:
            subscribers.append(domain)
    relay = RelayConfig(serve=sec.get_bool("serve", False), subscribers=tuple(subscribers))
    sec.finish()
    return relay


_SQLITE_PREFIX = "sqlite+aiosqlite:///"


def resolve_sqlite_url(url: str, folder: Path) -> str:
    """A SQLite URL whose relative file path (`sqlite+aiosqlite:///verbund.db`) is made
    absolute against `folder`, the config file's folder, so that the database does not
    depend on the directory a command is run from. Absolute paths (four slashes),
    `:memory:` and other URLs are returned unchanged."""
    if not url.startswith(_SQLITE_PREFIX):
        return url
    rest = url[len(_SQLITE_PREFIX) :]
    file, sep, query = rest.partition("?")
    if not file or file == ":memory:" or file.startswith("file:") or Path(file).is_absolute():
        return url
    return f"{_SQLITE_PREFIX}{(folder.resolve() / file).as_posix()}{sep}{query}"


def _is_local(host: str) -> bool:
    if host == "localhost" or host.endswith((".localhost", ".test", ".local")):
        return True
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    return addr.is_private or addr.is_loopback


def render_config(
    *,
    domain: str,
    scheme: str,
    host: str,
    port: int,
    database_url: str,
    allow_private_addresses: bool,
) -> str:
    """The TOML that `verbund init` writes: the essentials, documented, the rest defaulted."""

    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return f"""# Verbund configuration, written by `verbund init`.
# Every key is documented in config.example.toml.

[instance]
domain = {q(domain)}
scheme = {q(scheme)}

[server]
host = {q(host)}
port = {port}

[database]
url = {q(database_url)}

[federation]
allow_private_addresses = {str(allow_private_addresses).lower()}

[logging]
level = "info"
"""
