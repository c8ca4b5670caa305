"""Instance settings the operator may change at run time, and the domain blocks and
allow-list of the admin pages (issue 16).

Settings: the config file's `[instance]` values are the defaults; a row in
`instance_settings` overrides one of them. Every `verbund serve` and `verbund worker`
process reads them from the database, never from one process's memory: pages and the
API go through a `SettingsCache` that reads again after `SETTINGS_TTL_SECONDS`, and the
process that saves a change drops its cache at once. What needs a restart (the domain,
the database, listening address, limits, workers) stays in the config file only.

Domain rules: `domain_rules` rows (block, allow) add to `federation.blocked_domains`.
`federation_mode = "allowlist"` (a setting) limits federation to the allow-list's
domains. Each process keeps its one `FederationPolicy` up to date with
`keep_policy_fresh` (every `POLICY_REFRESH_SECONDS`); the process that changes a rule
refreshes its policy at once with `refresh_policy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Final
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actors.models import DomainRule, DomainRuleKind, InstanceSetting
from federation.policy import FederationPolicy, normalise_domains
from server.config import Config

__all__ = [
    "FEDERATION_MODES",
    "POLICY_REFRESH_SECONDS",
    "REGISTRATION_MODES",
    "SETTINGS_TTL_SECONDS",
    "DomainRuleError",
    "InstanceSettings",
    "SettingsCache",
    "SettingsError",
    "add_domain_rule",
    "default_settings",
    "keep_policy_fresh",
    "list_domain_rules",
    "load_settings",
    "normalise_domain",
    "refresh_policy",
    "registration_mode",
    "remove_domain_rule",
    "save_settings",
]

log = logging.getLogger("verbund.settings")

REGISTRATION_MODES: Final = ("invite-only", "approval", "closed")
FEDERATION_MODES: Final = ("open", "allowlist")
SETTINGS_TTL_SECONDS: Final = 2.0  # how stale another process's change may be seen
POLICY_REFRESH_SECONDS: Final = 3.0
MAX_NAME = 100
MAX_DESCRIPTION = 2000
MAX_RULES = 5000
MAX_EMAIL = 254
MAX_REASON = 500
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


class SettingsError(ValueError):
    """A value the settings cannot take; the message says why, `field` which setting."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class DomainRuleError(ValueError):
    """A domain that cannot be blocked or allowed: `code` "invalid" (not a domain name)
    or "own" (this instance's own)."""

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class InstanceSettings:
    """The settings safe to change at run time, as they are now."""

    name: str
    description: str
    contact_email: str
    registration_mode: str  # one of REGISTRATION_MODES
    rules: str  # one rule per line
    default_language: str  # ISO 639 code of new posts, "" = none given
    federation_mode: str  # one of FEDERATION_MODES

    @property
    def rule_list(self) -> list[str]:
        return [line.strip() for line in self.rules.splitlines() if line.strip()]


SETTING_NAMES: Final = tuple(f.name for f in fields(InstanceSettings))


def _configured_registrations(config: Config) -> str:
    """`[registrations] mode` in this module's words; the older `instance.open_registrations
    = true` still means "approval" while `mode` is left at its default."""
    mode = config.registrations.mode
    if mode == "invite":
        return "approval" if config.instance.open_registrations else "invite-only"
    return mode


def default_settings(config: Config) -> InstanceSettings:
    """The config file's values (what a setting is while nobody changed it)."""
    instance = config.instance
    return InstanceSettings(
        name=instance.name,
        description=instance.description,
        contact_email="",
        registration_mode=_configured_registrations(config),
        rules="",
        default_language="",
        federation_mode="open",
    )


