"""HTTP message signatures: sign outgoing requests, verify incoming ones.

Owns both wire formats the fediverse uses: draft-cavage-12 (`Signature:`
with `keyId`, `headers`, `signature`; what Mastodon 4.3-4.6 sends) and
RFC 9421 (`Signature-Input` + `Signature`; Mastodon verifies it since 4.5,
Fedify sends it first), together with the body digests that go with them
(`Digest`, RFC 3230, and `Content-Digest`, RFC 9530).

Verification is split so the caller can look a key up asynchronously in the
middle: `parse_signed_request` (pure, no I/O), `check_time_window`,
`verify_signature`. `verify_request` runs them in that order around a
`KeyResolver` and retries once with a refreshed key, which is what the inbox
calls. Every failure is a `SignatureError` with a `SignatureReason`.

The acceptance rules follow Mastodon's `SignedRequest` so that whatever
Mastodon accepts we accept, and vice versa (see the federation contract,
section 3): required coverage, digest over the exact bytes, a one hour clock
skew margin, and the legacy `(request-target)` without query string.

RFC 8941 structured fields (Signature-Input, Signature, Content-Digest) are parsed
by our own small parser at the end of this module, not by the `http_sf` library
(which the tests use to cross-check it): verifying RFC 9421 POSTs through `http_sf`
cost 31-43 % of the throughput of `bench/verify.py`'s RFC 9421 figure (same run,
alternating, three rounds on 2 shared cores: 1499/1596/2130 verified/s with ours,
1031/931/1205 with `http_sf`; the cavage figure, which parses no structured field,
was unchanged), far above the 10 % the library was allowed to cost (issue 11).

Pure protocol code: it must not import SQLAlchemy, aiohttp, `server` or any
other package of ours except `federation.errors` (and `federation.keys`,
which sits beside it). No clock reads: `now` is always a parameter.
"""

from __future__ import annotations

import binascii
import enum
import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Final, Protocol, TypeGuard, cast
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from federation.errors import FederationError, ParseError
from federation.keys import PublicKey, load_private_key, load_public_key
from federation.records import record

__all__ = [
    "KeyResolver",
    "ResolvedKey",
    "SignatureError",
    "SignatureReason",
    "SignatureScheme",
    "SignedRequest",
    "UnsignedRequest",
    "VerifiedRequest",
    "check_time_window",
    "parse_signed_request",
    "prepare_signature",
    "require_owner",
    "rsa_sign",
    "sign_request",
    "verify_request",
    "verify_signature",
]


class SignatureReason(enum.Enum):
    """Why a request's signature was refused; the inbox maps these to HTTP statuses."""

    MISSING = "missing"
    MALFORMED = "malformed"
    EXPIRED = "expired"
    DIGEST_MISMATCH = "digest_mismatch"
    KEY_UNAVAILABLE = "key_unavailable"
    BAD_SIGNATURE = "bad_signature"
    OWNER_MISMATCH = "owner_mismatch"


