"""The outgoing HTTP client: every request we make to another server goes through here.

It owns the SSRF policy (no private, loopback, link-local… addresses, checked after DNS
resolution and on every redirect hop), applies the `FederationPolicy` it is given (a
blocked domain is refused with `BlockedDomainError` before any connection, on every
redirect hop too), content negotiation for ActivityStreams documents,
the id-equals-URL rule, size and time limits, and the signed inbox POST with the
Cavage/RFC 9421 "double knock".

Limits follow Mastodon's client (contract §6): at most 3 redirects, 1 MiB, 10 s.

Pure protocol layer: imports only `federation.*` and aiohttp; the session, the signing
key and the clock are parameters. No global state.
"""

# Every network call takes `timeout` (seconds) because the limit is protocol policy
# (Mastodon's 10 s, contract §6) that callers must not forget; it is enforced inside with
# asyncio.timeout.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from multidict import CIMultiDict
from yarl import URL

from federation.errors import FetchError
from federation.policy import OPEN, BlockedDomainError, FederationPolicy, url_host
from federation.signatures import SignatureScheme, prepare_signature, sign_request
from federation.text import load_json

__all__ = [
    "ACTIVITY_ACCEPT",
    "AS_CONTEXT",
    "JRD_ACCEPT",
    "MAX_REDIRECTS",
    "ConditionalFetch",
    "FetchNetworkError",
    "FetchStatusError",
    "FetchTimeoutError",
    "ForbiddenAddressError",
    "IdMismatchError",
    "InMemorySchemeMemory",
    "InvalidDocumentError",
    "InvalidURLError",
    "PostResult",
    "ResponseTooLargeError",
    "SafeConnector",
    "SafeResolver",
    "SchemeMemory",
    "Signer",
    "TooManyRedirectsError",
    "UnacceptableContentTypeError",
    "WebFingerError",
    "fetch_jrd",
    "fetch_json",
    "fetch_json_conditional",
    "host_key",
    "is_activitystreams_media_type",
    "is_forbidden_address",
    "make_connector",
    "post_activity",
    "webfinger",
]

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
ACTIVITY_ACCEPT = f'application/activity+json, application/ld+json; profile="{AS_CONTEXT}"'
JRD_ACCEPT = "application/jrd+json, application/json"
ACTIVITY_CONTENT_TYPE = "application/activity+json"
MAX_REDIRECTS = 3
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_EXCERPT_BYTES = 512
_NOT_IN_ACCT = frozenset("@/?#&%\\")
_CHUNK = 16_384

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


# --- errors -------------------------------------------------------------------------------


class InvalidURLError(FetchError):
    """The URL is malformed or not http(s); nothing was sent."""


class ForbiddenAddressError(FetchError):
    """The host is, or resolves to, an address we refuse to contact (SSRF guard)."""


class FetchNetworkError(FetchError):
    """Connection, DNS or transport failure; worth retrying later."""


class FetchTimeoutError(FetchNetworkError):
    """The peer did not answer in time; worth retrying later."""


class FetchStatusError(FetchError):
    """The peer answered with a non-2xx status (after following redirects).

    `status` lets callers tell gone (404/410) from transient (5xx, 429).
    """

    def __init__(self, status: int, url: str) -> None:
        super().__init__(f"HTTP {status} from {url}")
        self.status = status
        self.url = url


class TooManyRedirectsError(FetchError):
    """More than `MAX_REDIRECTS` redirects."""


class ResponseTooLargeError(FetchError):
    """The body exceeded the byte cap."""


class UnacceptableContentTypeError(FetchError):
    """The response is not an ActivityStreams document (Mastodon ≥ 4.2.5 drops these too)."""


class InvalidDocumentError(FetchError):
    """The body is not a JSON object."""


class IdMismatchError(FetchError):
    """The document's `id` is not the URL we asked for (GHSA-3fjr-858r-92rw)."""


