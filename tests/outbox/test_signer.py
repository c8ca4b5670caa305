"""The signing child process: real signatures over real HTTP, and a fallback when it is gone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp import web

from federation.fetch import InMemorySchemeMemory, Signer, make_connector, post_activity
from federation.keys import generate_rsa_private_key_pem, public_key_pem
from federation.signatures import (
    SignatureScheme,
    check_time_window,
    parse_signed_request,
    verify_signature,
)
from outbox.signer import SignerProcess

PEM = generate_rsa_private_key_pem()


@pytest.fixture
async def signer() -> AsyncIterator[SignerProcess]:
    process = SignerProcess()
    await process.start()
    yield process
    await process.close()


@pytest.fixture
async def verifying_inbox() -> AsyncIterator[tuple[str, list[str]]]:
    """An inbox that answers 202 only to a valid signature by PEM's public key."""
    seen: list[str] = []

    async def inbox(request: web.Request) -> web.Response:
        body = await request.read()
        req = parse_signed_request(
            method="POST",
            target=request.raw_path,
            headers=request.headers,
            body=body,
            url_scheme="http",
        )
        check_time_window(req, datetime.now(UTC))
        verify_signature(req, public_key_pem(PEM))
        seen.append(req.scheme.value)
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/inbox", inbox)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[-1][1]}/inbox", seen
    await runner.cleanup()


async def test_child_signatures_verify_over_http_in_both_schemes(
    signer: SignerProcess, verifying_inbox: tuple[str, list[str]]
) -> None:
    import aiohttp

    url, seen = verifying_inbox
    key = Signer(
        "http://alpha.test/users/news#main-key",
        PEM,
        lambda: datetime.now(UTC),
        sign_with=signer.sign,
    )
    memory = InMemorySchemeMemory()
    async with aiohttp.ClientSession(connector=make_connector(allow_private=True)) as http:
        for _ in range(3):
            result = await post_activity(
                http, url, b'{"type":"Follow"}', signer=key, memory=memory, allow_private=True
            )
            assert result.status == 202
        memory.remember("127.0.0.1:" + url.split(":")[2].split("/")[0], SignatureScheme.RFC9421)
        result = await post_activity(
            http, url, b"{}", signer=key, memory=memory, allow_private=True
        )
        assert result.status == 202
    assert seen == ["draft-cavage-12"] * 3 + ["rfc9421"]
    assert signer.running


async def test_signing_falls_back_in_process_when_the_child_is_gone(
    signer: SignerProcess, verifying_inbox: tuple[str, list[str]]
) -> None:
    first = await signer.sign(PEM, b"message")
    await signer.close()
    assert not signer.running
    assert await signer.sign(PEM, b"message") == first  # PKCS#1 v1.5 is deterministic
