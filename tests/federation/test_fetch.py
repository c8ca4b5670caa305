"""federation.fetch against fake remotes on loopback: real sockets, real redirects.

Host names (`remote.test`, `knock.test`, …) resolve to the fake server's port through
`MapResolver`, so URLs and Host headers look like production. `intranet.test` resolves
to 10.0.0.5 and `sneaky.test` to the loopback server, for the SSRF checks.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import cache

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from multidict import CIMultiDict

from federation.actors import parse_actor, parse_key_document
from federation.errors import FetchError
from federation.fetch import (
    ACTIVITY_ACCEPT,
    JRD_ACCEPT,
    FetchNetworkError,
    FetchStatusError,
    FetchTimeoutError,
    ForbiddenAddressError,
    IdMismatchError,
    InMemorySchemeMemory,
    InvalidDocumentError,
    InvalidURLError,
    ResponseTooLargeError,
    Signer,
    TooManyRedirectsError,
    UnacceptableContentTypeError,
    WebFingerError,
    fetch_jrd,
    fetch_json,
    host_key,
    is_activitystreams_media_type,
    is_forbidden_address,
    make_connector,
    parse_retry_after,
    post_activity,
    webfinger,
)
from federation.policy import BlockedDomainError, FederationPolicy
from federation.signatures import (
    SignatureError,
    SignatureReason,
    SignatureScheme,
    check_time_window,
    parse_signed_request,
    verify_signature,
)
from tests.fakes import ACTIVITY_JSON, Answer, FakeRemote, Received, Reply

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
AS = "https://www.w3.org/ns/activitystreams"
R = "http://remote.test"
JRD = "application/jrd+json"
BODY = b'{"@context":"https://www.w3.org/ns/activitystreams","type":"Follow"}'


@cache
def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_key_pem() -> str:
    key = serialization.load_pem_private_key(private_key_pem().encode(), None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def signer() -> Signer:
    return Signer(
        key_id="http://local.test/actor#main-key",
        private_key_pem=private_key_pem(),
        clock=lambda: NOW,
    )


class MapResolver(AbstractResolver):
    """Test DNS: host name → (address, port). Unknown names fail like NXDOMAIN."""

    def __init__(self) -> None:
        self.hosts: dict[str, tuple[str, int]] = {}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in self.hosts:
            raise OSError(f"test resolver: unknown host {host}")
        address, mapped_port = self.hosts[host]
        return [
            {
                "hostname": host,
                "host": address,
                "port": mapped_port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        return None


def verified(request: Received) -> SignatureScheme | SignatureReason | None:
    """The outcome of verifying a request's signature the way an inbox would
    (None: unsigned; a SignatureReason: rejected)."""
    if "Signature" not in request.headers:
        return None
    try:
        signed = parse_signed_request(
            method=request.method,
            target=request.path_qs,
            headers=CIMultiDict(request.headers),
            body=request.body,
            url_scheme="http",
        )
        check_time_window(signed, NOW)
        verify_signature(signed, public_key_pem())
    except SignatureError as exc:
        return exc.reason
    return signed.scheme


def actor_doc(actor_id: str) -> dict[str, object]:
    return {
        "@context": [AS, "https://w3id.org/security/v1"],
        "id": actor_id,
        "type": "Person",
        "preferredUsername": "alice",
        "inbox": f"{actor_id}/inbox",
        "publicKey": {
            "id": f"{actor_id}#main-key",
            "owner": actor_id,
            "publicKeyPem": "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n",
        },
    }


def webfinger_jrd(user: str, subject: str) -> dict[str, object]:
    links: list[dict[str, str]] = [
        {
            "rel": "http://webfinger.net/rel/profile-page",
            "type": "text/html",
            "href": f"{R}/@{user}",
        }
    ]
    if user != "nolink":
        links.append(
            {
                "rel": "self",
                "type": f'application/ld+json; profile="{AS}"',
                "href": f"{R}/users/{user}",
            }
        )
    return {"subject": subject, "links": links}


def only_with_signature_input(request: web.Request) -> Reply:
    if "Signature-Input" in request.headers:
        return Reply(202)
    return Reply(401, body='{"error":"sig"}')


def only_without_signature_input(request: web.Request) -> Reply:
    return Reply(401 if "Signature-Input" in request.headers else 202)


@cache
def odd_peers() -> dict[str, Answer]:
    """Every odd peer, scripted for one fake: all test host names reach it, and the
    documents name `remote.test`, the only host they are fetched from. Built once."""
    replies: dict[str, Answer] = {}
    content_types = {
        "alice": ACTIVITY_JSON,
        "ld": f'application/ld+json; profile="{AS}"',
        "ldbare": "application/ld+json",
        "charset": "application/activity+json; charset=utf-8",
        "plainjson": "application/json",
        "otherprofile": 'application/ld+json; profile="https://example.com/other"',
    }
    for name, content_type in content_types.items():
        doc = actor_doc(f"{R}/users/{name}")
        replies[f"/users/{name}"] = Reply(json=doc, content_type=content_type)
    key = {
        "@context": "https://w3id.org/security/v1",
        "id": f"{R}/keys/alice",
        "owner": f"{R}/users/alice",
        "publicKeyPem": "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n",
    }
    replies["/keys/alice"] = Reply(json=key)
    replies["/status/*"] = lambda r: Reply(int(r.path.rsplit("/", 1)[1]), body="nope")
    for start in (3, 4):  # /chain/n redirects n times, then serves the document
        for hops in range(start, 0, -1):
            location = f"/chain/{hops - 1}?start={start}"
            replies[f"/chain/{hops}?start={start}"] = Reply(302, headers={"Location": location})
        replies[f"/chain/0?start={start}"] = Reply(
            json=actor_doc(f"{R}/chain/{start}?start={start}")
        )
    for to, target in {
        "metadata": "http://169.254.169.254/latest/meta-data/",
        "intranet": "http://intranet.test/users/alice",
        "ftp": "ftp://remote.test/users/alice",
    }.items():
        replies[f"/redirect/{to}"] = Reply(302, headers={"Location": target})
    replies["/redirect/loopback"] = lambda r: Reply(
        302, headers={"Location": f"http://127.0.0.1:{r.url.port}/users/alice"}
    )
    replies["/wrong-id"] = Reply(json=actor_doc(f"{R}/users/mallory"))
    replies["/not-json"] = Reply(body=b"<html>", content_type=ACTIVITY_JSON)
    replies["/array"] = Reply(json=[1, 2])
    # 1.5 MiB, never announced; then 2 MB, announced.
    replies["/big-stream"] = Reply(content_type=ACTIVITY_JSON, stream=(b" " * 65_536,) * 24)
    replies["/big-declared"] = Reply(body=b" " * 2_000_000, content_type=ACTIVITY_JSON)
    replies["/slow"] = Reply(json=actor_doc(f"{R}/slow"), held=True)
    replies["/slow-body"] = Reply(content_type=ACTIVITY_JSON, stream=(b'{"id": ',), held=True)
    subjects = {
        "alice": "acct:ALICE@Remote.Test",
        "impostor": "acct:mallory@remote.test",
        "nolink": "acct:nolink@remote.test",
    }
    for user, subject in subjects.items():
        resource = f"/.well-known/webfinger?resource=acct:{user}@remote.test"
        replies[resource] = Reply(json=webfinger_jrd(user, subject), content_type=JRD)
    replies["/inbox/rfc9421-only"] = only_with_signature_input
    replies["/inbox/cavage-only"] = only_without_signature_input
    replies["/inbox/flaky"] = [Reply(500), Reply(202)]
    replies["/inbox/down"] = Reply(503, headers={"Retry-After": "120"}, body="x" * 5000)
    when = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    replies["/inbox/busy"] = Reply(429, headers={"Retry-After": when})
    replies["/inbox/gone"] = Reply(410)
    replies["/inbox/ok"] = Reply(202, body='{"queued":true}')
    replies["/inbox/moved"] = Reply(302, headers={"Location": "/inbox/ok"})
    return replies


@pytest.fixture
async def remote() -> AsyncIterator[FakeRemote]:
    fake = FakeRemote("remote.test", replies=dict(odd_peers()))
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def dns(remote: FakeRemote) -> MapResolver:
    resolver = MapResolver()
    for name in ("remote.test", "knock.test", "flaky.test", "cavage.test", "sneaky.test"):
        resolver.hosts[name] = ("127.0.0.1", remote.port)
    resolver.hosts["intranet.test"] = ("10.0.0.5", 80)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        resolver.hosts["dead.test"] = ("127.0.0.1", s.getsockname()[1])
    return resolver


@pytest.fixture
async def session(dns: MapResolver) -> AsyncIterator[aiohttp.ClientSession]:
    """Test-mode session: private addresses allowed, names mapped to the fake remote."""
    async with aiohttp.ClientSession(connector=make_connector(allow_private=True, inner=dns)) as s:
        yield s


@pytest.fixture
async def strict_session(dns: MapResolver) -> AsyncIterator[aiohttp.ClientSession]:
    """Production-mode session: the SSRF guard is on."""
    connector = make_connector(allow_private=False, inner=dns)
    async with aiohttp.ClientSession(connector=connector) as s:
        yield s


@pytest.fixture
async def loopback_allowed_session(dns: MapResolver) -> AsyncIterator[aiohttp.ClientSession]:
    """Guard on, but 127.0.0.1 allow-listed (like ALLOWED_PRIVATE_ADDRESSES), so
    `remote.test` counts as public and redirects away from it can be tested."""
    connector = make_connector(
        allow_private=False, inner=dns, allowed_networks=[ipaddress.ip_network("127.0.0.1/32")]
    )
    async with aiohttp.ClientSession(connector=connector) as s:
        yield s


# --- fetch_json ---------------------------------------------------------------------------


async def test_fetch_json_returns_actor_document_and_sends_accept(
    session: aiohttp.ClientSession, remote: FakeRemote
) -> None:
    doc = await fetch_json(
        session, "http://remote.test/users/alice", signer=None, allow_private=True
    )
    assert parse_actor(doc).id == "http://remote.test/users/alice"
    [request] = remote.requests
    assert request.host == "remote.test"
    assert request.headers["Accept"] == ACTIVITY_ACCEPT
    assert verified(request) is None


async def test_fetch_json_signs_get_with_signer(
    session: aiohttp.ClientSession, remote: FakeRemote
) -> None:
    await fetch_json(session, "http://remote.test/users/alice", signer=signer(), allow_private=True)
    [request] = remote.requests
    assert verified(request) is SignatureScheme.CAVAGE  # GETs are always Cavage
    assert 'keyId="http://local.test/actor#main-key"' in request.headers["Signature"]
    assert request.headers["Date"] == "Thu, 01 Jan 2026 12:00:00 GMT"


@pytest.mark.parametrize("name", ["ld", "ldbare", "charset"])
async def test_fetch_json_accepts_activitystreams_content_types(
    session: aiohttp.ClientSession, name: str
) -> None:
    url = f"http://remote.test/users/{name}"
    doc = await fetch_json(session, url, signer=None, allow_private=True)
    assert parse_actor(doc).id == url


@pytest.mark.parametrize("name", ["plainjson", "otherprofile"])
async def test_fetch_json_refuses_other_content_types(
    session: aiohttp.ClientSession, name: str
) -> None:
    with pytest.raises(UnacceptableContentTypeError, match="Content-Type"):
        await fetch_json(
            session, f"http://remote.test/users/{name}", signer=None, allow_private=True
        )


async def test_fetch_json_refuses_id_mismatch(session: aiohttp.ClientSession) -> None:
    with pytest.raises(IdMismatchError, match="mallory"):
        await fetch_json(session, "http://remote.test/wrong-id", signer=None, allow_private=True)


async def test_fetch_json_accepts_key_id_fragment_serving_the_actor(
    session: aiohttp.ClientSession, remote: FakeRemote
) -> None:
    key_id = "http://remote.test/users/alice#main-key"
    doc = await fetch_json(session, key_id, signer=None, allow_private=True)
    assert parse_key_document(doc, key_id).owner == "http://remote.test/users/alice"
    assert remote.paths() == ["/users/alice"]


async def test_fetch_json_reads_standalone_key_document(session: aiohttp.ClientSession) -> None:
    doc = await fetch_json(
        session, "http://remote.test/keys/alice", signer=None, allow_private=True
    )
    key = parse_key_document(doc, "http://remote.test/keys/alice")
    assert key.owner == "http://remote.test/users/alice"


@pytest.mark.parametrize("code", [404, 410, 500, 503])
async def test_fetch_json_reports_http_status(session: aiohttp.ClientSession, code: int) -> None:
    with pytest.raises(FetchStatusError, match=f"HTTP {code}") as info:
        await fetch_json(
            session, f"http://remote.test/status/{code}", signer=None, allow_private=True
        )
    assert info.value.status == code


async def test_fetch_json_follows_three_redirects(
    session: aiohttp.ClientSession, remote: FakeRemote
) -> None:
    url = "http://remote.test/chain/3?start=3"
    doc = await fetch_json(session, url, signer=signer(), allow_private=True)
    assert parse_actor(doc).id == url
    assert len(remote.requests) == 4
    # Each hop signed for its own URL.
    assert [verified(s) for s in remote.requests] == [SignatureScheme.CAVAGE] * 4


async def test_fetch_json_refuses_fourth_redirect(
    session: aiohttp.ClientSession, remote: FakeRemote
) -> None:
    with pytest.raises(TooManyRedirectsError):
        await fetch_json(
            session, "http://remote.test/chain/4?start=4", signer=None, allow_private=True
        )
    assert len(remote.requests) == 4  # the 4th Location is never requested


async def test_fetch_json_refuses_redirect_to_other_scheme(session: aiohttp.ClientSession) -> None:
    with pytest.raises(InvalidURLError, match="http"):
        await fetch_json(
            session, "http://remote.test/redirect/ftp", signer=None, allow_private=True
        )


async def test_fetch_json_caps_unannounced_body(session: aiohttp.ClientSession) -> None:
    with pytest.raises(ResponseTooLargeError, match="1048576"):
        await fetch_json(session, "http://remote.test/big-stream", signer=None, allow_private=True)


async def test_fetch_json_refuses_announced_oversize_body(session: aiohttp.ClientSession) -> None:
    with pytest.raises(ResponseTooLargeError, match="Content-Length"):
        await fetch_json(
            session, "http://remote.test/big-declared", signer=None, allow_private=True
        )


async def test_fetch_json_honours_smaller_cap(session: aiohttp.ClientSession) -> None:
    with pytest.raises(ResponseTooLargeError):
        await fetch_json(
            session,
            "http://remote.test/users/alice",
            signer=None,
            allow_private=True,
            max_bytes=100,
        )


@pytest.mark.parametrize("path", ["/slow", "/slow-body"])
async def test_fetch_json_times_out(session: aiohttp.ClientSession, path: str) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(FetchTimeoutError):
        await fetch_json(
            session, f"http://remote.test{path}", signer=None, allow_private=True, timeout=0.2
        )
    assert loop.time() - started < 2


@pytest.mark.parametrize("path", ["/not-json", "/array"])
async def test_fetch_json_requires_json_object(session: aiohttp.ClientSession, path: str) -> None:
    with pytest.raises(InvalidDocumentError):
        await fetch_json(session, f"http://remote.test{path}", signer=None, allow_private=True)


async def test_fetch_json_network_error_is_fetch_error(session: aiohttp.ClientSession) -> None:
    with pytest.raises(FetchNetworkError):
        await fetch_json(session, "http://dead.test/users/alice", signer=None, allow_private=True)
    with pytest.raises(FetchNetworkError):
        await fetch_json(
            session, "http://unknown.test/users/alice", signer=None, allow_private=True
        )


# --- SSRF ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/users/alice",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/users/alice",
        "http://[::ffff:127.0.0.1]:{port}/users/alice",
        "http://10.0.0.5/users/alice",
        "http://intranet.test/users/alice",
        "http://sneaky.test/users/alice",
        "http://facebookwkhiyaaaa.onion/users/alice",
    ],
)
async def test_fetch_refuses_private_targets_before_connecting(
    strict_session: aiohttp.ClientSession, remote: FakeRemote, url: str
) -> None:
    with pytest.raises(ForbiddenAddressError):
        await fetch_json(
            strict_session, url.format(port=remote.port), signer=None, allow_private=False
        )
    assert remote.requests == []


async def test_default_resolver_refuses_localhost(remote: FakeRemote) -> None:
    """Production wiring: system DNS (from /etc/hosts here), guard on."""
    async with aiohttp.ClientSession(connector=make_connector(allow_private=False)) as s:
        with pytest.raises(ForbiddenAddressError, match="localhost"):
            await fetch_json(
                s, f"http://localhost:{remote.port}/users/alice", signer=None, allow_private=False
            )
    assert remote.requests == []


async def test_fetch_refuses_redirect_to_private_address(
    loopback_allowed_session: aiohttp.ClientSession, remote: FakeRemote
) -> None:
    for target in ("metadata", "intranet"):
        with pytest.raises(ForbiddenAddressError):
            await fetch_json(
                loopback_allowed_session,
                f"http://remote.test/redirect/{target}",
                signer=None,
                allow_private=False,
            )
    assert remote.paths() == ["/redirect/metadata", "/redirect/intranet"]


async def test_allow_list_admits_named_private_network(
    loopback_allowed_session: aiohttp.ClientSession, remote: FakeRemote
) -> None:
    doc = await fetch_json(
        loopback_allowed_session,
        "http://remote.test/users/alice",
        signer=None,
        allow_private=False,
    )
    assert parse_actor(doc).id == "http://remote.test/users/alice"


@pytest.mark.parametrize(
    "url", ["ftp://remote.test/x", "file:///etc/passwd", "/relative", "http://u:p@remote.test/"]
)
async def test_fetch_refuses_non_http_urls(session: aiohttp.ClientSession, url: str) -> None:
    with pytest.raises(InvalidURLError):
        await fetch_json(session, url, signer=None, allow_private=True)


async def test_strict_mode_needs_safe_connector(dns: MapResolver) -> None:
    connector = aiohttp.TCPConnector(resolver=dns)
    async with aiohttp.ClientSession(connector=connector) as plain:
        with pytest.raises(ValueError, match="make_connector"):
            await fetch_json(
                plain, "http://remote.test/users/alice", signer=None, allow_private=False
            )


async def test_post_refuses_private_target(
    strict_session: aiohttp.ClientSession, remote: FakeRemote
) -> None:
    for url in (f"http://127.0.0.1:{remote.port}/inbox/ok", "http://sneaky.test/inbox/ok"):
        with pytest.raises(ForbiddenAddressError):
            await post_activity(
                strict_session,
                url,
                BODY,
                signer=signer(),
                memory=InMemorySchemeMemory(),
                allow_private=False,
            )
    assert remote.requests == []


@pytest.mark.parametrize(
    ("address", "forbidden"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("100.64.0.1", True),
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("255.255.255.255", True),
        ("::1", True),
        ("::", True),
        ("fc00::1", True),
        ("fd12:3456::1", True),
        ("fe80::1", True),
        ("ff02::1", True),
        ("::ffff:169.254.169.254", True),
        ("::ffff:10.0.0.1", True),
        ("2002:a00:1::1", True),  # 6to4 wrapping 10.0.0.1
        ("93.184.215.14", False),
        ("2606:4700::1111", False),
        ("::ffff:93.184.215.14", False),
    ],
)
def test_is_forbidden_address(address: str, forbidden: bool) -> None:
    assert is_forbidden_address(ipaddress.ip_address(address)) is forbidden


# --- federation policy --------------------------------------------------------------------

BLOCKING = FederationPolicy.blocking(["remote.test", "intranet.test"])


async def test_blocked_domain_is_never_contacted(
    session: aiohttp.ClientSession, remote: FakeRemote
) -> None:
    with pytest.raises(BlockedDomainError, match=r"remote\.test"):
        await fetch_json(
            session,
            "http://remote.test/users/alice",
            signer=None,
            allow_private=True,
            policy=BLOCKING,
        )
    with pytest.raises(BlockedDomainError):
        await fetch_jrd(
            session,
            "http://sub.remote.test/.well-known/webfinger",
            allow_private=True,
            policy=BLOCKING,
        )
    with pytest.raises(BlockedDomainError):
        await webfinger(
            session,
            "alice",
            "remote.test:8443",
            scheme="http",
            allow_private=True,
            policy=BLOCKING,
        )
    with pytest.raises(BlockedDomainError):
        await post_activity(
            session,
            "http://remote.test/inbox/ok",
            BODY,
            signer=signer(),
            memory=InMemorySchemeMemory(),
            allow_private=True,
            policy=BLOCKING,
        )
    assert remote.requests == []


async def test_redirect_to_blocked_domain_is_refused_before_connecting(
    session: aiohttp.ClientSession, remote: FakeRemote
) -> None:
    # intranet.test resolves to 10.0.0.5, which no test may ever reach: the block stops
    # the hop before any connection is attempted.
    with pytest.raises(BlockedDomainError, match=r"intranet\.test"):
        await fetch_json(
            session,
            "http://knock.test/redirect/intranet",
            signer=None,
            allow_private=True,
            policy=FederationPolicy.blocking(["intranet.test"]),
        )
    assert remote.paths() == ["/redirect/intranet"]


# --- WebFinger ----------------------------------------------------------------------------


async def test_webfinger_returns_self_link(
    session: aiohttp.ClientSession, remote: FakeRemote
) -> None:
    actor_id = await webfinger(session, "alice", "remote.test", scheme="http", allow_private=True)
    assert actor_id == "http://remote.test/users/alice"
    [request] = remote.requests
    # Sent unescaped, as Mastodon does.
    assert request.path_qs == "/.well-known/webfinger?resource=acct:alice@remote.test"
    assert request.headers["Accept"] == JRD_ACCEPT


async def test_webfinger_rejects_other_subject(session: aiohttp.ClientSession) -> None:
    with pytest.raises(WebFingerError, match="subject"):
        await webfinger(session, "impostor", "remote.test", scheme="http", allow_private=True)


async def test_webfinger_requires_self_link(session: aiohttp.ClientSession) -> None:
    with pytest.raises(WebFingerError, match="rel=self"):
        await webfinger(session, "nolink", "remote.test", scheme="http", allow_private=True)


async def test_webfinger_unknown_user_is_404(session: aiohttp.ClientSession) -> None:
    with pytest.raises(FetchStatusError) as info:
        await webfinger(session, "nobody", "remote.test", scheme="http", allow_private=True)
    assert info.value.status == 404


async def test_fetch_jrd_skips_id_check(session: aiohttp.ClientSession) -> None:
    jrd = await fetch_jrd(
        session,
        "http://remote.test/.well-known/webfinger?resource=acct:alice@remote.test",
        allow_private=True,
    )
    assert isinstance(jrd, dict)
    assert "id" not in jrd


async def test_webfinger_obeys_ssrf_guard(
    strict_session: aiohttp.ClientSession, remote: FakeRemote
) -> None:
    with pytest.raises(ForbiddenAddressError):
        await webfinger(strict_session, "alice", "sneaky.test", scheme="http", allow_private=False)
    assert remote.requests == []


@pytest.mark.parametrize(
    ("user", "host"),
    [
        ("alice", "evil.example/x?y="),
        ("a@b", "remote.test"),
        ("alice", ""),
        ("al ice", "remote.test"),
    ],
)
async def test_webfinger_refuses_unsafe_target(
    session: aiohttp.ClientSession, remote: FakeRemote, user: str, host: str
) -> None:
    with pytest.raises(InvalidURLError):
        await webfinger(session, user, host, scheme="http", allow_private=True)
    assert remote.requests == []


# --- post_activity ------------------------------------------------------------------------


async def test_post_sends_exact_body_signed_with_cavage(
    session: aiohttp.ClientSession, remote: FakeRemote
) -> None:
    memory = InMemorySchemeMemory()
    result = await post_activity(
        session,
        "http://remote.test/inbox/ok",
        BODY,
        signer=signer(),
        memory=memory,
        allow_private=True,
    )
    assert (result.status, result.ok, result.scheme) == (202, True, SignatureScheme.CAVAGE)
    assert result.excerpt == '{"queued":true}'
    assert result.retry_after is None
    assert memory.get("remote.test") is SignatureScheme.CAVAGE
    [request] = remote.requests
    assert request.body == BODY
    assert request.headers["Content-Type"] == ACTIVITY_JSON
    assert "Digest" in request.headers
    assert verified(request) is SignatureScheme.CAVAGE


async def test_post_double_knocks_to_rfc9421_and_remembers(
    session: aiohttp.ClientSession, remote: FakeRemote
) -> None:
    memory = InMemorySchemeMemory()
    url = "http://knock.test/inbox/rfc9421-only"
    first = await post_activity(
        session, url, BODY, signer=signer(), memory=memory, allow_private=True
    )
    assert (first.status, first.scheme) == (202, SignatureScheme.RFC9421)
    assert memory.get("knock.test") is SignatureScheme.RFC9421
    assert [verified(s) for s in remote.requests] == [
        SignatureScheme.CAVAGE,
        SignatureScheme.RFC9421,
    ]
    assert "Content-Digest" in remote.requests[1].headers

    second = await post_activity(
        session, url, BODY, signer=signer(), memory=memory, allow_private=True
    )
    assert (second.status, second.scheme) == (202, SignatureScheme.RFC9421)
    assert [verified(s) for s in remote.requests][2:] == [SignatureScheme.RFC9421]


async def test_post_falls_back_from_remembered_rfc9421_to_cavage(
    session: aiohttp.ClientSession, remote: FakeRemote
) -> None:
    memory = InMemorySchemeMemory()
    memory.remember("cavage.test", SignatureScheme.RFC9421)
    result = await post_activity(
        session,
        "http://cavage.test/inbox/cavage-only",
        BODY,
        signer=signer(),
        memory=memory,
        allow_private=True,
    )
    assert (result.status, result.scheme) == (202, SignatureScheme.CAVAGE)
    assert memory.get("cavage.test") is SignatureScheme.CAVAGE
    assert [verified(s) for s in remote.requests] == [
        SignatureScheme.RFC9421,
        SignatureScheme.CAVAGE,
    ]


async def test_post_retries_other_scheme_after_5xx(
    session: aiohttp.ClientSession, remote: FakeRemote
) -> None:
    """fedify-dev/fedify#907: Mastodon's RFC 9421 rollout answered 500 to some signatures."""
    memory = InMemorySchemeMemory()
    result = await post_activity(
        session,
        "http://flaky.test/inbox/flaky",
        BODY,
        signer=signer(),
        memory=memory,
        allow_private=True,
    )
    assert (result.status, result.scheme) == (202, SignatureScheme.RFC9421)
    assert memory.get("flaky.test") is SignatureScheme.RFC9421
    assert len(remote.requests) == 2