def _check(name: str, value: str) -> str:
    """`value` cleaned for setting `name`, or SettingsError."""
    value = value.replace("\r\n", "\n").strip()
    if name == "name":
        if not value or len(value) > MAX_NAME:
            raise SettingsError(f"The name must have 1 to {MAX_NAME} characters.", name)
    elif name == "description" and len(value) > MAX_DESCRIPTION:
        raise SettingsError(f"The description may have at most {MAX_DESCRIPTION} characters.", name)
    elif name == "contact_email" and value and (len(value) > MAX_EMAIL or not _EMAIL.match(value)):
        raise SettingsError("The contact email is not an email address.", name)
    elif name == "registration_mode" and value not in REGISTRATION_MODES:
        raise SettingsError(
            f"The sign-up mode must be one of {', '.join(REGISTRATION_MODES)}.", name
        )
    elif name == "rules" and len(value) > MAX_RULES:
        raise SettingsError(f"The rules may have at most {MAX_RULES} characters.", name)
    elif name == "default_language":
        value = value.lower()
        if value and not _LANGUAGE.match(value):
            raise SettingsError("The default post language must be a language code (de, en).", name)
    elif name == "federation_mode" and value not in FEDERATION_MODES:
        raise SettingsError(
            f"The federation mode must be one of {', '.join(FEDERATION_MODES)}.", name
        )
    return value


async def load_settings(session: AsyncSession, config: Config) -> InstanceSettings:
    """The settings now: the config's values with the stored overrides on top."""
    rows = (await session.execute(select(InstanceSetting.key, InstanceSetting.value))).all()
    stored = {k: v for k, v in rows if k in SETTING_NAMES}
    settings = replace(default_settings(config), **stored)
    if settings.registration_mode not in REGISTRATION_MODES:  # a row from a later version
        settings = replace(settings, registration_mode=default_settings(config).registration_mode)
    if settings.federation_mode not in FEDERATION_MODES:
        settings = replace(settings, federation_mode="open")
    return settings


async def registration_mode(session: AsyncSession, config: Config) -> str:
    """How people may sign up now: "invite-only", "approval" or "closed"."""
    return (await load_settings(session, config)).registration_mode


async def save_settings(
    session: AsyncSession, config: Config, changes: Mapping[str, str], *, now: datetime
) -> InstanceSettings:
    """Store `changes` (setting name → value; all are checked before any is stored) and
    return the settings with them. A value equal to the config's default removes its
    override, so that a later change of the config file shows again. The caller commits."""
    unknown = sorted(set(changes) - set(SETTING_NAMES))
    if unknown:
        raise SettingsError(f"There is no setting {unknown[0]}.", unknown[0])
    cleaned = {name: _check(name, value) for name, value in changes.items()}
    defaults = default_settings(config)
    rows = {r.key: r for r in await session.scalars(select(InstanceSetting))}
    for name, value in cleaned.items():
        row = rows.get(name)
        if value == getattr(defaults, name):
            if row is not None:
                await session.delete(row)
        elif row is None:
            session.add(InstanceSetting(key=name, value=value, updated_at=now))
        elif row.value != value:
            row.value, row.updated_at = value, now
    await session.flush()
    return await load_settings(session, config)