class WebFingerError(FetchError):
    """The JRD does not name an ActivityPub actor for the requested account."""


# --- address policy -----------------------------------------------------------------------


def is_forbidden_address(ip: Address) -> bool:
    """True for addresses that must never be contacted from a public server.

    Private, loopback, link-local (incl. 169.254.169.254 cloud metadata), multicast, reserved,
    unspecified and other non-global ranges (CGNAT, documentation…). IPv4-mapped IPv6 is
    judged as the IPv4 address it is; 6to4 and Teredo also by the IPv4 they embed.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # the socket talks to the IPv4 address itself
            return is_forbidden_address(ip.ipv4_mapped)
        embedded = [ip.sixtofour]
        if ip.teredo is not None:
            embedded.extend(ip.teredo)
        if any(e is not None and is_forbidden_address(e) for e in embedded):
            return True
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def _is_onion(host: str) -> bool:
    h = host.rstrip(".").lower()
    return h == "onion" or h.endswith(".onion")


def _address_allowed(ip: Address, allow_private: bool, allowed_networks: Iterable[Network]) -> bool:
    if allow_private or not is_forbidden_address(ip):
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in allowed_networks)


class SafeResolver(AbstractResolver):
    """Resolver that refuses names resolving to forbidden addresses (Mastodon's
    `PrivateAddressCheck`), and `.onion` names.

    If *any* resolved address is forbidden the whole name is refused, so a peer cannot
    smuggle a private address behind a public one. `allowed_networks` is the
    `ALLOWED_PRIVATE_ADDRESSES`-style escape hatch for known internal peers.
    Raises `ForbiddenAddressError`; it is not an `OSError`, so aiohttp lets it through.
    """

    def __init__(
        self,
        inner: AbstractResolver | None = None,
        *,
        allow_private: bool = False,
        allowed_networks: Iterable[Network] = (),
    ) -> None:
        self._owns_inner = inner is None
        # DefaultResolver needs a running loop; make_connector is called from one.
        self._inner: AbstractResolver = inner if inner is not None else aiohttp.DefaultResolver()
        self.allow_private = allow_private
        self.allowed_networks: tuple[Network, ...] = tuple(allowed_networks)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if not self.allow_private and _is_onion(host):
            raise ForbiddenAddressError(f"refusing .onion host {host}")
        results = await self._inner.resolve(host, port, family)
        for r in results:
            try:
                ip = ipaddress.ip_address(r["host"])
            except ValueError as exc:
                raise ForbiddenAddressError(f"{host} resolved to non-IP {r['host']!r}") from exc
            if not _address_allowed(ip, self.allow_private, self.allowed_networks):
                raise ForbiddenAddressError(f"{host} resolves to forbidden address {ip}")
        return results

    async def close(self) -> None:
        if self._owns_inner:
            await self._inner.close()


class SafeConnector(aiohttp.TCPConnector):
    """A `TCPConnector` with a `SafeResolver`; the fetch functions insist on it unless
    `allow_private=True`, so a hand-built session cannot silently disable the SSRF guard."""

    def __init__(self, resolver: SafeResolver, *, limit_per_host: int) -> None:
        super().__init__(resolver=resolver, limit_per_host=limit_per_host)
        self.safe_resolver = resolver

    async def close(self, *, abort_ssl: bool = False) -> None:
        # TCPConnector only closes resolvers it created itself.
        await super().close(abort_ssl=abort_ssl)
        await self.safe_resolver.close()


def make_connector(
    *,
    allow_private: bool,
    inner: AbstractResolver | None = None,
    limit_per_host: int = 8,
    allowed_networks: Iterable[Network] = (),
) -> SafeConnector:
    """Build the connector for the federation `ClientSession`. Call inside a running loop.

    `inner` replaces DNS (tests map `alpha.test` to loopback ports); it is not closed here.
    """
    resolver = SafeResolver(inner, allow_private=allow_private, allowed_networks=allowed_networks)
    return SafeConnector(resolver, limit_per_host=limit_per_host)


def _parse_url(url: str | URL) -> URL:
    try:
        u = url if isinstance(url, URL) else URL(url)
    except (ValueError, TypeError) as exc:
        raise InvalidURLError(f"malformed URL {url!r}") from exc
    if u.scheme not in ("http", "https") or not u.host:
        raise InvalidURLError(f"only absolute http(s) URLs can be fetched, not {url!r}")
    if u.user is not None or u.password is not None:
        raise InvalidURLError(f"refusing URL with credentials: {u.with_user(None)}")
    return u


def _redirect_target(current: URL, location: str) -> URL:
    try:
        target = current.join(URL(location))
    except (ValueError, TypeError) as exc:
        raise InvalidURLError(f"{current}: malformed redirect Location {location!r}") from exc
    return _parse_url(target)


def _check_target(session: aiohttp.ClientSession, url: URL, allow_private: bool) -> None:
    """Check what the resolver cannot: aiohttp skips it for IP-literal hosts."""
    connector = session.connector
    safe = connector.safe_resolver if isinstance(connector, SafeConnector) else None
    if not allow_private and (safe is None or safe.allow_private):
        raise ValueError(
            "allow_private=False needs a session built on make_connector(allow_private=False)"
        )
    if allow_private:
        return
    assert url.host is not None  # _parse_url guarantees it
    if _is_onion(url.host):
        raise ForbiddenAddressError(f"refusing .onion host {url.host}")
    try:
        ip = ipaddress.ip_address(url.host)
    except ValueError:
        return  # a name: SafeResolver judges what it resolves to
    networks = safe.allowed_networks if safe is not None else ()
    if not _address_allowed(ip, allow_private, networks):
        raise ForbiddenAddressError(f"refusing forbidden address {ip} in {url}")


def host_key(url: str | URL) -> str:
    """`host[:port]` (port only when not the scheme default), lower-cased: the unit for
    remembering a peer's signature scheme."""
    u = _parse_url(url)
    return u.host_port_subcomponent or ""


