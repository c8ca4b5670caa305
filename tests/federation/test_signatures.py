"""HTTP signatures: golden vectors, other implementations' vectors, boundaries, properties."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypedDict, cast

import http_sf
import pytest
from bovine.crypto.helper import content_digest_sha256, content_digest_sha256_rfc_9530
from bovine.crypto.http_signature import build_signature
from bovine.crypto.signature_checker import SignatureChecker
from bovine.crypto.types import CryptographicIdentifier, CryptographicSecret
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from federation import signatures
from federation.errors import FederationError
from federation.keys import load_private_key
from federation.signatures import (
    KeyResolver,
    ResolvedKey,
    SignatureError,
    SignatureReason,
    SignatureScheme,
    SignedRequest,
    check_time_window,
    parse_signed_request,
    require_owner,
    sign_request,
    verify_request,
    verify_signature,
)

VECTORS = Path(__file__).resolve().parent.parent / "vectors"


class KeyDoc(TypedDict):
    key_id: str
    owner: str
    public_key_pem: str


class PrivateKeyDoc(KeyDoc):
    private_key_pem: str


class VerifyCase(TypedDict):
    name: str
    method: str
    target: str
    headers: dict[str, str]
    body: str | None
    expect: str


class FedifyCase(VerifyCase):
    now: str
    url_scheme: str
    key: KeyDoc


class GoldenCase(TypedDict):
    name: str
    scheme: str
    method: str
    url: str
    headers: dict[str, str]
    body: str | None
    expected_headers: dict[str, str]


def _load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


TEST_KEY = cast(PrivateKeyDoc, _load("verbund_test_key.json"))
GOLDEN = _load("verbund_golden_signatures.json")
GOLDEN_NOW = datetime.fromisoformat(GOLDEN["now"])
GOLDEN_CASES = cast(list[GoldenCase], GOLDEN["cases"])
MASTODON = _load("mastodon_signature_verification.json")
MASTODON_KEY = cast(PrivateKeyDoc, MASTODON["key"])
MASTODON_CASES = cast(list[VerifyCase], MASTODON["cases"])
FEDIFY_CASES = cast(list[FedifyCase], _load("fedify_http_signatures.json")["cases"])

T0 = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
INBOX_URL = "https://beta.test/users/bob/inbox"
ACTIVITY = json.dumps(
    {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": "https://alpha.test/notes/1/activity",
        "type": "Create",
        "actor": TEST_KEY["owner"],
        "object": {"type": "Note", "content": "<p>Grüße</p>"},
    },
    ensure_ascii=False,
).encode()
AS_JSON = "application/activity+json"


def _key(doc: KeyDoc) -> ResolvedKey:
    return ResolvedKey(doc["key_id"], doc["owner"], doc["public_key_pem"])


def _body(text: str | None) -> bytes | None:
    return None if text is None else text.encode("utf-8")


class FakeResolver:
    """Serves `keys`; on `refresh=True` serves `fresh` instead, if given. Records every call."""

    def __init__(self, *keys: ResolvedKey, fresh: ResolvedKey | None = None) -> None:
        self.keys = {key.key_id: key for key in keys}
        self.fresh = fresh
        self.calls: list[tuple[str, bool]] = []

    async def __call__(self, key_id: str, *, refresh: bool) -> ResolvedKey:
        self.calls.append((key_id, refresh))
        if refresh and self.fresh is not None:
            return self.fresh
        try:
            return self.keys[key_id]
        except KeyError:
            raise SignatureError(SignatureReason.KEY_UNAVAILABLE, f"no key {key_id}") from None


def _signed_post(
    *,
    scheme: SignatureScheme = SignatureScheme.CAVAGE,
    now: datetime = T0,
    body: bytes = ACTIVITY,
    url: str = INBOX_URL,
) -> dict[str, str]:
    return sign_request(
        method="POST",
        url=url,
        headers={"Content-Type": AS_JSON},
        body=body,
        key_id=TEST_KEY["key_id"],
        private_key_pem=TEST_KEY["private_key_pem"],
        now=now,
        scheme=scheme,
    )


def _signed_get(
    *, scheme: SignatureScheme = SignatureScheme.CAVAGE, now: datetime = T0, url: str = INBOX_URL
) -> dict[str, str]:
    return sign_request(
        method="GET",
        url=url,
        headers={"Accept": AS_JSON},
        body=None,
        key_id=TEST_KEY["key_id"],
        private_key_pem=TEST_KEY["private_key_pem"],
        now=now,
        scheme=scheme,
    )


def _cavage(
    covered: list[str],
    values: Mapping[str, str],
    *,
    algorithm: str | None = "rsa-sha256",
    extra: str = "",
    private_key_pem: str = TEST_KEY["private_key_pem"],
) -> str:
    """A cavage Signature header over exactly `covered`, for shapes sign_request never makes."""
    message = "\n".join(f"{name}: {values[name]}" for name in covered).encode()
    raw = load_private_key(private_key_pem).sign(message, padding.PKCS1v15(), hashes.SHA256())
    algo = f'algorithm="{algorithm}",' if algorithm is not None else ""
    return (
        f'keyId="{TEST_KEY["key_id"]}",{algo}{extra}headers="{" ".join(covered)}",'
        f'signature="{base64.b64encode(raw).decode()}"'
    )


async def _verify(
    headers: Mapping[str, str],
    *,
    method: str = "POST",
    target: str = "/users/bob/inbox",
    body: bytes | None = ACTIVITY,
    now: datetime = T0,
    resolver: KeyResolver | None = None,
    url_scheme: str = "https",
) -> signatures.VerifiedRequest:
    return await verify_request(
        method=method,
        target=target,
        headers=headers,
        body=body,
        resolver=resolver or FakeResolver(_key(TEST_KEY)),
        now=now,
        url_scheme=url_scheme,
    )


async def _reason(call: Awaitable[object]) -> SignatureReason:
    with pytest.raises(SignatureError) as info:
        await call
    return info.value.reason


# --------------------------------------------------------------------------
# Golden vectors (ours)


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=lambda c: c["name"])
def test_sign_request_matches_golden_vectors_byte_for_byte(case: GoldenCase) -> None:
    headers = sign_request(
        method=case["method"],
        url=case["url"],
        headers=case["headers"],
        body=_body(case["body"]),
        key_id=TEST_KEY["key_id"],
        private_key_pem=TEST_KEY["private_key_pem"],
        now=GOLDEN_NOW,
        scheme=SignatureScheme(case["scheme"]),
    )
    assert headers == case["expected_headers"]
    assert list(headers) == list(case["expected_headers"])


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=lambda c: c["name"])
async def test_golden_vectors_verify(case: GoldenCase) -> None:
    url = case["url"]
    target = url[url.index("/", len("https://")) :]
    result = await _verify(
        case["expected_headers"],
        method=case["method"],
        target=target,
        body=_body(case["body"]),
        now=GOLDEN_NOW,
    )
    assert result.owner == TEST_KEY["owner"]
    assert result.scheme is SignatureScheme(case["scheme"])


def test_golden_rfc9421_signature_base_follows_the_rfc() -> None:
    """Rebuild the RFC 9421 signature base by hand, independent of our parser."""
    case = next(c for c in GOLDEN_CASES if c["scheme"] == "rfc9421")
    sent = case["expected_headers"]
    parsed = http_sf.parse(sent["Signature-Input"].encode(), tltype="dictionary")
    assert isinstance(parsed, dict)
    components, params = cast(
        tuple[list[tuple[str, dict[str, object]]], dict[str, object]], parsed["sig1"]
    )
    assert [name for name, _ in components] == [
        "@method",
        "@target-uri",
        "@authority",
        "content-digest",
        "content-type",
    ]
    assert params == {
        "created": int(GOLDEN_NOW.timestamp()),
        "keyid": TEST_KEY["key_id"],
        "alg": "rsa-v1_5-sha256",
    }
    assert sent["Content-Digest"] == http_sf.ser(
        {"sha-256": hashlib.sha256(_body(case["body"]) or b"").digest()}
    )
    base = "\n".join(
        [
            '"@method": POST',
            f'"@target-uri": {case["url"]}',
            '"@authority": beta.test',
            f'"content-digest": {sent["Content-Digest"]}',
            f'"content-type": {AS_JSON}',
            f'"@signature-params": {sent["Signature-Input"].removeprefix("sig1=")}',
        ]
    ).encode()
    signature = http_sf.parse(sent["Signature"].encode(), tltype="dictionary")
    assert isinstance(signature, dict)
    raw = cast(tuple[bytes, dict[str, object]], signature["sig1"])[0]
    public = serialization.load_pem_public_key(TEST_KEY["public_key_pem"].encode())
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(raw, base, padding.PKCS1v15(), hashes.SHA256())


# --------------------------------------------------------------------------
# Vectors from Mastodon's and Fedify's test suites


@pytest.mark.parametrize("case", MASTODON_CASES, ids=lambda c: c["name"])
async def test_mastodon_signature_verification_vectors(case: VerifyCase) -> None:
    resolver = FakeResolver(_key(MASTODON_KEY))
    call = _verify(
        case["headers"],
        method=case["method"],
        target=case["target"],
        body=_body(case["body"]),
        now=datetime.fromisoformat(MASTODON["now"]),
        resolver=resolver,
    )
    if case["expect"] == "ok":
        result = await call
        assert result.owner == MASTODON_KEY["owner"]
    else:
        assert await _reason(call) is SignatureReason(case["expect"])


@pytest.mark.parametrize("case", FEDIFY_CASES, ids=lambda c: c["name"])
async def test_fedify_vectors(case: FedifyCase) -> None:
    call = _verify(
        case["headers"],
        method=case["method"],
        target=case["target"],
        body=_body(case["body"]),
        now=datetime.fromisoformat(case["now"]),
        resolver=FakeResolver(_key(case["key"])),
        url_scheme=case["url_scheme"],
    )
    if case["expect"] == "ok":
        assert (await call).owner == case["key"]["owner"]
    else:
        assert await _reason(call) is SignatureReason(case["expect"])


# --------------------------------------------------------------------------
# bovine interop (bovine 0.5.19 is what the Python fediverse mostly uses)

BOVINE_DATE = "Wed, 15 Jan 2025 12:00:00 GMT"


def _bovine_helper(method: str, target: str) -> Any:
    """bovine's own builder for cavage signatures (used by its signed_get/signed_post)."""
    return build_signature("beta.test", method, target)  # type: ignore[no-untyped-call]


