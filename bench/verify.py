"""How much of inbox signature verification is RSA, and how much is our Python?

Verifies signed cavage POSTs (a ~1 KB Create, headers as aiohttp delivers
them, the key served from an in-memory resolver as a warm cache would) through
`federation.signatures.verify_request` for about two seconds, then times the
bare `cryptography` RSA-2048 PKCS#1 v1.5 SHA-256 verify of the same
signatures for as long. The same POSTs signed with RFC 9421 (`Signature-Input`,
`Content-Digest`: the structured-field path) are timed alongside. Prints one JSON line:
`{"verified_per_s": ..., "raw_verify_per_s": ..., "ratio": ...,
"rfc9421_verified_per_s": ..., "rfc9421_ratio": ...}`; the target is ratio >= 0.5,
i.e. our overhead at most one RSA verify.

Run from the repository root: `.venv/bin/python bench/verify.py`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from multidict import CIMultiDict, CIMultiDictProxy

from federation.keys import (
    generate_rsa_private_key_pem,
    load_public_key,
    public_key_pem,
)
from federation.signatures import (
    ResolvedKey,
    SignatureError,
    SignatureReason,
    SignatureScheme,
    parse_signed_request,
    sign_request,
    verify_request,
)

SECONDS = 2.0
BATCH = 200
REQUESTS = 64
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY_ID = "https://alpha.example/users/alice#main-key"
OWNER = "https://alpha.example/users/alice"


def activity(n: int) -> bytes:
    """A Create(Note) of about 1 KB, like a short Mastodon post."""
    note = {
        "id": f"https://alpha.example/users/alice/statuses/{n}",
        "type": "Note",
        "summary": None,
        "inReplyTo": None,
        "published": "2026-03-01T11:59:58Z",
        "url": f"https://alpha.example/@alice/{n}",
        "attributedTo": OWNER,
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "cc": [f"{OWNER}/followers", "https://beta.example/users/bob"],
        "sensitive": False,
        "content": (
            '<p><span class="h-card"><a href="https://beta.example/@bob" class="u-url mention">'
            "@<span>bob</span></a></span> The association meets on Thursday at 19:00 in the "
            "community hall; agenda and minutes are on the website as usual.</p>"
        ),
        "tag": [{"type": "Mention", "href": "https://beta.example/users/bob", "name": "@bob"}],
    }
    doc = {
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": f"https://alpha.example/users/alice/statuses/{n}/activity",
        "type": "Create",
        "actor": OWNER,
        "published": "2026-03-01T11:59:58Z",
        "to": note["to"],
        "cc": note["cc"],
        "object": note,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def received_headers(signed: dict[str, str], body: bytes) -> CIMultiDictProxy[str]:
    """The header set as aiohttp hands it to a handler behind a reverse proxy."""
    headers = CIMultiDict(
        {
            "X-Forwarded-For": "203.0.113.7",
            "X-Forwarded-Proto": "https",
            "Connection": "close",
            "User-Agent": "http.rb/5.2.0 (Mastodon/4.5.0; +https://alpha.example/)",
            "Content-Length": str(len(body)),
            "Accept-Encoding": "gzip",
        }
    )
    headers.update(signed)
    return CIMultiDictProxy(headers)


async def main() -> None:
    private_pem = generate_rsa_private_key_pem()
    key = ResolvedKey(KEY_ID, OWNER, public_key_pem(private_pem))

    async def resolver(key_id: str, *, refresh: bool) -> ResolvedKey:
        if key_id != KEY_ID:
            raise SignatureError(SignatureReason.KEY_UNAVAILABLE, key_id)
        return key

    def signed_requests(scheme: SignatureScheme) -> list[tuple[Mapping[str, str], bytes]]:
        out: list[tuple[Mapping[str, str], bytes]] = []
        for n in range(REQUESTS):
            body = activity(n)
            signed = sign_request(
                method="POST",
                url="https://beta.example/inbox",
                headers={"Content-Type": "application/activity+json"},
                body=body,
                key_id=KEY_ID,
                private_key_pem=private_pem,
                now=NOW,
                scheme=scheme,
            )
            out.append((received_headers(signed, body), body))
        return out

    requests = signed_requests(SignatureScheme.CAVAGE)
    rfc9421 = signed_requests(SignatureScheme.RFC9421)
    now = NOW + timedelta(seconds=3)

    # Warm up (and check that everything actually verifies).
    for headers, body in requests + rfc9421:
        await verify_request(
            method="POST", target="/inbox", headers=headers, body=body, resolver=resolver, now=now
        )

    public = load_public_key(key.public_key_pem)
    assert isinstance(public, rsa.RSAPublicKey)
    raw = []
    for headers, body in requests:
        req = parse_signed_request(method="POST", target="/inbox", headers=headers, body=body)
        raw.append((req.signature, req.signing_string))
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()

    # Alternate batches of both, so that both see the same machine load.
    clock = time.perf_counter

    async def verify_batch(signed: list[tuple[Mapping[str, str], bytes]]) -> float:
        """Seconds spent verifying BATCH requests of `signed`, in turn."""
        start = clock()
        for i in range(BATCH):
            headers, body = signed[i % REQUESTS]
            await verify_request(
                method="POST",
                target="/inbox",
                headers=headers,
                body=body,
                resolver=resolver,
                now=now,
            )
        return clock() - start

    verified = raw_verified = rfc_verified = 0
    verified_time = raw_time = rfc_time = 0.0
    while verified_time < SECONDS or raw_time < SECONDS or rfc_time < SECONDS:
        verified_time += await verify_batch(requests)
        verified += BATCH

        start = clock()
        for i in range(BATCH):
            signature, message = raw[i % REQUESTS]
            public.verify(signature, message, pkcs1, sha256)
        raw_time += clock() - start
        raw_verified += BATCH

        rfc_time += await verify_batch(rfc9421)
        rfc_verified += BATCH

    verified_per_s = verified / verified_time
    raw_per_s = raw_verified / raw_time
    rfc_per_s = rfc_verified / rfc_time
    print(
        json.dumps(
            {
                "verified_per_s": round(verified_per_s),
                "raw_verify_per_s": round(raw_per_s),
                "ratio": round(verified_per_s / raw_per_s, 3),
                "rfc9421_verified_per_s": round(rfc_per_s),
                "rfc9421_ratio": round(rfc_per_s / raw_per_s, 3),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