# --- signing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    """Who signs: the instance actor for GETs (authorized fetch), the sending actor for
    POSTs. `clock` returns an aware `datetime`; it is read afresh for every request."""

    key_id: str
    private_key_pem: str = field(repr=False)  # never let the key reach a log line
    clock: Callable[[], datetime]
    # Optional: computes the RSA signature elsewhere (e.g. a signer process on another
    # core, `outbox.signer`); called with the PEM and the exact message.
    sign_with: Callable[[str, bytes], Awaitable[bytes]] | None = field(
        default=None, repr=False, compare=False
    )


class SchemeMemory(Protocol):
    """Which signature scheme a peer (`host[:port]`) accepted last."""

    def get(self, host: str) -> SignatureScheme | None: ...

    def remember(self, host: str, scheme: SignatureScheme) -> None: ...


class InMemorySchemeMemory:
    """A dict-backed `SchemeMemory`; per process, lost on restart (then we knock again)."""

    def __init__(self) -> None:
        self._schemes: dict[str, SignatureScheme] = {}

    def get(self, host: str) -> SignatureScheme | None:
        return self._schemes.get(host)

    def remember(self, host: str, scheme: SignatureScheme) -> None:
        self._schemes[host] = scheme


async def _headers(
    method: str,
    url: URL,
    base: Mapping[str, str],
    body: bytes | None,
    signer: Signer | None,
    scheme: SignatureScheme,
) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict(base)
    if signer is None:
        return headers
    if signer.sign_with is not None:
        unsigned = prepare_signature(
            method=method,
            url=str(url),
            headers=base,
            body=body,
            key_id=signer.key_id,
            now=signer.clock(),
            scheme=scheme,
        )
        signed = unsigned.finish(await signer.sign_with(signer.private_key_pem, unsigned.message))
    else:
        signed = sign_request(
            method=method,
            url=str(url),
            headers=base,
            body=body,
            key_id=signer.key_id,
            private_key_pem=signer.private_key_pem,
            now=signer.clock(),
            scheme=scheme,
        )
    for name, value in signed.items():
        headers[name] = value  # CIMultiDict: replaces regardless of case
    return headers


# --- GET ----------------------------------------------------------------------------------


def is_activitystreams_media_type(value: str) -> bool:
    """`application/activity+json`, or `application/ld+json` without a profile or with the
    AS profile; parameters such as charset are ignored. Mastodon (≥ 4.2.5) requires the
    profile on ld+json; we are more lenient on input but always send it."""
    mime, _, params = value.partition(";")
    mime = mime.strip().lower()
    if mime == "application/activity+json":
        return True
    if mime != "application/ld+json":
        return False
    for param in params.split(";"):
        name, _, raw = param.partition("=")
        if name.strip().lower() == "profile":
            return AS_CONTEXT in raw.strip().strip('"').split()
    return True


def _is_json_media_type(value: str) -> bool:
    mime = value.partition(";")[0].strip().lower()
    return mime in ("application/json", "application/jrd+json") or mime.endswith("+json")


async def _read_capped(resp: aiohttp.ClientResponse, max_bytes: int, url: URL) -> bytes:
    """Read at most `max_bytes` of (decoded) body; Content-Length is only used to fail early."""
    if resp.content_length is not None and resp.content_length > max_bytes:
        raise ResponseTooLargeError(f"{url}: Content-Length {resp.content_length} > {max_bytes}")
    buf = bytearray()
    async for chunk in resp.content.iter_chunked(_CHUNK):
        buf += chunk
        if len(buf) > max_bytes:
            raise ResponseTooLargeError(f"{url}: body exceeds {max_bytes} bytes")
    return bytes(buf)


@dataclass(frozen=True, slots=True)
class _Answer:
    """A GET's outcome; `not_modified` for a 304 (only when asked with an ETag, body empty)."""

    body: bytes
    etag: str | None
    requests: int
    not_modified: bool = False