def _bovine_secret() -> CryptographicSecret:
    return CryptographicSecret.from_pem(TEST_KEY["key_id"], TEST_KEY["private_key_pem"])  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("digest_method", "digest_header"),
    [
        (lambda body: ("digest", content_digest_sha256(body)), "digest"),
        (content_digest_sha256_rfc_9530, "content-digest"),
    ],
    ids=["digest", "content-digest"],
)
async def test_bovine_signed_post_verifies(
    digest_method: Callable[[bytes], tuple[str, str]], digest_header: str
) -> None:
    """Mirrors bovine.clients.signed_http_methods.signed_post (lower-case `sha-256=`)."""
    name, digest = digest_method(ACTIVITY)
    assert name == digest_header
    helper = (
        _bovine_helper("post", "/users/bob/inbox")
        .with_field("date", BOVINE_DATE)
        .with_field(name, digest)
        .with_field("content-type", AS_JSON)
    )
    headers = {**helper.headers, "signature": helper.sign_for_http_draft(_bovine_secret())}
    result = await _verify(headers)
    assert result.owner == TEST_KEY["owner"]


async def test_bovine_signed_get_verifies() -> None:
    helper = (
        _bovine_helper("get", "/users/bob/outbox?page=true")
        .with_field("date", BOVINE_DATE)
        .with_field("accept", AS_JSON)
    )
    headers = {**helper.headers, "signature": helper.sign_for_http_draft(_bovine_secret())}
    result = await _verify(headers, method="GET", target="/users/bob/outbox?page=true", body=None)
    assert result.key_id == TEST_KEY["key_id"]