async def test_post_reports_persistent_failure_with_retry_after(
    session: aiohttp.ClientSession, remote: FakeRemote
) -> None:
    memory = InMemorySchemeMemory()
    result = await post_activity(
        session,
        "http://remote.test/inbox/down",
        BODY,
        signer=signer(),
        memory=memory,
        allow_private=True,
    )
    assert (result.status, result.ok, result.retry_after) == (503, False, 120)
    assert len(result.excerpt) <= 512
    assert memory.get("remote.test") is None
    assert len(remote.requests) == 2  # one knock per scheme, no more


async def test_post_parses_retry_after_date_against_signer_clock(
    session: aiohttp.ClientSession, remote: FakeRemote
) -> None:
    result = await post_activity(
        session,
        "http://remote.test/inbox/busy",
        BODY,
        signer=signer(),
        memory=InMemorySchemeMemory(),
        allow_private=True,
    )
    assert (result.status, result.retry_after) == (429, 90)
    assert len(remote.requests) == 1  # 429 is not a signature problem


async def test_post_gone_is_not_retried(session: aiohttp.ClientSession, remote: FakeRemote) -> None:
    result = await post_activity(
        session,
        "http://remote.test/inbox/gone",
        BODY,
        signer=signer(),
        memory=InMemorySchemeMemory(),
        allow_private=True,
    )
    assert result.status == 410
    assert len(remote.requests) == 1