class SettingsCache:
    """One process's view of the settings, read again after `ttl` seconds."""

    def __init__(
        self,
        config: Config,
        *,
        ttl: float = SETTINGS_TTL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._ttl = ttl
        self._monotonic = monotonic
        self._current = default_settings(config)
        self._read_at: float | None = None

    def current(self) -> InstanceSettings:
        """The last settings read (the config's before the first read): for code that
        cannot wait, such as rendering a page's layout."""
        return self._current

    async def get(self, sessionmaker: async_sessionmaker[AsyncSession]) -> InstanceSettings:
        now = self._monotonic()
        if self._read_at is None or now - self._read_at >= self._ttl:
            async with sessionmaker() as session:
                self._current = await load_settings(session, self._config)
            self._read_at = now
        return self._current

    def invalidate(self) -> None:
        """This process changed the settings: the next `get` reads them."""
        self._read_at = None


# --- domain blocks and the allow-list ------------------------------------------------------


def normalise_domain(text: str) -> str:
    """The domain of what the operator typed (`Spam.Example`, `spam.example:8443`,
    `https://spam.example/users/x`), lower-case without port; DomainRuleError if it is
    no domain name."""
    text = text.strip()
    if "/" in text:
        try:
            text = urlsplit(text if "://" in text else f"//{text}").hostname or ""
        except ValueError:
            text = ""
    domain = next(iter(normalise_domains([text])), "")
    labels = domain.split(".")
    if not domain or len(domain) > 253 or not all(_LABEL.match(label) for label in labels):
        raise DomainRuleError(f"{text or 'That'} is not a domain name.")
    return domain


async def list_domain_rules(session: AsyncSession, kind: DomainRuleKind) -> list[DomainRule]:
    return list(
        await session.scalars(
            select(DomainRule).where(DomainRule.kind == kind).order_by(DomainRule.domain)
        )
    )


async def add_domain_rule(
    session: AsyncSession,
    config: Config,
    *,
    kind: DomainRuleKind,
    domain: str,
    reason: str = "",
    now: datetime,
) -> DomainRule:
    """Block `domain` or put it on the allow-list (again: the reason is updated). The
    caller commits and then refreshes its policy (`refresh_policy`)."""
    name = normalise_domain(domain)
    if kind == DomainRuleKind.BLOCK and name == config.instance.hostname.lower():
        raise DomainRuleError("This instance cannot block its own domain.", "own")
    reason = " ".join(reason.split())[:MAX_REASON]
    row = await session.scalar(
        select(DomainRule).where(DomainRule.kind == kind, DomainRule.domain == name)
    )
    if row is None:
        row = DomainRule(kind=kind, domain=name, reason=reason, created_at=now)
        session.add(row)
    else:
        row.reason = reason
    await session.flush()
    return row


async def remove_domain_rule(session: AsyncSession, *, kind: DomainRuleKind, domain: str) -> bool:
    """Lift a block or take a domain off the allow-list; False if it was not there. A
    block from `federation.blocked_domains` stays: it lives in the config file."""
    result = await session.execute(
        delete(DomainRule).where(DomainRule.kind == kind, DomainRule.domain == domain.lower())
    )
    return bool(getattr(result, "rowcount", 0))


_RULES = select(DomainRule.kind, DomainRule.domain)
_FEDERATION_MODE = select(InstanceSetting.value).where(InstanceSetting.key == "federation_mode")


async def refresh_policy(
    sessionmaker: async_sessionmaker[AsyncSession], policy: FederationPolicy, config: Config
) -> None:
    """Give `policy` the rules now: the config's blocks and the stored ones, and, in
    allow-list mode, the allow-list (this instance's own domain is always on it).

    Every process runs this every few seconds for as long as it lives, so it asks for
    the one setting it needs, on the session's connection (no ORM execution): a
    third of what reading all settings through the session cost."""
    async with sessionmaker() as session:
        conn = await session.connection()
        rules = (await conn.execute(_RULES)).all()
        mode = (await conn.execute(_FEDERATION_MODE)).scalar_one_or_none()
    blocked = [*config.federation.blocked_domains]
    allowed = [config.instance.hostname]
    for kind, domain in rules:
        (blocked if kind == DomainRuleKind.BLOCK else allowed).append(domain)
    # The default is "open", and so is a value this version does not know (`load_settings`).
    policy.replace_rules(blocked=blocked, allowed=allowed if mode == "allowlist" else None)


async def keep_policy_fresh(
    sessionmaker: async_sessionmaker[AsyncSession],
    policy: FederationPolicy,
    config: Config,
    stop: asyncio.Event,
    *,
    interval: float = POLICY_REFRESH_SECONDS,
) -> None:
    """`refresh_policy` every `interval` seconds until `stop`: another process's change
    holds here within that time."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
        if stop.is_set():
            return
        try:
            await refresh_policy(sessionmaker, policy, config)
        except Exception:  # loop top: a failed round is logged, the next one tries again
            log.exception("reading the domain rules failed")