async def _bovine_validate(
    method: str, url: str, headers: Mapping[str, str], body: bytes
) -> str | None:
    async def key_retriever(key_id: str) -> CryptographicIdentifier | None:
        if key_id != TEST_KEY["key_id"]:
            return None
        return CryptographicIdentifier.from_pem(TEST_KEY["public_key_pem"], TEST_KEY["owner"])  # type: ignore[no-any-return]

    async def get_body() -> bytes:
        return body

    checker = SignatureChecker(key_retriever)
    lowered = {name.lower(): value for name, value in headers.items()}
    return await checker.validate_signature(method, url, lowered, get_body)


async def test_bovine_verifies_our_signed_post() -> None:
    # bovine's checker compares Date with its own clock (±5 min), so this one test signs "now".
    now = datetime.now(UTC)
    headers = _signed_post(now=now)
    assert await _bovine_validate("post", INBOX_URL, headers, ACTIVITY) == TEST_KEY["owner"]
    tampered = {**headers, "Content-Type": "application/ld+json"}
    assert await _bovine_validate("post", INBOX_URL, tampered, ACTIVITY) is None


async def test_bovine_verifies_our_signed_get() -> None:
    now = datetime.now(UTC)  # see test_bovine_verifies_our_signed_post
    url = "https://beta.test/users/bob"
    headers = _signed_get(now=now, url=url)
    assert await _bovine_validate("get", url, headers, b"") == TEST_KEY["owner"]


# --------------------------------------------------------------------------
# Time window (Mastodon's: 1 h skew, 5 min default validity, 12 h cap)


@pytest.mark.parametrize("scheme", list(SignatureScheme))
@pytest.mark.parametrize(
    ("offset", "ok"),
    [
        (timedelta(minutes=65), True),
        (timedelta(minutes=65, seconds=1), False),
        (timedelta(hours=-1), True),
        (timedelta(hours=-1, seconds=-1), False),
        (timedelta(0), True),
    ],
    ids=["65min-old", "65min1s-old", "1h-ahead", "1h1s-ahead", "now"],
)
async def test_time_window_boundaries(scheme: SignatureScheme, offset: timedelta, ok: bool) -> None:
    headers = _signed_post(scheme=scheme, now=T0)
    call = _verify(headers, now=T0 + offset)
    if ok:
        await call
    else:
        assert await _reason(call) is SignatureReason.EXPIRED


def _parsed(headers: Mapping[str, str]) -> SignedRequest:
    return parse_signed_request(
        method="POST", target="/users/bob/inbox", headers=headers, body=ACTIVITY
    )


@pytest.mark.parametrize(
    ("expires_after", "now_after", "ok"),
    [
        (timedelta(hours=10), timedelta(hours=11), True),
        (timedelta(hours=10), timedelta(hours=11, seconds=1), False),
        # An expiry beyond 12 h is capped at 12 h.
        (timedelta(hours=24), timedelta(hours=13), True),
        (timedelta(hours=24), timedelta(hours=13, seconds=1), False),
    ],
)
def test_time_window_honours_expires_capped_at_12h(
    expires_after: timedelta, now_after: timedelta, ok: bool
) -> None:
    req = dataclasses.replace(
        _parsed(_signed_post(scheme=SignatureScheme.RFC9421)), expires=T0 + expires_after
    )
    if ok:
        check_time_window(req, T0 + now_after)
    else:
        with pytest.raises(SignatureError) as info:
            check_time_window(req, T0 + now_after)
        assert info.value.reason is SignatureReason.EXPIRED


def test_time_window_prefers_covered_created_over_date() -> None:
    req = dataclasses.replace(_parsed(_signed_post()), created=T0 - timedelta(days=1))
    with pytest.raises(SignatureError):
        check_time_window(req, T0)


def test_time_window_requires_aware_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        check_time_window(_parsed(_signed_post()), T0.replace(tzinfo=None))


async def test_hs2019_created_and_expires_are_used_when_covered() -> None:
    created, expires = int(T0.timestamp()), int(T0.timestamp()) + 3600
    headers = _signed_post()
    values = {
        "(request-target)": "post /users/bob/inbox",
        "(created)": str(created),
        "(expires)": str(expires),
        "host": headers["Host"],
        "digest": headers["Digest"],
    }
    headers["Signature"] = _cavage(
        ["(request-target)", "(created)", "(expires)", "host", "digest"],
        values,
        algorithm="hs2019",
        extra=f'created={created},expires="{expires}",',
    )
    req = _parsed(headers)
    assert (req.created, req.expires, req.date) == (T0, T0 + timedelta(hours=1), None)
    await _verify(headers, now=T0 + timedelta(hours=2))
    assert await _reason(_verify(headers, now=T0 + timedelta(hours=2, seconds=1))) is (
        SignatureReason.EXPIRED
    )


