"""Which requests are rate-limited, and by what key; the limiter is `federation.ratelimit`.

- Inbox POSTs per remote host and per remote actor, Follows per remote host:
  `inbox.receive.InboxLimits`, built here, enforced by `InboxReceiver`.
- Sign-in: every credential check at `/oauth/token` and on the site's sign-in
  form (`/auth/sign_in`, where the OAuth authorize page sends people) counts
  against the client address, every password attempt also against the
  account (the lower-cased user name, known or not, so a 429 tells nothing
  about which names exist). `SignInAttempt` charges up front, before any hash
  is computed, so concurrent guesses cannot outrun the limit, and gives the
  charge back when the credentials prove right: only failures count.
- API writes (POST, PUT, PATCH, DELETE under `/api/`) per access token, or per
  client address without one: `server.api.common.api_handler`.

Counters are in process memory, so limits apply per `verbund serve` process.
For the per-account sign-in limit that was a choice, not an accident: a
shared counter would need a database write per failed attempt (a cheap way to
load the database for whoever guesses), and N processes allow at most N times
the limit, which still leaves online guessing of an argon2id-hashed password of
at least 10 characters hopeless. Addresses are those of the TCP peer unless
`limits.client_address_header` names the header a reverse proxy sets; IPv6
addresses count per /64, as one host usually owns the whole prefix.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from aiohttp import web

from federation.ratelimit import MonotonicClock, RateLimiter, retry_after_seconds
from inbox.receive import InboxLimits
from server.config import LimitsConfig


class RateLimitedError(Exception):
    """A request refused by a rate limit; `retry_after` is in whole seconds."""

    def __init__(self, retry_after: int, limit: int) -> None:
        super().__init__(f"rate limited, retry in {retry_after} s")
        self.retry_after = retry_after
        self.limit = limit


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Every limiter of one application (one process), built from `[limits]`."""

    inbox: InboxLimits
    sign_in_per_account: RateLimiter
    sign_in_per_address: RateLimiter
    api_writes: RateLimiter
    address_header: str = ""

    @classmethod
    def from_config(cls, config: LimitsConfig, clock: MonotonicClock) -> RateLimits:
        def limiter(limit: int, seconds: int) -> RateLimiter:
            return RateLimiter(limit, seconds, clock)

        return cls(
            inbox=InboxLimits(
                per_host=limiter(config.inbox_per_host, config.inbox_per_host_seconds),
                per_actor=limiter(config.inbox_per_actor, config.inbox_per_actor_seconds),
                follows_per_host=limiter(config.follows_per_host, config.follows_per_host_seconds),
            ),
            sign_in_per_account=limiter(
                config.sign_in_per_account, config.sign_in_per_account_seconds
            ),
            sign_in_per_address=limiter(
                config.sign_in_per_address, config.sign_in_per_address_seconds
            ),
            api_writes=limiter(config.api_writes_per_token, config.api_writes_per_token_seconds),
            address_header=config.client_address_header,
        )

    def client_address(self, request: web.Request) -> str:
        """The client's address as a limit key (see the module docstring)."""
        raw = ""
        if self.address_header:
            # X-Forwarded-For lists every hop; the last entry is the one our proxy added.
            raw = request.headers.get(self.address_header, "").rsplit(",", 1)[-1].strip()
        return address_key(raw or request.remote or "")

    def sign_in(self, request: web.Request) -> SignInAttempt:
        """Charge one credential check to this client's address, before anything is
        verified; RateLimitedError, charging nothing, when the address has no room."""
        attempt = SignInAttempt(self.sign_in_per_account)
        attempt.charge(self.sign_in_per_address, self.client_address(request))
        return attempt


class SignInAttempt:
    """The charges of one credential check; `succeeded()` gives them all back.

    Each charge is checked and taken with no await between, so concurrent guesses
    cannot all pass the check before any of them is counted.
    """

    __slots__ = ("_account_limiter", "_charged")

    def __init__(self, account_limiter: RateLimiter) -> None:
        self._account_limiter = account_limiter
        self._charged: list[tuple[RateLimiter, str]] = []

    def charge(self, limiter: RateLimiter, key: str) -> None:
        """Take one from `limiter` for `key`; if it has no room, give back what this attempt
        holds and raise RateLimitedError (a refused request leaves no trace)."""
        wait = limiter.hit(key)
        if wait > 0:
            self._give_back()
            raise RateLimitedError(retry_after_seconds(wait), limiter.limit)
        self._charged.append((limiter, key))

    def charge_account(self, username: str) -> None:
        """Charge a password attempt for `username` (lower-cased; unknown names alike).
        Call it right before the password is verified."""
        self.charge(self._account_limiter, username.strip().lower())

    def succeeded(self) -> None:
        """The credentials proved right: none of this attempt's charges count."""
        self._give_back()

    def _give_back(self) -> None:
        for limiter, key in self._charged:
            limiter.give_back(key)
        self._charged = []


def address_key(raw: str) -> str:
    """An IP address in canonical form, IPv6 reduced to its /64; anything else as given."""
    try:
        addr = ipaddress.ip_address(raw.strip().strip("[]"))
    except ValueError:
        return raw
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)