async def test_post_never_follows_redirects(
    session: aiohttp.ClientSession, remote: FakeRemote
) -> None:
    result = await post_activity(
        session,
        "http://remote.test/inbox/moved",
        BODY,
        signer=signer(),
        memory=InMemorySchemeMemory(),
        allow_private=True,
    )
    assert result.status == 302
    assert remote.paths() == ["/inbox/moved"]


async def test_post_network_error_is_retryable_fetch_error(
    session: aiohttp.ClientSession,
) -> None:
    with pytest.raises(FetchNetworkError):
        await post_activity(
            session,
            "http://dead.test/inbox",
            BODY,
            signer=signer(),
            memory=InMemorySchemeMemory(),
            allow_private=True,
        )


async def test_session_raise_for_status_does_not_change_results(
    dns: MapResolver, remote: FakeRemote
) -> None:
    connector = make_connector(allow_private=True, inner=dns)
    async with aiohttp.ClientSession(connector=connector, raise_for_status=True) as s:
        with pytest.raises(FetchStatusError):
            await fetch_json(s, "http://remote.test/status/410", signer=None, allow_private=True)
        result = await post_activity(
            s,
            "http://remote.test/inbox/gone",
            BODY,
            signer=signer(),
            memory=InMemorySchemeMemory(),
            allow_private=True,
        )
    assert result.status == 410