async def test_created_with_rsa_sha256_is_malformed() -> None:
    created = str(int(T0.timestamp()))
    headers = _signed_post()
    values = {
        "(request-target)": "post /users/bob/inbox",
        "(created)": created,
        "digest": headers["Digest"],
        "host": headers["Host"],
    }
    headers["Signature"] = _cavage(
        ["(request-target)", "(created)", "host", "digest"], values, extra=f"created={created},"
    )
    assert await _reason(_verify(headers)) is SignatureReason.MALFORMED


# --------------------------------------------------------------------------
# Digests and required coverage


async def test_tampered_body_is_a_digest_mismatch() -> None:
    headers = _signed_post()
    assert await _reason(_verify(headers, body=ACTIVITY + b" ")) is SignatureReason.DIGEST_MISMATCH


async def test_rfc9421_tampered_body_is_a_digest_mismatch() -> None:
    headers = _signed_post(scheme=SignatureScheme.RFC9421)
    assert await _reason(_verify(headers, body=b"{}")) is SignatureReason.DIGEST_MISMATCH


@pytest.mark.parametrize(
    ("digest", "reason"),
    [
        # Hex instead of base64 (mastodon#22536)
        ("SHA-256=" + hashlib.sha256(ACTIVITY).hexdigest(), SignatureReason.DIGEST_MISMATCH),
        (
            "SHA-512=" + base64.b64encode(hashlib.sha512(ACTIVITY).digest()).decode(),
            SignatureReason.MALFORMED,
        ),
        ("garbage", SignatureReason.MALFORMED),
    ],
    ids=["hex", "sha512-only", "garbage"],
)
async def test_bad_digest_headers(digest: str, reason: SignatureReason) -> None:
    headers = _signed_post()
    headers["Digest"] = digest
    assert await _reason(_verify(headers)) is reason


async def test_digest_accepts_several_algorithms_and_any_case() -> None:
    headers = _signed_post()
    sha512 = base64.b64encode(hashlib.sha512(ACTIVITY).digest()).decode()
    digest = f"sha-512={sha512}, {headers['Digest'].replace('SHA-256', 'sha-256')}"
    values = {
        "(request-target)": "post /users/bob/inbox",
        "host": headers["Host"],
        "date": headers["Date"],
        "digest": digest,
    }
    headers["Digest"] = digest
    headers["Signature"] = _cavage(list(values), values)
    await _verify(headers)


async def test_post_without_covered_digest_is_malformed() -> None:
    headers = _signed_post()
    values = {
        "(request-target)": "post /users/bob/inbox",
        "host": headers["Host"],
        "date": headers["Date"],
        "content-type": AS_JSON,
    }
    headers["Signature"] = _cavage(list(values), values)
    assert await _reason(_verify(headers)) is SignatureReason.MALFORMED


async def test_get_without_request_target_is_malformed() -> None:
    headers = _signed_get()
    values = {"host": headers["Host"], "date": headers["Date"], "accept": AS_JSON}
    headers["Signature"] = _cavage(list(values), values)
    call = _verify(headers, method="GET", body=None)
    assert await _reason(call) is SignatureReason.MALFORMED


async def test_post_covering_digest_but_not_request_target_is_accepted_like_mastodon() -> None:
    headers = _signed_post()
    values = {"host": headers["Host"], "date": headers["Date"], "digest": headers["Digest"]}
    headers["Signature"] = _cavage(list(values), values)
    await _verify(headers)


async def test_get_without_host_is_malformed() -> None:
    headers = _signed_get()
    values = {"(request-target)": "get /users/bob/inbox", "date": headers["Date"]}
    headers["Signature"] = _cavage(list(values), values)
    assert await _reason(_verify(headers, method="GET", body=None)) is SignatureReason.MALFORMED


async def test_signature_without_date_or_created_is_malformed() -> None:
    headers = _signed_post()
    values = {
        "(request-target)": "post /users/bob/inbox",
        "host": headers["Host"],
        "digest": headers["Digest"],
    }
    headers["Signature"] = _cavage(list(values), values)
    assert await _reason(_verify(headers)) is SignatureReason.MALFORMED


async def test_covered_header_that_is_absent_is_malformed() -> None:
    headers = _signed_post()
    del headers["Content-Type"]
    assert await _reason(_verify(headers)) is SignatureReason.MALFORMED


async def test_missing_signature_header() -> None:
    headers = _signed_post()
    del headers["Signature"]
    assert await _reason(_verify(headers)) is SignatureReason.MISSING


async def test_signature_input_without_signature_is_malformed() -> None:
    headers = _signed_post(scheme=SignatureScheme.RFC9421)
    del headers["Signature"]
    assert await _reason(_verify(headers)) is SignatureReason.MALFORMED


@pytest.mark.parametrize("algorithm", ["hs2019", "HS2019", None], ids=["hs2019", "upper", "absent"])
async def test_hs2019_and_missing_algorithm_are_verified_as_rsa_sha256(
    algorithm: str | None,
) -> None:
    headers = _signed_post()
    values = {
        "(request-target)": "post /users/bob/inbox",
        "host": headers["Host"],
        "date": headers["Date"],
        "digest": headers["Digest"],
        "content-type": AS_JSON,
    }
    headers["Signature"] = _cavage(list(values), values, algorithm=algorithm)
    result = await _verify(headers)
    assert result.owner == TEST_KEY["owner"]


