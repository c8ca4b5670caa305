"""Which remote servers we talk to: one policy object, built once at start-up.

The fetcher, the directory of remote actors, the inbox and the delivery queue all
receive the same `FederationPolicy`, so a domain block holds on every path (fetch,
WebFinger, key lookup, receive, deliver) without each call site carrying a list.
Pure: no config, no network; the composition root builds it from the config file and
the rules the operator added at run time.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from federation.errors import FederationError

__all__ = ["BlockedDomainError", "FederationPolicy", "normalise_domains", "url_host"]


class BlockedDomainError(FederationError):
    """A request towards (or from) a domain that the policy refuses."""

    def __init__(self, host: str) -> None:
        super().__init__(f"domain {host} is blocked on this instance")
        self.host = host


@functools.lru_cache(maxsize=8192)  # actor and inbox URLs come again and again
def url_host(url: str) -> str:
    """The lower-case host name of `url`, without port ("" when it has none)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _normalise(domain: str) -> str:
    return domain.strip().lower().rstrip(".").split(":")[0]


def normalise_domains(domains: Iterable[str]) -> frozenset[str]:
    """Lower-case domain names without port or trailing dot, empty ones dropped."""
    return frozenset(d for d in map(_normalise, domains) if d)


def _covers(domains: frozenset[str], name: str) -> bool:
    return any(name == d or name.endswith("." + d) for d in domains)


@dataclass(slots=True, eq=False)
class FederationPolicy:
    """Domain blocks and, when `allowed_domains` is not None, the allow-list: only those
    domains (and their subdomains) are talked to. A block covers the domain and every
    subdomain of it, and wins over the allow-list.

    `allows_host` takes a host name with or without a port (`social.example:8443`):
    blocks are per domain, as Mastodon's are, whatever port the peer listens on.

    One object per process, handed to every path at start-up; the rules the operator
    changes at run time reach it through `replace_rules` (`server.instance_settings`
    reads them from the database every few seconds), so every holder sees them at once.
    """

    blocked_domains: frozenset[str] = field(default_factory=frozenset)
    allowed_domains: frozenset[str] | None = None

    @classmethod
    def blocking(cls, domains: Iterable[str]) -> FederationPolicy:
        return cls(blocked_domains=normalise_domains(domains))

    def replace_rules(self, *, blocked: Iterable[str], allowed: Iterable[str] | None) -> None:
        """Take new rules (the caller's full lists, not changes)."""
        self.blocked_domains = normalise_domains(blocked)
        self.allowed_domains = None if allowed is None else normalise_domains(allowed)

    def allows_host(self, host: str) -> bool:
        if not self.blocked_domains and self.allowed_domains is None:
            return True
        name = _normalise(host)
        if self.blocked_domains and _covers(self.blocked_domains, name):
            return False
        return self.allowed_domains is None or _covers(self.allowed_domains, name)

    def allows_url(self, url: str) -> bool:
        """False for a URL on a blocked domain (and for one without a host)."""
        host = url_host(url)
        return bool(host) and self.allows_host(host)

    def check_url(self, url: str) -> None:
        """Raise `BlockedDomainError` unless `allows_url(url)`."""
        if not self.allows_url(url):
            raise BlockedDomainError(url_host(url) or url)


OPEN = FederationPolicy()
"""The policy that blocks nothing (tests, tools)."""