class SignatureError(FederationError):
    """A request's signature was missing, unusable or wrong; `reason` says which."""

    def __init__(self, reason: SignatureReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    def __repr__(self) -> str:
        return f"SignatureError({self.reason.value!r}, {str(self)!r})"


class SignatureScheme(enum.Enum):
    """Wire format of a signature."""

    CAVAGE = "draft-cavage-12"
    RFC9421 = "rfc9421"


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A parsed, digest-checked signature that still awaits its key.

    `signing_string` is the exact byte string the signature must cover;
    `legacy_signing_string` is the variant with the query string left out of
    `(request-target)`, tried second (Mastodon before 4.3 and Fedify sign that
    way). `created`, `expires` and `date` are only set from covered values.
    """

    key_id: str
    scheme: SignatureScheme
    algorithm: str
    signature: bytes
    signing_string: bytes
    legacy_signing_string: bytes | None
    created: datetime | None
    expires: datetime | None
    date: datetime | None
    covered: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ResolvedKey:
    """A public key as published by its owner (an actor URI)."""

    key_id: str
    owner: str
    public_key_pem: str


@record
class VerifiedRequest:
    """Outcome of a successful verification: who signed, with which key and format."""

    key_id: str
    owner: str
    scheme: SignatureScheme


class KeyResolver(Protocol):
    """Looks a `keyId` up (cache, then network). Implemented in `actors`.

    `refresh=True` means the cached key just failed to verify: fetch it again
    (key rotation). Raise `SignatureError(KEY_UNAVAILABLE)` when no key can be
    had. The resolver, not this module, checks that a key document's owner
    lists the key.
    """

    async def __call__(self, key_id: str, *, refresh: bool) -> ResolvedKey: ...


_CAVAGE: Final = SignatureScheme.CAVAGE

# Mastodon's window (app/lib/signed_request.rb): a reference time at most
# CLOCK_SKEW in the future, and expiry (default 5 min, capped at 12 h)
# exceeded by at most CLOCK_SKEW.
CLOCK_SKEW: Final = timedelta(hours=1)
DEFAULT_VALIDITY: Final = timedelta(minutes=5)
MAX_VALIDITY: Final = timedelta(hours=12)

_PKCS1v15: Final = padding.PKCS1v15()
_SHA256: Final = hashes.SHA256()

_CAVAGE_ALGORITHMS: Final = frozenset({"rsa-sha256", "hs2019"})
_RFC9421_ALGORITHMS: Final = frozenset({"rsa-v1_5-sha256", "ed25519"})
# "" is an RFC 9421 signature without `alg`: the key decides.
_RSA_ALGORITHMS: Final = frozenset({"rsa-sha256", "hs2019", "rsa-v1_5-sha256", ""})
_ED25519_ALGORITHMS: Final = frozenset({"hs2019", "ed25519", ""})
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_BODILESS_HOST_METHODS: Final = frozenset({"GET", "HEAD"})

# One `name=value` or `name="value"` of a cavage Signature header. Spaces
# around `=` and after commas are tolerated. Possessive quantifiers: no
# backtracking, so a long hostile header costs linear time.
_CAVAGE_PARAM_RE: Final = (
    r'[ \t]*+([A-Za-z][A-Za-z0-9_.-]*+)[ \t]*+=[ \t]*+(?:"((?:[^"\\]|\\.)*+)"|([^",\s]++))[ \t]*+'
)
_CAVAGE_PARAM: Final = re.compile(_CAVAGE_PARAM_RE + r"(?:,|\Z)", re.DOTALL)
# The same grammar over a header whose quoted values were emptied: Python's
# regex engine scans a 344-character signature one character at a time,
# str.split finds the quotes with memchr.
_SKELETON: Final = re.compile(rf"{_CAVAGE_PARAM_RE}(?:,{_CAVAGE_PARAM_RE}){{0,15}},?")
_SKELETON_PARAM: Final = re.compile(_CAVAGE_PARAM_RE)
_BACKSLASH_ESCAPE: Final = re.compile(r"\\(.)", re.DOTALL)
_UNIX_TIME: Final = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]+)?\Z")
_MONTH_NAMES: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_MONTHS: Final = {name: number for number, name in enumerate(_MONTH_NAMES, start=1)}
_IMF_FIXDATE: Final = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) ("
    + "|".join(_MONTH_NAMES)
    + r") ([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT"
)


def _malformed(message: str) -> SignatureError:
    return SignatureError(SignatureReason.MALFORMED, message)


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


# --------------------------------------------------------------------------
# Signing


@dataclass(frozen=True, slots=True)
class UnsignedRequest:
    """Headers and the exact message to sign; `finish` adds the signature headers.

    Splitting signing lets the RSA operation run elsewhere (a signer process on
    another core, see `outbox.signer`) while the header logic stays here.
    """

    headers: dict[str, str]
    message: bytes
    scheme: SignatureScheme
    key_id: str
    covered: str

    def finish(self, signature: bytes) -> dict[str, str]:
        out = dict(self.headers)
        if self.scheme is SignatureScheme.CAVAGE:
            out["Signature"] = (
                f'keyId="{self.key_id}",algorithm="rsa-sha256",'
                f'headers="{self.covered}",signature="{_b64(signature)}"'
            )
        else:
            out["Signature-Input"] = f"sig1={self.covered}"
            out["Signature"] = f"sig1=:{_b64(signature)}:"
        return out


def rsa_sign(private_key_pem: str, message: bytes) -> bytes:
    """RSASSA-PKCS1-v1_5 with SHA-256 over `message`, with the memoised key."""
    key = load_private_key(private_key_pem)
    return key.sign(message, _PKCS1v15, _SHA256)


def sign_request(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    key_id: str,
    private_key_pem: str,
    now: datetime,
    scheme: SignatureScheme = SignatureScheme.CAVAGE,
) -> dict[str, str]:
    """Return the complete headers to send: `headers` plus Host, Date, digest and signature.

    Cavage signs `(request-target) host date` plus `accept` (if given) for a
    request without body, or `digest content-type` (content-type if given)
    with a body, like Mastodon; the digest is `Digest: SHA-256=…` in upper
    case because ActivityRelay refuses lower case. RFC 9421 signs
    `@method @target-uri @authority` plus `content-digest` and
    `content-type` as applicable, label `sig1`, `alg="rsa-v1_5-sha256"`.
    Existing Host, Date, digest and signature headers in `headers` are
    replaced. `now` must be timezone-aware. Sign at each delivery attempt,
    so that Date is fresh.

    Raises ValueError for a non-http(s) URL, a naive `now`, or a key id or
    header value that cannot be carried in a header; ParseError for an
    unusable private key.
    """
    load_private_key(private_key_pem)  # ParseError before any work
    unsigned = prepare_signature(
        method=method, url=url, headers=headers, body=body, key_id=key_id, now=now, scheme=scheme
    )
    return unsigned.finish(rsa_sign(private_key_pem, unsigned.message))


def prepare_signature(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    key_id: str,
    now: datetime,
    scheme: SignatureScheme = SignatureScheme.CAVAGE,
) -> UnsignedRequest:
    """Everything of `sign_request` but the RSA operation (same rules, same errors)."""
    _require_aware(now)
    parts = urlsplit(url)
    url_scheme = parts.scheme.lower()
    hostname = parts.hostname
    if url_scheme not in _DEFAULT_PORTS or not hostname:
        raise ValueError(f"cannot sign a request to {url!r}: need an http(s) URL with a host")
    if not (key_id.isascii() and key_id.isprintable()) or '"' in key_id or "\\" in key_id:
        raise ValueError(f"key id {key_id!r} cannot be carried in a signature header")
    host = f"[{hostname}]" if ":" in hostname else hostname
    port = parts.port
    if port is not None and port != _DEFAULT_PORTS[url_scheme]:
        host = f"{host}:{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    replaced = {"host", "date", "digest", "content-digest", "signature", "signature-input"}
    out = {name: value for name, value in headers.items() if name.lower() not in replaced}
    given = {name.lower(): value.strip() for name, value in out.items()}
    for value in given.values():
        if "\n" in value or "\r" in value:
            raise ValueError("header values must not contain line breaks")
    date = format_datetime(now.astimezone(UTC), usegmt=True)
    out["Host"] = host
    out["Date"] = date
    body_hash = hashlib.sha256(body).digest() if body is not None else None

    if scheme is SignatureScheme.CAVAGE:
        covered = ["(request-target)", "host", "date"]
        lines = [f"(request-target): {method.lower()} {target}", f"host: {host}", f"date: {date}"]
        if body_hash is not None:
            digest = f"SHA-256={_b64(body_hash)}"
            out["Digest"] = digest
            covered.append("digest")
            lines.append(f"digest: {digest}")
            extra = "content-type"
        else:
            extra = "accept"
        if extra in given:
            covered.append(extra)
            lines.append(f"{extra}: {given[extra]}")
        return UnsignedRequest(
            out, "\n".join(lines).encode("utf-8"), scheme, key_id, " ".join(covered)
        )

    components = ["@method", "@target-uri", "@authority"]
    lines = [
        f'"@method": {method.upper()}',
        f'"@target-uri": {url_scheme}://{host}{target}',
        f'"@authority": {host}',
    ]
    if body_hash is not None:
        content_digest = f"sha-256=:{_b64(body_hash)}:"
        out["Content-Digest"] = content_digest
        components.append("content-digest")
        lines.append(f'"content-digest": {content_digest}')
    if "content-type" in given:
        components.append("content-type")
        lines.append(f'"content-type": {given["content-type"]}')
    signature_params = (
        "(" + " ".join(f'"{c}"' for c in components) + ")"
        f';created={int(now.timestamp())};keyid="{key_id}";alg="rsa-v1_5-sha256"'
    )
    lines.append(f'"@signature-params": {signature_params}')
    return UnsignedRequest(out, "\n".join(lines).encode("utf-8"), scheme, key_id, signature_params)


# --------------------------------------------------------------------------
# Verification


def parse_signed_request(
    *,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes | None,
    url_scheme: str = "https",
) -> SignedRequest:
    """Parse the signature of a received request and check its body digest.

    `target` is the raw path with query string as received (aiohttp:
    `request.raw_path`); `headers` may be a plain dict in any case or
    aiohttp's `CIMultiDictProxy`; `body` is the exact bytes received.
    `url_scheme` is the scheme the sender used (behind a TLS proxy,
    "https"), needed for RFC 9421's `@target-uri`.

    Raises SignatureError with reason MISSING (no Signature or
    Signature-Input header), MALFORMED (unparsable, unsupported algorithm,
    or required coverage absent: Date or (created); (request-target) or a
    digest; Host on GET; a digest on POST; for RFC 9421 also keyid, created,
    @method and the target URI), or DIGEST_MISMATCH (a covered Digest or
    Content-Digest does not match `body`).
    """
    h = _normalise_headers(headers)
    method = method.upper()
    signature_input = h.get("signature-input")
    if signature_input is not None:
        signature_header = h.get("signature")
        if signature_header is None:
            raise _malformed("Signature-Input without Signature header")
        return _parse_rfc9421(
            method, target, h, body, signature_input, signature_header, url_scheme
        )
    signature_header = h.get("signature")
    if signature_header is None:
        raise SignatureError(SignatureReason.MISSING, "request is not signed")
    return _parse_cavage(method, target, h, body, signature_header)


def check_time_window(req: SignedRequest, now: datetime) -> None:
    """Raise SignatureError(EXPIRED) unless `req` is fresh at `now`, by Mastodon's rule.

    The reference time is `created`, else `Date`. It may be up to 1 h in the
    future. The request expires at `expires`, else reference + 5 min, at
    the latest reference + 12 h, and is accepted until 1 h after that. So a
    plain `Date` may be about 65 minutes old.
    """
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    reference = req.created if req.created is not None else req.date
    if reference is None:  # parse_signed_request guarantees one; be safe anyway
        raise _malformed("signature covers neither Date nor (created)")
    if reference > now + CLOCK_SKEW:
        raise SignatureError(
            SignatureReason.EXPIRED, f"signature time {reference.isoformat()} is in the future"
        )
    latest = reference + MAX_VALIDITY
    expires = req.expires if req.expires is not None else reference + DEFAULT_VALIDITY
    if now > min(expires, latest) + CLOCK_SKEW:
        raise SignatureError(
            SignatureReason.EXPIRED, f"signature from {reference.isoformat()} has expired"
        )


def verify_signature(req: SignedRequest, public_key_pem: str) -> None:
    """Check `req.signature` against `public_key_pem` (RSA, or Ed25519 where allowed).

    RSA keys verify `rsa-sha256`, `hs2019` and `rsa-v1_5-sha256` as PKCS#1
    v1.5 with SHA-256, as Mastodon does. Raises SignatureError with
    BAD_SIGNATURE, or KEY_UNAVAILABLE if the PEM cannot be parsed.
    """
    try:
        key = load_public_key(public_key_pem)
    except ParseError as exc:
        raise SignatureError(
            SignatureReason.KEY_UNAVAILABLE, f"unusable public key for {req.key_id}: {exc}"
        ) from None
    legacy = req.legacy_signing_string
    if _is_rsa(key):
        if req.algorithm in _RSA_ALGORITHMS:
            try:
                key.verify(req.signature, req.signing_string, _PKCS1v15, _SHA256)
                return
            except InvalidSignature:
                pass
            if legacy is not None:
                try:
                    key.verify(req.signature, legacy, _PKCS1v15, _SHA256)
                    return
                except InvalidSignature:
                    pass
    elif req.algorithm in _ED25519_ALGORITHMS:
        ed_key = cast(ed25519.Ed25519PublicKey, key)  # PublicKey has two members
        try:
            ed_key.verify(req.signature, req.signing_string)
            return
        except InvalidSignature:
            pass
        if legacy is not None:
            try:
                ed_key.verify(req.signature, legacy)
                return
            except InvalidSignature:
                pass
    raise SignatureError(
        SignatureReason.BAD_SIGNATURE, f"signature does not verify with key {req.key_id}"
    )


_KEY_TYPES_SEEN: dict[type, bool] = {}


def _is_rsa(key: PublicKey) -> TypeGuard[rsa.RSAPublicKey]:
    """isinstance against cryptography's ABCs costs more than the rest of the
    wrapper around verify; there are only ever two concrete classes."""
    kind = type(key)
    is_rsa = _KEY_TYPES_SEEN.get(kind)
    if is_rsa is None:
        is_rsa = _KEY_TYPES_SEEN[kind] = isinstance(key, rsa.RSAPublicKey)
    return is_rsa


async def verify_request(
    *,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes | None,
    resolver: KeyResolver,
    now: datetime,
    url_scheme: str = "https",
) -> VerifiedRequest:
    """Verify a received request end to end; what the inbox calls.

    Parse and check the digest, check the time window (before any key
    lookup, so stale replays cost no network), resolve the key, verify.
    If the signature does not verify with the cached key, resolve once more
    with `refresh=True` and verify again: the sender may have rotated its
    key. Arguments as for `parse_signed_request`. Raises SignatureError; see
    there and `verify_signature` for the reasons.
    """
    req = parse_signed_request(
        method=method, target=target, headers=headers, body=body, url_scheme=url_scheme
    )
    check_time_window(req, now)
    key = await resolver(req.key_id, refresh=False)
    try:
        verify_signature(req, key.public_key_pem)
    except SignatureError as exc:
        if exc.reason not in (SignatureReason.BAD_SIGNATURE, SignatureReason.KEY_UNAVAILABLE):
            raise
        key = await resolver(req.key_id, refresh=True)
        verify_signature(req, key.public_key_pem)
    return VerifiedRequest(req.key_id, key.owner, req.scheme)


def require_owner(verified: VerifiedRequest, actor_uri: str) -> None:
    """Raise SignatureError(OWNER_MISMATCH) unless the signing key belongs to `actor_uri`.

    Mastodon and Fedify drop activities whose signer is not their `actor`.
    """
    if verified.owner != actor_uri:
        raise SignatureError(
            SignatureReason.OWNER_MISMATCH,
            f"key {verified.key_id} belongs to {verified.owner}, not to {actor_uri}",
        )


# --------------------------------------------------------------------------
# draft-cavage-12


def _parse_cavage(
    method: str, target: str, h: dict[str, str], body: bytes | None, header: str
) -> SignedRequest:
    params = _parse_cavage_params(header)
    key_id = params.get("keyid")
    encoded = params.get("signature")
    if not key_id or encoded is None:
        raise _malformed("Signature header needs keyId and signature")
    # A missing algorithm means hs2019 (Mastodon); both are RSA-SHA256 there.
    algorithm, covered = _cavage_coverage(
        params.get("algorithm", "hs2019"), params.get("headers", "date"), method
    )

    try:
        signature = binascii.a2b_base64(encoded, strict_mode=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text
        raise _malformed("signature is not valid base64") from None
    lines: list[str] = []
    target_index = -1
    for name in covered:
        if name == "(request-target)":
            target_index = len(lines)
            lines.append(f"(request-target): {method.lower()} {target}")
        elif name == "(created)" or name == "(expires)":
            value = params.get(name[1:-1])
            if value is None:
                raise _malformed(f"signature covers {name} but has no {name[1:-1]} parameter")
            lines.append(f"{name}: {value}")
        else:
            value = h.get(name)
            if value is None:
                raise _malformed(f"signed header {name!r} is missing")
            lines.append(f"{name}: {value.strip()}")
    signing_string = _encode_lines(lines)
    legacy: bytes | None = None
    if target_index >= 0 and "?" in target:
        lines[target_index] = f"(request-target): {method.lower()} {target.partition('?')[0]}"
        legacy = _encode_lines(lines)

    if "digest" in covered:
        _check_digest(h["digest"], body)
    if "content-digest" in covered:
        _check_content_digest(h["content-digest"], body)

    return SignedRequest(  # positional: this is the hot path
        key_id,
        _CAVAGE,
        algorithm,
        signature,
        signing_string,
        legacy,
        _unix_time(params["created"]) if "(created)" in covered else None,
        _unix_time(params["expires"]) if "(expires)" in covered else None,
        _parse_http_date(h["date"]) if "date" in covered else None,
        covered,
    )


@functools.lru_cache(maxsize=256)
def _cavage_coverage(algorithm: str, headers: str, method: str) -> tuple[str, tuple[str, ...]]:
    """Check the algorithm and Mastodon's required coverage; cached, as peers repeat themselves.

    Returns the lower-cased algorithm and covered header names.
    """
    algorithm = algorithm.lower()
    if algorithm not in _CAVAGE_ALGORITHMS:
        raise _malformed(f"unsupported signature algorithm {algorithm[:40]!r}")
    covered = tuple(headers.lower().split())
    if "date" not in covered and "(created)" not in covered:
        raise _malformed("signature must cover Date or (created)")
    if "(request-target)" not in covered and "digest" not in covered:
        raise _malformed("signature must cover (request-target) or Digest")
    if method in _BODILESS_HOST_METHODS and "host" not in covered:
        raise _malformed(f"signature on {method} must cover Host")
    if method == "POST" and "digest" not in covered and "content-digest" not in covered:
        raise _malformed("signature on POST must cover Digest")
    if algorithm != "hs2019" and ("(created)" in covered or "(expires)" in covered):
        raise _malformed(f"(created) and (expires) are not allowed with {algorithm}")
    return algorithm, covered


def _parse_cavage_params(header: str) -> dict[str, str]:
    if "\\" in header:
        return _parse_cavage_params_escaped(header)
    pieces = header.split('"')
    if len(pieces) % 2 == 0:
        raise _malformed("unbalanced quotes in Signature header")
    quoted = iter(pieces[1::2])
    return {name: bare or next(quoted) for name, bare in _skeleton('""'.join(pieces[0::2]))}


@functools.lru_cache(maxsize=256)
def _skeleton(skeleton: str) -> tuple[tuple[str, str], ...]:
    """Parameter names and unquoted values of a Signature header with its quoted values emptied.

    Python's regex engine scans a 344-character signature one character at a
    time, while str.split finds the quotes with memchr; and the skeleton is
    the same for every request from the same software, hence the cache.
    """
    if _SKELETON.fullmatch(skeleton) is None:
        raise _malformed("unparsable Signature header")
    # An unquoted value is never empty, so an empty one marks a quoted value.
    params = tuple((name.lower(), bare) for name, _, bare in _SKELETON_PARAM.findall(skeleton))
    if len({name for name, _ in params}) != len(params):
        raise _malformed("a parameter appears twice in the Signature header")
    return params


def _parse_cavage_params_escaped(header: str) -> dict[str, str]:
    """Slow path for the rare header with backslash escapes in quoted values."""
    params: dict[str, str] = {}
    match = _CAVAGE_PARAM.match
    pos, end = 0, len(header)
    while pos < end:
        m = match(header, pos)
        if m is None or len(params) >= 16:
            raise _malformed("unparsable Signature header")
        name = m.group(1).lower()
        if name in params:
            raise _malformed(f"{name!r} appears twice in the Signature header")
        quoted = m.group(2)
        params[name] = m.group(3) if quoted is None else _BACKSLASH_ESCAPE.sub(r"\1", quoted)
        pos = m.end()
    return params


def _unix_time(value: str) -> datetime:
    if _UNIX_TIME.match(value) is None:
        raise _malformed(f"not a Unix time: {value[:40]!r}")
    return _from_timestamp(int(value.partition(".")[0]))


# --------------------------------------------------------------------------
# RFC 9421


def _parse_rfc9421(
    method: str,
    target: str,
    h: dict[str, str],
    body: bytes | None,
    signature_input: str,
    signature_header: str,
    url_scheme: str,
) -> SignedRequest:
    try:
        inputs = _SFParser(signature_input).dictionary()
        signatures = dict(_SFParser(signature_header).dictionary())
    except _SFError as exc:
        raise _malformed(f"unparsable RFC 9421 signature headers: {exc}") from None
    # Use the first signature in a format we support; peers that double-sign
    # (e.g. Ed25519 and RSA) list theirs in preference order.
    chosen: tuple[str, _InnerList] | None = None
    for label, member in inputs:
        if isinstance(member, _InnerList):
            alg = member.params.get("alg")
            if alg is None or alg in _RFC9421_ALGORITHMS:
                chosen = (label, member)
                break
    if chosen is None:
        raise _malformed("Signature-Input holds no signature in a supported algorithm")
    label, spec = chosen
    signed = signatures.get(label)
    if not isinstance(signed, _Item) or not isinstance(signed.value, bytes):
        raise _malformed(f"Signature header has no byte sequence for {label!r}")

    key_id = spec.params.get("keyid")
    if type(key_id) is not str or not key_id:
        raise _malformed("Signature-Input needs a keyid string")
    created = spec.params.get("created")
    if type(created) is not int:
        raise _malformed("Signature-Input needs an integer created")
    expires = spec.params.get("expires")
    if expires is not None and type(expires) is not int:
        raise _malformed("expires must be an integer")
    alg = spec.params.get("alg")
    algorithm = alg if isinstance(alg, str) else ""

    names: list[str] = []
    for item in spec.items:
        if type(item.value) is not str or item.params:
            raise _malformed("unsupported RFC 9421 component identifier")
        names.append(item.value)
    covered = tuple(name.lower() for name in names)

    has_query = "?" in target
    authority = "@authority" in covered or "host" in covered
    path = "@request-target" in covered or (
        "@path" in covered and ("@query" in covered or not has_query)
    )
    if "@method" not in covered or not ("@target-uri" in covered or (authority and path)):
        raise _malformed("signature must cover @method and @target-uri")
    if method == "POST" and "content-digest" not in covered and "digest" not in covered:
        raise _malformed("signature on POST must cover Content-Digest")

    lines: list[str] = []
    for name, lname in zip(names, covered, strict=True):
        lines.append(f"{_sf_string(name)}: {_component(lname, method, target, h, url_scheme)}")
    lines.append(f'"@signature-params": {_serialize_inner_list(spec)}')
    signing_string = _encode_lines(lines)

    if "digest" in covered:
        _check_digest(h["digest"], body)
    if "content-digest" in covered:
        _check_content_digest(h["content-digest"], body)

    return SignedRequest(
        key_id=key_id,
        scheme=SignatureScheme.RFC9421,
        algorithm=algorithm,
        signature=signed.value,
        signing_string=signing_string,
        legacy_signing_string=None,
        created=_from_timestamp(created),
        expires=_from_timestamp(expires) if expires is not None else None,
        date=None,
        covered=covered,
    )


def _component(name: str, method: str, target: str, h: dict[str, str], url_scheme: str) -> str:
    """The value of one RFC 9421 component for the signature base (RFC 9421 section 2)."""
    if not name.startswith("@"):
        value = h.get(name)
        if value is None:
            raise _malformed(f"signed header {name!r} is missing")
        return value.strip()
    if name == "@method":
        return method
    if name == "@request-target":
        return target
    if name == "@path":
        return target.partition("?")[0] or "/"
    if name == "@query":
        return "?" + target.partition("?")[2]
    if name == "@scheme":
        return url_scheme.lower()
    host = h.get("host")
    if host is None:
        raise _malformed(f"{name} needs a Host header")
    host = host.strip().lower()
    if name == "@authority":
        return host
    if name == "@target-uri":
        return f"{url_scheme.lower()}://{host}{target}"
    raise _malformed(f"unsupported RFC 9421 component {name!r}")


# --------------------------------------------------------------------------
# Shared helpers


def _normalise_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Lower-case names; repeated fields (aiohttp's CIMultiDictProxy keeps them
    apart) are joined with ", ", as HTTP defines."""
    h = {name.lower(): value for name, value in headers.items()}
    if len(h) == len(headers):
        return h
    h = {}
    for name, value in headers.items():
        name = name.lower()
        h[name] = f"{h[name]}, {value}" if name in h else value
    return h


def _encode_lines(lines: list[str]) -> bytes:
    # aiohttp decodes header bytes as UTF-8 with surrogateescape; this restores them.
    try:
        return "\n".join(lines).encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise _malformed("signed values are not valid header text") from None


def _from_timestamp(seconds: int) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise _malformed(f"timestamp {seconds} out of range") from None


@functools.lru_cache(maxsize=1024)
def _parse_http_date(value: str) -> datetime:
    """An HTTP-date (RFC 9110 section 5.6.7); raises MALFORMED.

    Cached because every request signed within the same second carries the
    same string, and parsing is a noticeable share of a verification.
    """
    m = _IMF_FIXDATE.fullmatch(value.strip())
    if m is not None:
        day, month, year, hour, minute, second = m.groups()
        try:
            return datetime(
                int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=UTC
            )
        except ValueError:
            raise _malformed(f"invalid Date header {value[:40]!r}") from None
    # rfc850-date and asctime-date, which RFC 9110 still asks recipients to accept.
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        raise _malformed(f"invalid Date header {value[:40]!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _require_aware(now: datetime) -> None:
    if now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")


def _check_digest(value: str, body: bytes | None) -> None:
    """RFC 3230 `Digest`: the SHA-256 entry must match `body` exactly.

    The algorithm name is case-insensitive: Mastodon sends `SHA-256`, bovine
    and Fedify `sha-256`.
    """
    algorithm, _, encoded = value.partition("=")
    if "," not in value and algorithm.lower() == "sha-256":  # the usual single entry
        if encoded != _b64(hashlib.sha256(body or b"").digest()):
            raise SignatureError(SignatureReason.DIGEST_MISMATCH, "Digest does not match the body")
        return
    for entry in value.split(","):
        algorithm, _, encoded = entry.partition("=")
        if algorithm.strip().lower() == "sha-256":
            if encoded.strip() != _b64(hashlib.sha256(body or b"").digest()):
                raise SignatureError(
                    SignatureReason.DIGEST_MISMATCH, "Digest does not match the body"
                )
            return
    raise _malformed("Digest header has no SHA-256 entry")


_CONTENT_DIGESTS: Final = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}


def _check_content_digest(value: str, body: bytes | None) -> None:
    """RFC 9530 `Content-Digest`: every sha-256/sha-512 entry must match `body`."""
    try:
        members = _SFParser(value).dictionary()
    except _SFError:
        raise _malformed("unparsable Content-Digest header") from None
    checked = False
    for algorithm, member in members:
        digest = _CONTENT_DIGESTS.get(algorithm)
        if digest is None:
            continue
        if not isinstance(member, _Item) or not isinstance(member.value, bytes):
            raise _malformed(f"Content-Digest {algorithm} is not a byte sequence")
        if member.value != digest(body or b"").digest():
            raise SignatureError(
                SignatureReason.DIGEST_MISMATCH, "Content-Digest does not match the body"
            )
        checked = True
    if not checked:
        raise _malformed("Content-Digest has no sha-256 or sha-512 entry")


# --------------------------------------------------------------------------
# Just enough RFC 8941 structured fields for Signature-Input, Signature and
# Content-Digest, including serialisation for `@signature-params`. Kept instead of
# `http_sf` for speed (see the module docstring for the figures);
# tests/federation/test_signatures.py checks it against `http_sf`.


class _Token(str):
    """An RFC 8941 token, kept apart from strings because they serialise differently."""

    __slots__ = ()


BareItem = str | int | float | bytes | bool


@dataclass(frozen=True, slots=True)
class _Item:
    value: BareItem
    params: dict[str, BareItem]


@dataclass(frozen=True, slots=True)
class _InnerList:
    items: tuple[_Item, ...]
    params: dict[str, BareItem]


class _SFError(Exception):
    """Structured field text does not follow RFC 8941; mapped to MALFORMED by callers."""


# Each lexeme is scanned by one regex call: a Python loop per character would
# let a long header cost milliseconds.
_SF_KEY: Final = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_SF_TOKEN: Final = re.compile(r"[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]*")
_SF_STRING: Final = re.compile(r'"((?:[ !#-\[\]-~]|\\["\\])*+)"')
_SF_NUMBER: Final = re.compile(r"-?([0-9]+)(?:\.([0-9]*))?")
_SF_BYTES: Final = re.compile(r":([A-Za-z0-9+/=]*):")
_SF_ESCAPE: Final = re.compile(r"\\(.)")
# Our cap, not RFC 8941's: no legitimate signature or digest field comes
# close, and it bounds the work an unauthenticated request can cause.
_MAX_SF_MEMBERS: Final = 16


class _SFParser:
    __slots__ = ("_i", "_n", "_s")

    def __init__(self, text: str) -> None:
        self._s = text
        self._i = 0
        self._n = len(text)

    def _peek(self) -> str:
        return self._s[self._i] if self._i < self._n else ""

    def _skip(self, chars: str) -> None:
        while self._i < self._n and self._s[self._i] in chars:
            self._i += 1

    def _lexeme(self, pattern: re.Pattern[str], what: str) -> re.Match[str]:
        m = pattern.match(self._s, self._i)
        if m is None:
            raise _SFError(f"expected {what} at {self._i}")
        self._i = m.end()
        return m

    def dictionary(self) -> list[tuple[str, _Item | _InnerList]]:
        """Parse the text as an RFC 8941 dictionary, of at most _MAX_SF_MEMBERS members."""
        members: dict[str, _Item | _InnerList] = {}
        self._skip(" ")
        if self._i >= self._n:
            raise _SFError("empty dictionary")
        for _ in range(_MAX_SF_MEMBERS):
            key = self._lexeme(_SF_KEY, "a key").group()
            if self._peek() == "=":
                self._i += 1
                members[key] = self._member()
            else:
                members[key] = _Item(True, self._params())
            self._skip(" \t")
            if self._i >= self._n:
                return list(members.items())
            if self._s[self._i] != ",":
                raise _SFError(f"expected ',' at {self._i}")
            self._i += 1
            self._skip(" \t")
            if self._i >= self._n:
                raise _SFError("trailing comma")
        raise _SFError("too many members")

    def _member(self) -> _Item | _InnerList:
        if self._peek() != "(":
            return self._item()
        self._i += 1
        items: list[_Item] = []
        for _ in range(_MAX_SF_MEMBERS + 1):
            self._skip(" ")
            if self._peek() == ")":
                self._i += 1
                return _InnerList(tuple(items), self._params())
            items.append(self._item())
            if self._peek() not in (" ", ")"):
                raise _SFError(f"bad inner list at {self._i}")
        raise _SFError("too many items in inner list")

    def _item(self) -> _Item:
        value = self._bare_item()
        return _Item(value, self._params())

    def _params(self) -> dict[str, BareItem]:
        params: dict[str, BareItem] = {}
        count = 0
        while self._peek() == ";":
            count += 1
            if count > _MAX_SF_MEMBERS:
                raise _SFError("too many parameters")
            self._i += 1
            self._skip(" ")
            key = self._lexeme(_SF_KEY, "a key").group()
            value: BareItem = True
            if self._peek() == "=":
                self._i += 1
                value = self._bare_item()
            params[key] = value
        return params

    def _bare_item(self) -> BareItem:
        c = self._peek()
        if c == '"':
            text = self._lexeme(_SF_STRING, "a string").group(1)
            return _SF_ESCAPE.sub(r"\1", text) if "\\" in text else text
        if c == ":":
            encoded = self._lexeme(_SF_BYTES, "a byte sequence").group(1)
            if "=" not in encoded:  # RFC 8941 4.2.7: don't insist on padding
                encoded += "=" * (-len(encoded) % 4)
            try:
                return binascii.a2b_base64(encoded, strict_mode=True)
            except binascii.Error:
                raise _SFError("bad base64 in byte sequence") from None
        if c == "?":
            flag = self._s[self._i + 1 : self._i + 2]
            if flag not in ("0", "1") or not flag:
                raise _SFError("bad boolean")
            self._i += 2
            return flag == "1"
        if c == "-" or "0" <= c <= "9":
            m = self._lexeme(_SF_NUMBER, "a number")
            whole, fraction = m.groups()
            if fraction is None:
                if len(whole) > 15:
                    raise _SFError("integer too long")
                return int(m.group())
            if len(whole) > 12 or not 1 <= len(fraction) <= 3:
                raise _SFError("bad decimal")
            return float(m.group())
        return _Token(self._lexeme(_SF_TOKEN, "an item").group())


def _sf_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _serialize_bare_item(value: BareItem) -> str:
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = f"{value:.3f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    if isinstance(value, bytes):
        return f":{_b64(value)}:"
    if isinstance(value, _Token):
        return str(value)
    return _sf_string(value)


def _serialize_params(params: dict[str, BareItem]) -> str:
    return "".join(
        f";{key}" if value is True else f";{key}={_serialize_bare_item(value)}"
        for key, value in params.items()
    )


def _serialize_inner_list(inner: _InnerList) -> str:
    """Canonical RFC 8941 form, which RFC 9421 signs as `@signature-params`."""
    items = " ".join(
        _serialize_bare_item(item.value) + _serialize_params(item.params) for item in inner.items
    )
    return f"({items}){_serialize_params(inner.params)}"