@pytest.mark.parametrize("algorithm", ["rsa-sha512", "ed25519", "hmac-sha256"])
async def test_unsupported_cavage_algorithms_are_malformed(algorithm: str) -> None:
    headers = _signed_post()
    headers["Signature"] = headers["Signature"].replace("rsa-sha256", algorithm)
    assert await _reason(_verify(headers)) is SignatureReason.MALFORMED


async def test_signature_header_is_parsed_tolerantly() -> None:
    headers = _signed_post()
    signature = headers["Signature"].rpartition('signature="')[2].rstrip('"')
    headers["Signature"] = (
        f'  keyId = "{TEST_KEY["key_id"]}" ,  algorithm=rsa-sha256,'
        f'\theaders="(request-target) host date digest content-type", signature="{signature}" '
    )
    await _verify(headers)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "keyId",
        'keyId="a",keyId="b",headers="date",signature="AAAA"',
        'keyId="https://a/#k",headers="date",signature="not base64!"',
        'headers="(request-target) host date digest",signature="AAAA"',
        'keyId="https://a/#k",headers="(request-target) host date digest"',
        'keyId="https://a/#k" signature="AAAA"',
        'keyId="https://a/#k",signature="AAAA",headers="(request-target) host date digest" x',
    ],
)
async def test_malformed_signature_headers(header: str) -> None:
    headers = _signed_post()
    headers["Signature"] = header
    assert await _reason(_verify(headers)) is SignatureReason.MALFORMED


async def test_headers_are_looked_up_case_insensitively() -> None:
    signed = _signed_post()
    await _verify({name.lower(): value for name, value in signed.items()})
    await _verify({name.upper(): value for name, value in signed.items()})
    await _verify(CIMultiDictProxy(CIMultiDict(signed)))


async def test_repeated_header_fields_are_joined_before_checking() -> None:
    signed = _signed_post()
    multi = CIMultiDict(signed)
    multi.add("Content-Type", "text/html")
    assert await _reason(_verify(CIMultiDictProxy(multi))) is SignatureReason.BAD_SIGNATURE


# --------------------------------------------------------------------------
# Request target, query strings, schemes


async def test_query_string_is_signed() -> None:
    url = "https://beta.test/users/bob/outbox?page=2"
    headers = _signed_get(url=url)
    await _verify(headers, method="GET", target="/users/bob/outbox?page=2", body=None)
    call = _verify(headers, method="GET", target="/users/bob/outbox?page=3", body=None)
    assert await _reason(call) is SignatureReason.BAD_SIGNATURE


async def test_signature_without_query_is_accepted_as_legacy_form() -> None:
    """Fedify and Mastodon before 4.3 leave the query out of (request-target)."""
    headers = _signed_get(url="https://beta.test/users/bob/outbox")
    req = parse_signed_request(
        method="GET", target="/users/bob/outbox?page=2", headers=headers, body=None
    )
    assert req.legacy_signing_string is not None
    await _verify(headers, method="GET", target="/users/bob/outbox?page=2", body=None)


async def test_rfc9421_target_uri_includes_scheme() -> None:
    headers = _signed_post(scheme=SignatureScheme.RFC9421)
    assert await _reason(_verify(headers, url_scheme="http")) is SignatureReason.BAD_SIGNATURE


async def test_method_is_signed() -> None:
    headers = _signed_post()
    assert await _reason(_verify(headers, method="PUT")) is SignatureReason.BAD_SIGNATURE


# --------------------------------------------------------------------------
# RFC 9421 specifics


def _rfc9421(
    components: list[tuple[str, str]],
    params: str,
    *,
    sign: Callable[[bytes], bytes] | None = None,
    label: str = "sig1",
) -> dict[str, str]:
    """Signature-Input and Signature over `components` (name, value), params verbatim."""
    inner = "(" + " ".join(f'"{name}"' for name, _ in components) + ")" + params
    base = "\n".join([*(f'"{n}": {v}' for n, v in components), f'"@signature-params": {inner}'])
    signer = sign or (
        lambda m: load_private_key(TEST_KEY["private_key_pem"]).sign(
            m, padding.PKCS1v15(), hashes.SHA256()
        )
    )
    raw = signer(base.encode())
    return {
        "Signature-Input": f"{label}={inner}",
        "Signature": f"{label}=:{base64.b64encode(raw).decode()}:",
    }


def _rfc9421_post(params: str, components: list[str] | None = None) -> dict[str, str]:
    headers = _signed_post(scheme=SignatureScheme.RFC9421)
    values = {
        "@method": "POST",
        "@target-uri": INBOX_URL,
        "@authority": "beta.test",
        "@path": "/users/bob/inbox",
        "@query": "?",
        "@scheme": "https",
        "@request-target": "/users/bob/inbox",
        "content-digest": headers["Content-Digest"],
        "content-type": AS_JSON,
    }
    chosen = components or ["@method", "@target-uri", "content-digest"]
    headers.update(_rfc9421([(name, values[name]) for name in chosen], params))
    return headers


KEYID = f';keyid="{TEST_KEY["key_id"]}"'
CREATED = f";created={int(T0.timestamp())}"


@pytest.mark.parametrize(
    "components",
    [
        ["@method", "@authority", "@path", "content-digest"],
        ["@method", "@authority", "@path", "@query", "content-digest", "@scheme"],
        ["@method", "@authority", "@request-target", "content-digest"],
        ["content-digest", "@target-uri", "@method", "content-type"],
    ],
)
async def test_rfc9421_accepts_equivalent_target_coverage(components: list[str]) -> None:
    result = await _verify(_rfc9421_post(CREATED + KEYID, components))
    assert result.scheme is SignatureScheme.RFC9421