def test_signer_repr_hides_private_key() -> None:
    assert "PRIVATE" not in repr(signer())


# --- small pure helpers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("120", 120),
        (" 0 ", 0),
        ("soon", None),
        ("Thu, 01 Jan 2026 12:01:30 GMT", 90),
        ("Wed, 31 Dec 2025 12:00:00 GMT", 0),
    ],
)
def test_parse_retry_after(value: str | None, expected: int | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("http://Remote.Test/inbox", "remote.test"),
        ("http://remote.test:8080/inbox", "remote.test:8080"),
        ("https://remote.test:443/inbox", "remote.test"),
    ],
)
def test_host_key(url: str, key: str) -> None:
    assert host_key(url) == key


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("application/activity+json", True),
        ("Application/Activity+JSON; charset=utf-8", True),
        (f'application/ld+json; profile="{AS}"', True),
        ("application/ld+json", True),
        ('application/ld+json; profile="https://example.com/p"', False),
        ("application/json", False),
        ("text/html", False),
        ("", False),
    ],
)
def test_is_activitystreams_media_type(value: str, ok: bool) -> None:
    assert is_activitystreams_media_type(value) is ok


def test_fetch_errors_share_base() -> None:
    for error in (FetchNetworkError, FetchTimeoutError, ForbiddenAddressError, FetchStatusError):
        assert issubclass(error, FetchError)