async def _get(
    session: aiohttp.ClientSession,
    url: str,
    *,
    accept: str,
    accepts_type: Callable[[str], bool],
    signer: Signer | None,
    allow_private: bool,
    policy: FederationPolicy,
    max_bytes: int,
    timeout: float,
    etag: str | None = None,
) -> _Answer:
    """GET following at most MAX_REDIRECTS redirects by hand, checking and signing each hop;
    with `etag`, as `If-None-Match`, so that a 304 is an answer."""
    current = _parse_url(url)
    base = {"Accept": accept}
    if etag:
        base["If-None-Match"] = etag
    try:
        async with asyncio.timeout(timeout):
            for hop in range(MAX_REDIRECTS + 1):
                policy.check_url(str(current))
                _check_target(session, current, allow_private)
                headers = await _headers("GET", current, base, None, signer, SignatureScheme.CAVAGE)
                async with session.get(
                    current, headers=headers, allow_redirects=False, raise_for_status=False
                ) as resp:
                    if resp.status in _REDIRECT_STATUSES:
                        location = resp.headers.get("Location")
                        if not location:
                            raise FetchStatusError(resp.status, str(current))
                        current = _redirect_target(current, location)
                        continue
                    answered = resp.headers.get("ETag")
                    if resp.status == 304 and etag:
                        return _Answer(b"", answered or etag, hop + 1, not_modified=True)
                    if not 200 <= resp.status < 300:
                        raise FetchStatusError(resp.status, str(current))
                    content_type = resp.headers.get("Content-Type", "")
                    if not accepts_type(content_type):
                        raise UnacceptableContentTypeError(
                            f"{current}: unacceptable Content-Type {content_type!r}"
                        )
                    body = await _read_capped(resp, max_bytes, current)
                    return _Answer(body, answered, hop + 1)
            raise TooManyRedirectsError(f"{url}: more than {MAX_REDIRECTS} redirects")
    except TimeoutError as exc:
        raise FetchTimeoutError(f"{url}: no complete answer within {timeout:g} s") from exc
    except aiohttp.InvalidURL as exc:
        raise InvalidURLError(f"{url}: {exc}") from exc
    except aiohttp.ClientError as exc:
        raise _network_error(exc, url) from exc