@pytest.mark.parametrize(
    ("params", "components"),
    [
        (KEYID, None),  # no created
        (CREATED, None),  # no keyid
        (CREATED + ';keyid=tok"', None),
        (';created="1736942400"' + KEYID, None),
        (CREATED + KEYID + ';alg="rsa-pss-sha512"', None),
        (CREATED + KEYID, ["@target-uri", "content-digest"]),  # no @method
        (CREATED + KEYID, ["@method", "@target-uri"]),  # POST without content-digest
        (CREATED + KEYID, ["@method", "@path", "content-digest"]),  # no authority
    ],
)
async def test_rfc9421_requirements(params: str, components: list[str] | None) -> None:
    assert await _reason(_verify(_rfc9421_post(params, components))) is SignatureReason.MALFORMED


async def test_rfc9421_alg_is_optional_and_params_are_reserialised() -> None:
    # Odd but valid structured-field spacing must not change the signed params line.
    headers = _rfc9421_post(KEYID + CREATED + ';nonce="abc";tag=ap')
    headers["Signature-Input"] = headers["Signature-Input"].replace("(", "(  ").replace(")", " )")
    headers["Signature"] = "  " + headers["Signature"]
    await _verify(headers)


async def test_rfc9421_picks_the_first_supported_signature() -> None:
    headers = _rfc9421_post(CREATED + KEYID)
    headers["Signature-Input"] = (
        'pq=("@method");created=1;keyid="x";alg="ml-dsa-44", ' + headers["Signature-Input"]
    )
    headers["Signature"] = "pq=:AAAA:, " + headers["Signature"]
    await _verify(headers)


async def test_rfc9421_signature_fields_repeated_in_separate_headers_are_combined() -> None:
    """RFC 9421 lets each signer add its own field; aiohttp keeps them apart."""
    headers = _rfc9421_post(CREATED + KEYID)
    multi = CIMultiDict(headers)
    multi.add("Signature-Input", 'proxy=("@method");created=1;keyid="p";alg="ml-dsa-44"')
    multi.add("Signature", "proxy=:AAAA:")
    await _verify(CIMultiDictProxy(multi))


async def test_rfc9421_content_digest_without_base64_padding() -> None:
    """RFC 8941 asks parsers not to insist on `=` padding in byte sequences."""
    unpadded = "sha-256=:" + base64.b64encode(hashlib.sha256(ACTIVITY).digest()).decode()
    unpadded = unpadded.rstrip("=") + ":"
    headers = _signed_post(scheme=SignatureScheme.RFC9421)
    headers["Content-Digest"] = unpadded
    headers.update(
        _rfc9421(
            [("@method", "POST"), ("@target-uri", INBOX_URL), ("content-digest", unpadded)],
            CREATED + KEYID,
        )
    )
    await _verify(headers)


@pytest.mark.parametrize(
    ("signature_input", "signature"),
    [
        (", ".join(f"s{i}=();created=1" for i in range(17)), "s0=:AAAA:"),
        ("sig1=(" + " ".join(['"@method"'] * 17) + ")" + CREATED + KEYID, "sig1=:AAAA:"),
        ("sig1=()" + ";x" * 17 + CREATED + KEYID, "sig1=:AAAA:"),
    ],
    ids=["members", "components", "parameters"],
)
async def test_rfc9421_structured_fields_are_bounded(signature_input: str, signature: str) -> None:
    headers = {"Host": "beta.test", "Signature-Input": signature_input, "Signature": signature}
    assert await _reason(_verify(headers, method="GET", body=None)) is SignatureReason.MALFORMED


async def test_rfc9421_ed25519_key() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    headers = _signed_post(scheme=SignatureScheme.RFC9421)
    headers.update(
        _rfc9421(
            [
                ("@method", "POST"),
                ("@target-uri", INBOX_URL),
                ("content-digest", headers["Content-Digest"]),
            ],
            CREATED + KEYID + ';alg="ed25519"',
            sign=private.sign,
        )
    )
    key = ResolvedKey(TEST_KEY["key_id"], TEST_KEY["owner"], public_pem)
    await _verify(headers, resolver=FakeResolver(key))
    # The same key cannot stand in for an RSA algorithm.
    cavage = _signed_post()
    assert await _reason(_verify(cavage, resolver=FakeResolver(key))) is (
        SignatureReason.BAD_SIGNATURE
    )


# --------------------------------------------------------------------------
# Key resolution, rotation, owner


async def test_key_rotation_refetches_once() -> None:
    stale = ResolvedKey(TEST_KEY["key_id"], TEST_KEY["owner"], MASTODON_KEY["public_key_pem"])
    resolver = FakeResolver(stale, fresh=_key(TEST_KEY))
    result = await _verify(_signed_post(), resolver=resolver)
    assert result.owner == TEST_KEY["owner"]
    assert resolver.calls == [(TEST_KEY["key_id"], False), (TEST_KEY["key_id"], True)]


async def test_unverifiable_after_refresh_is_bad_signature_after_two_lookups() -> None:
    stale = ResolvedKey(TEST_KEY["key_id"], TEST_KEY["owner"], MASTODON_KEY["public_key_pem"])
    resolver = FakeResolver(stale)
    assert await _reason(_verify(_signed_post(), resolver=resolver)) is (
        SignatureReason.BAD_SIGNATURE
    )
    assert len(resolver.calls) == 2


