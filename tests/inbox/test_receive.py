"""The inbox route refuses what it must, stores nothing it refuses, de-duplicates the rest."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import cast

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from federation.activities import activity_type
from federation.keys import generate_rsa_private_key_pem, public_key_pem
from federation.policy import OPEN, FederationPolicy
from federation.signatures import ResolvedKey, SignatureReason, sign_request
from inbox.models import InboxActivity
from inbox.receive import GroupCommitter, InboxError, InboxReceiver, read_activity
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.fakes import FakeRemote, shared_key


@pytest.fixture
async def alpha(start_instance: StartInstance) -> Instance:
    inst = await start_instance("alpha", max_inbox_bytes=4096)
    await inst.add_actor("news")
    return inst


@pytest.fixture
async def remote(resolver: LoopbackResolver) -> AsyncIterator[FakeRemote]:
    fake = FakeRemote("social.example", shared_key())
    fake.add_person("mallory")
    fake.add_person("bob")
    await fake.start(resolver)
    yield fake
    await fake.stop()


def follow(actor: str, target: str, n: int = 1) -> dict[str, object]:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor}#follows/{n}",
        "type": "Follow",
        "actor": actor,
        "object": target,
    }


async def stored(inst: Instance) -> int:
    async with inst.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(InboxActivity)) or 0)


@pytest.mark.parametrize("path", ["/inbox", "/users/news/inbox"])
async def test_signed_activity_is_stored_once_and_answered_202(
    alpha: Instance, remote: FakeRemote, client: aiohttp.ClientSession, path: str
) -> None:
    act = follow(f"{remote.base}/users/bob", alpha.actor_uri("news"))
    assert await remote.post(client, alpha.base_url + path, act) == 202
    assert await remote.post(client, alpha.base_url + path, act) == 202  # a duplicate
    assert await stored(alpha) == 1


async def test_unsigned_and_forged_requests_get_401_and_nothing_is_stored(
    alpha: Instance, remote: FakeRemote, client: aiohttp.ClientSession
) -> None:
    url = alpha.base_url + "/inbox"
    bob = f"{remote.base}/users/bob"
    act = follow(bob, alpha.actor_uri("news"))
    assert await remote.post(client, url, act, signed=False) == 401
    # Forged: bob's key id, but signed with another key.
    assert (
        await remote.post(client, url, act, private_key_pem=generate_rsa_private_key_pem()) == 401
    )
    # Signed by mallory (valid), claiming to be bob: the key's owner is not the actor.
    assert (
        await remote.post(client, url, act, key_id=f"{remote.base}/users/mallory#main-key") == 401
    )
    # A valid request replayed two hours later: outside the window.
    old = datetime.now(UTC) - timedelta(hours=2)
    assert await remote.post(client, url, follow(bob, alpha.actor_uri("news"), 2), now=old) == 401
    # A key that cannot be fetched.
    assert (
        await remote.post(
            client, url, follow(f"{remote.base}/users/ghost", alpha.actor_uri("news"))
        )
        == 401
    )
    assert await stored(alpha) == 0


async def test_body_changed_after_signing_is_refused(
    alpha: Instance, remote: FakeRemote, client: aiohttp.ClientSession
) -> None:
    from federation.signatures import sign_request

    url = alpha.base_url + "/inbox"
    body = json.dumps(follow(f"{remote.base}/users/bob", alpha.actor_uri("news"))).encode()
    headers = sign_request(
        method="POST",
        url=url,
        headers={"Content-Type": "application/activity+json"},
        body=body,
        key_id=f"{remote.base}/users/bob#main-key",
        private_key_pem=remote.private_key_pem,
        now=datetime.now(UTC),
    )
    async with client.post(url, data=body.replace(b"Follow", b"Block "), headers=headers) as resp:
        assert resp.status == 401
        assert "digest" in (await resp.json())["error"]
    assert await stored(alpha) == 0


async def test_malformed_oversize_and_cross_origin_input(
    alpha: Instance, remote: FakeRemote, client: aiohttp.ClientSession
) -> None:
    url = alpha.base_url + "/inbox"
    bob = f"{remote.base}/users/bob"
    assert await remote.post(client, url, b"not json", key_id=bob + "#main-key") == 400
    assert await remote.post(client, url, b"[1, 2]", key_id=bob + "#main-key") == 400
    assert (
        await remote.post(client, url, {"type": "Follow", "actor": bob}, key_id=bob + "#main-key")
        == 400
    )
    big = follow(bob, alpha.actor_uri("news"))
    big["content"] = "x" * 5000
    assert await remote.post(client, url, big) == 413
    # An activity id on another origin than its actor.
    spoof = follow(bob, alpha.actor_uri("news"))
    spoof["id"] = "http://elsewhere.example/follows/1"
    assert await remote.post(client, url, spoof) == 400
    # A Create whose object claims to be another server's.
    create: dict[str, object] = {
        "id": f"{bob}/statuses/1/activity",
        "type": "Create",
        "actor": bob,
        "object": {"id": "http://alpha.test/notes/1", "type": "Note", "attributedTo": bob},
    }
    assert await remote.post(client, url, create) == 400
    # The same claim hidden in a list of objects.
    create["object"] = [{"id": f"{bob}/statuses/2", "type": "Note"}, create["object"]]
    assert await remote.post(client, url, create) == 400
    async with client.post(
        alpha.base_url + "/users/nobody/inbox",
        data=b"{}",
        headers={"Content-Type": "application/activity+json"},
    ) as resp:
        assert resp.status == 404
    assert await stored(alpha) == 0


async def test_blocked_domain_gets_403(
    start_instance: StartInstance, remote: FakeRemote, client: aiohttp.ClientSession
) -> None:
    alpha = await start_instance("alpha", blocked_domains=("example",))
    await alpha.add_actor("news")
    act = follow(f"{remote.base}/users/bob", alpha.actor_uri("news"))
    assert await remote.post(client, alpha.base_url + "/inbox", act) == 403
    assert await stored(alpha) == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Create", "Create"),
        (["Create"], "Create"),
        (["litepub:Unknown", "Follow"], "Follow"),
        (["EmojiReact", "Like"], "Like"),
        (["EmojiReact"], "EmojiReact"),
        ("x" * 33, None),
        (["x" * 33, "Undo"], "Undo"),
        ([], None),
        ([1, None], None),
        ("", None),
        (None, None),
    ],
)
def test_activity_type_picks_the_first_type_we_handle(value: object, expected: str | None) -> None:
    assert activity_type(value) == expected


def test_parse_activity_stores_the_picked_type() -> None:
    body = {"id": "https://a.example/1", "type": ["Announce"], "actor": "https://a.example/u"}
    activity = read_activity(json.dumps(body).encode())
    doc, act_type = activity.body, activity.type
    assert act_type == "Announce" and doc["type"] == ["Announce"]
    with pytest.raises(InboxError, match="no type"):
        read_activity(json.dumps(body | {"type": [42]}).encode())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@given(json_values)
def test_parse_activity_only_raises_inbox_error(value: object) -> None:
    body = {"id": "https://a.example/1", "type": value, "actor": "https://a.example/u"}
    try:
        act_type = read_activity(json.dumps(body).encode()).type
    except InboxError as exc:
        assert exc.status == 400
    else:
        assert isinstance(act_type, str) and 0 < len(act_type) <= 32


# --- the receiver without HTTP: typed refusal reasons and the domain policy --------------

_PEM = generate_rsa_private_key_pem()
_MALLORY, _BOB = "https://social.example/users/mallory", "https://social.example/users/bob"


class _NoStore:
    """A committer that must not be reached (every request below is refused)."""

    async def store(self, row: object) -> None:
        raise AssertionError(f"stored {row!r}")


async def _mallorys_key(key_id: str, *, refresh: bool) -> ResolvedKey:
    return ResolvedKey(key_id, _MALLORY, public_key_pem(_PEM))


def _receiver(policy: FederationPolicy = OPEN) -> InboxReceiver:
    return InboxReceiver(
        cast(GroupCommitter, _NoStore()), _mallorys_key, clock=lambda: _NOW, policy=policy
    )


_NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _signed(actor: str) -> tuple[dict[str, str], bytes]:
    body = json.dumps(follow(actor, "https://alpha.test/users/news")).encode()
    headers = sign_request(
        method="POST",
        url="https://alpha.test/inbox",
        headers={"Content-Type": "application/activity+json"},
        body=body,
        key_id=f"{_MALLORY}#main-key",
        private_key_pem=_PEM,
        now=_NOW,
    )
    return headers, body


async def test_owner_mismatch_keeps_its_signature_reason() -> None:
    headers, body = _signed(_BOB)  # mallory's key, bob's activity
    with pytest.raises(InboxError) as refused:
        await _receiver().receive(
            method="POST", target="/inbox", headers=headers, body=body, recipient_uri=None
        )
    assert refused.value.status == 401
    assert refused.value.reason is SignatureReason.OWNER_MISMATCH


async def test_a_blocked_domain_is_refused_before_verifying() -> None:
    headers, body = _signed(_MALLORY)
    with pytest.raises(InboxError) as refused:
        await _receiver(FederationPolicy.blocking(["example"])).receive(
            method="POST", target="/inbox", headers=headers, body=body, recipient_uri=None
        )
    assert refused.value.status == 403 and refused.value.reason is None
