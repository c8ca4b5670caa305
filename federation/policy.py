"""Which remote servers we talk to: one policy object, built once at start-up.

The fetcher, the directory of remote actors, the inbox and the delivery queue all
receive the same `FederationPolicy`, so a domain block holds on every path (fetch,
WebFinger, key lookup, receive, deliver) without each call site carrying a list.
Pure: no config, no network; the composition root builds it from the config file.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from federation.errors import FederationError

__all__ = ["BlockedDomainError", "FederationPolicy", "url_host"]


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


@dataclass(frozen=True, slots=True)
class FederationPolicy:
    """Domain blocks. A block covers the domain and every subdomain of it.

    `allows_host` takes a host name with or without a port (`social.example:8443`):
    blocks are per domain, as Mastodon's are, whatever port the peer listens on.
    """

    blocked_domains: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def blocking(cls, domains: Iterable[str]) -> FederationPolicy:
        return cls(blocked_domains=frozenset(d for d in map(_normalise, domains) if d))

    def allows_host(self, host: str) -> bool:
        name = _normalise(host)
        if not self.blocked_domains:
            return True
        return not any(name == d or name.endswith("." + d) for d in self.blocked_domains)

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