async def test_cached_key_that_verifies_is_looked_up_once() -> None:
    resolver = FakeResolver(_key(TEST_KEY))
    await _verify(_signed_post(), resolver=resolver)
    assert resolver.calls == [(TEST_KEY["key_id"], False)]


async def test_expired_request_never_reaches_the_resolver() -> None:
    resolver = FakeResolver(_key(TEST_KEY))
    call = _verify(_signed_post(), resolver=resolver, now=T0 + timedelta(days=1))
    assert await _reason(call) is SignatureReason.EXPIRED
    assert resolver.calls == []


async def test_unknown_key_is_key_unavailable() -> None:
    resolver = FakeResolver()
    assert await _reason(_verify(_signed_post(), resolver=resolver)) is (
        SignatureReason.KEY_UNAVAILABLE
    )
    assert len(resolver.calls) == 1


async def test_unparsable_cached_key_is_refreshed() -> None:
    broken = ResolvedKey(TEST_KEY["key_id"], TEST_KEY["owner"], "-----BEGIN PUBLIC KEY-----")
    resolver = FakeResolver(broken, fresh=_key(TEST_KEY))
    await _verify(_signed_post(), resolver=resolver)
    assert len(resolver.calls) == 2


def test_verify_signature_with_garbage_pem_is_key_unavailable() -> None:
    with pytest.raises(SignatureError) as info:
        verify_signature(_parsed(_signed_post()), "nonsense")
    assert info.value.reason is SignatureReason.KEY_UNAVAILABLE


async def test_owner_is_returned_and_checked_against_the_actor() -> None:
    result = await _verify(_signed_post())
    assert (result.key_id, result.owner, result.scheme) == (
        TEST_KEY["key_id"],
        TEST_KEY["owner"],
        SignatureScheme.CAVAGE,
    )
    require_owner(result, TEST_KEY["owner"])
    with pytest.raises(SignatureError) as info:
        require_owner(result, "https://alpha.test/users/mallory")
    assert info.value.reason is SignatureReason.OWNER_MISMATCH


def test_signature_error_carries_reason_and_is_a_federation_error() -> None:
    error = SignatureError(SignatureReason.EXPIRED, "too old")
    assert isinstance(error, FederationError)
    assert (error.reason, str(error)) == (SignatureReason.EXPIRED, "too old")
    assert "expired" in repr(error)


# --------------------------------------------------------------------------
# sign_request details


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://Beta.Test:443/inbox", "beta.test"),
        ("http://beta.test:80/inbox", "beta.test"),
        ("http://127.0.0.1:8080/inbox", "127.0.0.1:8080"),
        ("https://[::1]:8443/inbox", "[::1]:8443"),
        ("https://beta.test", "beta.test"),
    ],
)
def test_host_header_has_port_only_when_not_default(url: str, host: str) -> None:
    assert _signed_get(url=url)["Host"] == host


def test_sign_request_replaces_existing_signature_headers() -> None:
    headers = sign_request(
        method="POST",
        url=INBOX_URL,
        headers={
            "host": "evil.test",
            "date": "yesterday",
            "signature": "x",
            "content-type": AS_JSON,
        },
        body=b"{}",
        key_id=TEST_KEY["key_id"],
        private_key_pem=TEST_KEY["private_key_pem"],
        now=T0,
    )
    assert sorted(headers) == ["Date", "Digest", "Host", "Signature", "content-type"]
    assert headers["Digest"].startswith("SHA-256=")
    assert 'headers="(request-target) host date digest content-type"' in headers["Signature"]


def test_sign_request_without_accept_or_content_type() -> None:
    headers = sign_request(
        method="GET",
        url=INBOX_URL,
        headers={},
        body=None,
        key_id=TEST_KEY["key_id"],
        private_key_pem=TEST_KEY["private_key_pem"],
        now=T0,
    )
    assert 'headers="(request-target) host date"' in headers["Signature"]


def test_sign_request_converts_now_to_gmt() -> None:
    cet = T0.astimezone(timezone(timedelta(hours=1)))
    assert _signed_get(now=cet)["Date"] == "Wed, 15 Jan 2025 12:00:00 GMT"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"now": T0.replace(tzinfo=None)}, "timezone-aware"),
        ({"url": "ftp://beta.test/inbox"}, "http"),
        ({"url": "/inbox"}, "http"),
        ({"key_id": 'https://a/"#k'}, "key id"),
        ({"key_id": "https://a/\n#k"}, "key id"),
        ({"headers": {"Accept": "a\r\nX-Evil: 1"}}, "line breaks"),
    ],
)
def test_sign_request_rejects_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    arguments: dict[str, Any] = {
        "method": "GET",
        "url": INBOX_URL,
        "headers": {},
        "body": None,
        "key_id": TEST_KEY["key_id"],
        "private_key_pem": TEST_KEY["private_key_pem"],
        "now": T0,
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        sign_request(**arguments)


# --------------------------------------------------------------------------
# Properties

SIGNED = {scheme: _signed_post(scheme=scheme) for scheme in SignatureScheme}
SIGNED_HEADERS = {
    SignatureScheme.CAVAGE: ["Host", "Date", "Digest", "Content-Type"],
    SignatureScheme.RFC9421: ["Host", "Content-Digest", "Content-Type"],
}


def _verify_sync(headers: Mapping[str, str], body: bytes, target: str = "/users/bob/inbox") -> None:
    req = parse_signed_request(method="POST", target=target, headers=headers, body=body)
    check_time_window(req, T0)
    verify_signature(req, TEST_KEY["public_key_pem"])


def _flip(data: bytes, index: int, mask: int) -> bytes:
    index %= len(data)
    return data[:index] + bytes([data[index] ^ mask]) + data[index + 1 :]


@pytest.mark.parametrize("scheme", list(SignatureScheme))
def test_unmodified_request_verifies(scheme: SignatureScheme) -> None:
    _verify_sync(SIGNED[scheme], ACTIVITY)


@pytest.mark.parametrize("scheme", list(SignatureScheme))
@settings(max_examples=200, deadline=None)
@given(index=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=255))
def test_flipping_any_body_byte_breaks_verification(
    scheme: SignatureScheme, index: int, mask: int
) -> None:
    with pytest.raises(SignatureError):
        _verify_sync(SIGNED[scheme], _flip(ACTIVITY, index, mask))