def _network_error(exc: aiohttp.ClientError, url: str | URL) -> FetchError:
    cause = exc.__cause__
    if isinstance(cause, ForbiddenAddressError):  # in case aiohttp ever wraps the resolver's
        return cause
    return FetchNetworkError(f"{url}: {type(exc).__name__}: {exc}")


def _decode_object(raw: bytes, url: str) -> dict[str, object]:
    try:
        doc = load_json(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidDocumentError(f"{url}: body is not JSON") from exc
    if not isinstance(doc, dict):
        raise InvalidDocumentError(f"{url}: body is not a JSON object")
    return doc


async def fetch_json(
    session: aiohttp.ClientSession,
    url: str,
    *,
    signer: Signer | None,
    allow_private: bool,
    policy: FederationPolicy = OPEN,
    max_bytes: int = 1_048_576,
    timeout: float = 10.0,
) -> object:
    """GET an ActivityStreams document and return it as a JSON object.

    Signed (Cavage) by `signer` when given, which `AUTHORIZED_FETCH` Mastodon and GoToSocial
    require. The document's `id` must equal `url`; a `#fragment` in `url` is not sent, so
    the id may also equal `url` without it (keyId `…/alice#main-key` serves the actor).
    `timeout` (seconds) bounds the whole exchange including redirects and body.

    Raises `FetchStatusError` (non-2xx; `.status`), `FetchNetworkError`/`FetchTimeoutError`
    (retryable), `ForbiddenAddressError`, `InvalidURLError`, `TooManyRedirectsError`,
    `UnacceptableContentTypeError`, `ResponseTooLargeError`, `InvalidDocumentError`,
    `IdMismatchError` — all `FetchError`s — and `BlockedDomainError` (a `FederationError`,
    not a `FetchError`) when `url` or a redirect target is on a domain `policy` blocks;
    nothing is sent to that domain then.
    """
    answer = await _get(
        session,
        url,
        accept=ACTIVITY_ACCEPT,
        accepts_type=is_activitystreams_media_type,
        signer=signer,
        allow_private=allow_private,
        policy=policy,
        max_bytes=max_bytes,
        timeout=timeout,
    )
    doc = _decode_object(answer.body, url)
    doc_id = doc.get("id")
    if doc_id != url and doc_id != url.partition("#")[0]:
        raise IdMismatchError(f"{url}: document id is {doc_id!r}")
    return doc


@dataclass(frozen=True, slots=True)
class ConditionalFetch:
    """What a conditional GET brought: `doc` is None when the peer answered 304 Not
    Modified. `etag` is the response's ETag (None if it sent none); `size` the body bytes
    read; `requests` the GETs made (redirect hops included)."""

    doc: dict[str, object] | None
    etag: str | None
    size: int
    requests: int

    @property
    def not_modified(self) -> bool:
        return self.doc is None


async def fetch_json_conditional(
    session: aiohttp.ClientSession,
    url: str,
    *,
    etag: str | None,
    signer: Signer | None,
    allow_private: bool,
    policy: FederationPolicy = OPEN,
    max_bytes: int = 1_048_576,
    timeout: float = 10.0,
) -> ConditionalFetch:
    """GET an ActivityStreams JSON object with `If-None-Match: etag` (when given), for
    documents polled again and again (a peer's directory collection and pages).

    As `fetch_json` (SSRF guard and `policy` on every hop, signed by `signer`, at most
    MAX_REDIRECTS redirects, `timeout` seconds for the whole exchange, the body streamed
    and cut off past `max_bytes` whatever Content-Length says), except that a 304 is an
    answer (`doc` None) and the id is not compared with `url`: collection pages name
    themselves as their server spells their query. Raises what `fetch_json` raises,
    `IdMismatchError` excepted.
    """
    answer = await _get(
        session,
        url,
        accept=ACTIVITY_ACCEPT,
        accepts_type=is_activitystreams_media_type,
        signer=signer,
        allow_private=allow_private,
        policy=policy,
        max_bytes=max_bytes,
        timeout=timeout,
        etag=etag,
    )
    if answer.not_modified:
        return ConditionalFetch(None, answer.etag, 0, answer.requests)
    doc = _decode_object(answer.body, url)
    return ConditionalFetch(doc, answer.etag, len(answer.body), answer.requests)


async def fetch_jrd(
    session: aiohttp.ClientSession,
    url: str,
    *,
    signer: Signer | None = None,
    allow_private: bool,
    policy: FederationPolicy = OPEN,
    max_bytes: int = 1_048_576,
    timeout: float = 10.0,
) -> dict[str, object]:
    """GET a WebFinger JRD and return it as a JSON object. Any JSON Content-Type is
    accepted (many servers send plain application/json) and there is no id check; errors
    as for `fetch_json`."""
    answer = await _get(
        session,
        url,
        accept=JRD_ACCEPT,
        accepts_type=_is_json_media_type,
        signer=signer,
        allow_private=allow_private,
        policy=policy,
        max_bytes=max_bytes,
        timeout=timeout,
    )
    return _decode_object(answer.body, url)


async def webfinger(
    session: aiohttp.ClientSession,
    user: str,
    host: str,
    *,
    scheme: str = "https",
    allow_private: bool,
    policy: FederationPolicy = OPEN,
    signer: Signer | None = None,
    max_bytes: int = 1_048_576,
    timeout: float = 10.0,
) -> str:
    """Resolve `user@host` to an actor id.

    Queries `/.well-known/webfinger?resource=acct:user@host` (unescaped, as Mastodon sends
    it), requires `subject` to equal `acct:user@host` case-insensitively, and returns the
    `href` of the `rel="self"` link whose type is ActivityStreams. `host` may carry a port;
    `scheme` is only for tests, since `acct:` cannot express one (owncast/owncast#2008).
    Raises `WebFingerError` or another `FetchError`, or `BlockedDomainError` (before any
    request) when `policy` blocks `host`.
    """
    if (
        scheme not in ("http", "https")
        or not user
        or not host
        or any(c.isspace() or c in _NOT_IN_ACCT for c in user + host)
    ):
        raise InvalidURLError(f"bad WebFinger target {user!r}@{host!r}")
    acct = f"acct:{user}@{host}"
    url = f"{scheme}://{host}/.well-known/webfinger?resource={acct}"
    if not policy.allows_host(host):
        raise BlockedDomainError(url_host(url) or host)
    jrd = await fetch_jrd(
        session,
        url,
        signer=signer,
        allow_private=allow_private,
        policy=policy,
        max_bytes=max_bytes,
        timeout=timeout,
    )
    subject = jrd.get("subject")
    if not isinstance(subject, str) or subject.lower() != acct.lower():
        raise WebFingerError(f"{url}: subject {subject!r} is not {acct}")
    links = jrd.get("links")
    for link in links if isinstance(links, list) else []:
        if not isinstance(link, dict) or link.get("rel") != "self":
            continue
        link_type, href = link.get("type"), link.get("href")
        if not isinstance(link_type, str) or not is_activitystreams_media_type(link_type):
            continue
        if isinstance(href, str):
            try:
                _parse_url(href)
            except InvalidURLError:
                continue
            return href
    raise WebFingerError(f"{url}: no rel=self ActivityStreams link")


# --- POST ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostResult:
    """What the inbox answered to the last attempt.

    `retry_after` is in whole seconds (Retry-After as seconds or HTTP date, relative to the
    signer's clock), None when absent or unparseable. `excerpt` is the start of the body,
    for logs only.
    """

    status: int
    scheme: SignatureScheme
    retry_after: int | None
    excerpt: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def _other(scheme: SignatureScheme) -> SignatureScheme:
    return SignatureScheme.RFC9421 if scheme is SignatureScheme.CAVAGE else SignatureScheme.CAVAGE


def _should_knock_again(status: int) -> bool:
    # 400/401: the peer could not verify this scheme. 5xx: Mastodon's 2025 RFC 9421 rollout
    # answered 500 to signatures it could not handle (fedify-dev/fedify#907), so Fedify falls
    # back on those too. Costs one extra request to a peer that is really down.
    return status in (400, 401) or status >= 500


def parse_retry_after(value: str | None, now: datetime) -> int | None:
    """Retry-After as delta-seconds or an HTTP date, to whole seconds from `now` (≥ 0)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None or now.tzinfo is None:
        return None
    delta = (when - now).total_seconds()
    return max(0, int(delta + 0.999))


async def _read_excerpt(resp: aiohttp.ClientResponse) -> str:
    buf = bytearray()
    while len(buf) < _EXCERPT_BYTES:
        chunk = await resp.content.read(_EXCERPT_BYTES - len(buf))
        if not chunk:
            break
        buf += chunk
    return bytes(buf).decode("utf-8", errors="replace")


async def _post_once(
    session: aiohttp.ClientSession,
    url: URL,
    body: bytes,
    signer: Signer,
    scheme: SignatureScheme,
    timeout: float,
) -> PostResult:
    headers = await _headers(
        "POST", url, {"Content-Type": ACTIVITY_CONTENT_TYPE}, body, signer, scheme
    )
    try:
        async with (
            asyncio.timeout(timeout),
            session.post(
                url, data=body, headers=headers, allow_redirects=False, raise_for_status=False
            ) as resp,
        ):
            excerpt = await _read_excerpt(resp)
            retry_after = parse_retry_after(resp.headers.get("Retry-After"), signer.clock())
            return PostResult(resp.status, scheme, retry_after, excerpt)
    except TimeoutError as exc:
        raise FetchTimeoutError(f"POST {url}: no answer within {timeout} s") from exc
    except aiohttp.ClientError as exc:
        raise _network_error(exc, url) from exc


async def post_activity(
    session: aiohttp.ClientSession,
    inbox_url: str,
    body: bytes,
    *,
    signer: Signer,
    memory: SchemeMemory,
    allow_private: bool,
    policy: FederationPolicy = OPEN,
    timeout: float = 10.0,
) -> PostResult:
    """POST `body` (the exact bytes, digested as sent) to an inbox, signed by `signer`.

    Signs with the scheme `memory` holds for the inbox's `host[:port]`, else Cavage (what
    Mastodon ≤ 4.5, GoToSocial, Akkoma and Misskey verify). On 400, 401 or 5xx it signs
    afresh with the other scheme and tries once more (double knock, as Fedify and Mastodon
    main do); whichever scheme gets a 2xx is remembered. Redirects are never followed.
    `timeout` (seconds) applies to each attempt.

    Returns the `PostResult` of the last attempt, whatever its status: classifying it
    (retry, give up) is the delivery worker's job. Raises `FetchNetworkError` /
    `FetchTimeoutError` (retryable), `ForbiddenAddressError` or `InvalidURLError`; and
    `BlockedDomainError`, with nothing sent, for an inbox on a domain `policy` blocks.
    """
    url = _parse_url(inbox_url)
    policy.check_url(str(url))
    _check_target(session, url, allow_private)
    host = host_key(url)
    remembered = memory.get(host)
    scheme = remembered or SignatureScheme.CAVAGE
    result = await _post_once(session, url, body, signer, scheme, timeout)
    if _should_knock_again(result.status):
        result = await _post_once(session, url, body, signer, _other(scheme), timeout)
    if result.ok and result.scheme is not remembered:
        memory.remember(host, result.scheme)
    return result