@pytest.mark.parametrize("scheme", list(SignatureScheme))
@settings(max_examples=200, deadline=None)
@given(data=st.data(), index=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=255))
def test_flipping_any_byte_of_a_signed_header_breaks_verification(
    scheme: SignatureScheme, data: st.DataObject, index: int, mask: int
) -> None:
    name = data.draw(st.sampled_from(SIGNED_HEADERS[scheme]))
    headers = dict(SIGNED[scheme])
    # Header bytes that are not UTF-8 reach us as aiohttp delivers them: surrogate-escaped.
    raw = _flip(headers[name].encode(), index, mask)
    headers[name] = raw.decode("utf-8", "surrogateescape")
    if scheme is SignatureScheme.RFC9421 and name == "Host":
        # RFC 9421 signs the normalised (lower-case) authority: case is not a change.
        assume(headers[name].lower() != SIGNED[scheme][name].lower())
    with pytest.raises(SignatureError):
        _verify_sync(headers, ACTIVITY)


@settings(max_examples=200, deadline=None)
@given(index=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=127))
def test_flipping_any_byte_of_the_target_breaks_verification(index: int, mask: int) -> None:
    target = _flip(b"/users/bob/inbox", index, mask).decode()
    with pytest.raises(SignatureError):
        _verify_sync(SIGNED[SignatureScheme.CAVAGE], ACTIVITY, target)


SIGNATURE_ALPHABET = 'keyIdsgnatureh(request-target)lgorithm="=,;: *?-1234567890aAzZ+/\\\t'


def _parse_only_raises_signature_error(headers: Mapping[str, str]) -> None:
    with contextlib.suppress(SignatureError):
        parse_signed_request(method="POST", target="/inbox", headers=headers, body=b"{}")


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.text(alphabet=SIGNATURE_ALPHABET),
        st.builds(
            lambda s, i, t: s[:i] + t + s[i:],
            st.just(SIGNED[SignatureScheme.CAVAGE]["Signature"]),
            st.integers(min_value=0, max_value=400),
            st.text(alphabet=SIGNATURE_ALPHABET, max_size=5),
        ),
    )
)
@example("")
@example('keyId="a",headers="(created)",signature="",created=99999999999999999999')
@example('keyId="a",algorithm="hs2019",headers="(created) digest",signature="",created=-1')
def test_arbitrary_signature_header_only_raises_signature_error(text: str) -> None:
    _parse_only_raises_signature_error({"Signature": text, "Digest": "SHA-256=x", "Date": text})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(st.text(), st.text(alphabet=SIGNATURE_ALPHABET)),
    st.one_of(st.text(), st.text(alphabet=SIGNATURE_ALPHABET)),
)
@example('sig1=("@method" "@target-uri");created=999999999999999;keyid="k"', "sig1=:AAAA:")
@example('sig1=("@method" "@target-uri");created=1;keyid="k"', "sig1=:AA=A:")
@example('sig1=("@method" "@status" "x";sf);created=1;keyid="k"', "sig1=:AAAA:")
@example("a=?", "a=?2")
@example("a=(1.2345 -", "a=:")
@example('a="\\x"', 'a="\x7f"')
def test_arbitrary_signature_input_only_raises_signature_error(
    signature_input: str, signature: str
) -> None:
    _parse_only_raises_signature_error(
        {"Signature-Input": signature_input, "Signature": signature, "Content-Digest": signature}
    )


sf_keys = st.from_regex(r"[a-z*][a-z0-9_\-.*]{0,6}", fullmatch=True)
sf_bare_items = st.one_of(
    st.integers(min_value=-(10**15) + 1, max_value=10**15 - 1),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12),
    st.from_regex(r"[A-Za-z*][A-Za-z0-9:/!#$%&'*+\-.^_`|~]{0,8}", fullmatch=True).map(
        http_sf.Token
    ),
    st.binary(max_size=12),
    st.booleans(),
)
sf_params = st.dictionaries(sf_keys, sf_bare_items, max_size=4)


@settings(max_examples=200, deadline=None)
@given(
    components=st.lists(st.tuples(sf_bare_items, sf_params), max_size=5),
    params=sf_params,
)
def test_signature_params_are_serialised_like_rfc8941(
    components: list[tuple[object, dict[str, object]]], params: dict[str, object]
) -> None:
    """Our structured-field round trip agrees with http_sf (Mark Nottingham's RFC 8941 code)."""
    header = http_sf.ser({"sig1": (components, params)})  # type: ignore[dict-item]
    assert header.startswith("sig1=")
    reference = header.removeprefix("sig1=")
    parsed = signatures._SFParser(header).dictionary()
    assert len(parsed) == 1
    inner = parsed[0][1]
    assert isinstance(inner, signatures._InnerList)
    assert signatures._serialize_inner_list(inner) == reference
