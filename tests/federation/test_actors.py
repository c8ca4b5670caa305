"""federation.actors: remote actor and key documents, wire → typed."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.actors import (
    ActorDocument,
    PublicKeyDoc,
    _split,
    find_key,
    is_http_url,
    parse_actor,
    parse_key_document,
    same_origin,
)
from federation.errors import ParseError

AS = "https://www.w3.org/ns/activitystreams"
PEM = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n-----END PUBLIC KEY-----\n"
ALICE = "https://social.example/users/alice"


def mastodon_actor() -> dict[str, object]:
    """Shaped like Mastodon 4.x's Person (app/serializers/activitypub/actor_serializer.rb)."""
    return {
        "@context": [
            AS,
            "https://w3id.org/security/v1",
            {"manuallyApprovesFollowers": "as:manuallyApprovesFollowers", "toot": "x"},
        ],
        "id": ALICE,
        "type": "Person",
        "following": f"{ALICE}/following",
        "followers": f"{ALICE}/followers",
        "inbox": f"{ALICE}/inbox",
        "outbox": f"{ALICE}/outbox",
        "featured": f"{ALICE}/collections/featured",
        "preferredUsername": "alice",
        "name": "Alice",
        "summary": "<p>Hello</p>",
        "url": "https://social.example/@alice",
        "manuallyApprovesFollowers": True,
        "discoverable": True,
        "indexable": False,
        "published": "2024-01-01T00:00:00Z",
        "publicKey": {"id": f"{ALICE}#main-key", "owner": ALICE, "publicKeyPem": PEM},
        "endpoints": {"sharedInbox": "https://social.example/inbox"},
        "icon": {"type": "Image", "mediaType": "image/png", "url": "https://files.example/a.png"},
        "attachment": [{"type": "PropertyValue", "name": "Web", "value": "<a>x</a>"}],
    }


def test_parse_mastodon_actor() -> None:
    actor = parse_actor(mastodon_actor())
    assert actor == ActorDocument(
        id=ALICE,
        type="Person",
        inbox=f"{ALICE}/inbox",
        preferred_username="alice",
        shared_inbox="https://social.example/inbox",
        outbox=f"{ALICE}/outbox",
        followers=f"{ALICE}/followers",
        following=f"{ALICE}/following",
        name="Alice",
        summary="<p>Hello</p>",
        url="https://social.example/@alice",
        icon_url="https://files.example/a.png",
        manually_approves=True,
        discoverable=True,
        public_keys=(PublicKeyDoc(id=f"{ALICE}#main-key", owner=ALICE, pem=PEM),),
    )


def test_parse_minimal_actor_defaults() -> None:
    actor = parse_actor(
        {
            "@context": AS,
            "id": ALICE,
            "type": "Service",
            "inbox": f"{ALICE}/inbox",
            "preferredUsername": "bot",
        }
    )
    assert actor.type == "Service"
    assert actor.shared_inbox is None
    assert actor.public_keys == ()
    assert (actor.manually_approves, actor.discoverable) == (False, False)


@pytest.mark.parametrize(
    "actor_type", ["Person", "Service", "Application", "Group", "Organization"]
)
def test_parse_accepts_mastodon_actor_types(actor_type: str) -> None:
    doc = mastodon_actor() | {"type": actor_type}
    assert parse_actor(doc).type == actor_type


def test_parse_accepts_type_list() -> None:
    doc = mastodon_actor() | {"type": ["foaf:Agent", "Organization"]}
    assert parse_actor(doc).type == "Organization"


def without(key: str) -> dict[str, object]:
    doc = mastodon_actor()
    del doc[key]
    return doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (without("id"), "id"),
        (without("inbox"), "inbox"),
        (without("@context"), "@context"),
        (without("type"), "type"),
        (mastodon_actor() | {"@context": ["https://w3id.org/security/v1"]}, "@context"),
        (mastodon_actor() | {"type": "Note"}, "type"),
        (mastodon_actor() | {"id": "ftp://social.example/alice"}, "id"),
        (mastodon_actor() | {"id": "/users/alice"}, "id"),
        (mastodon_actor() | {"id": "https://user:pw@social.example/alice"}, "id"),
        (mastodon_actor() | {"inbox": "javascript:alert(1)"}, "inbox"),
        (mastodon_actor() | {"inbox": ["https://social.example/inbox"]}, "inbox"),
        (without("preferredUsername") | {"id": "https://social.example/"}, "preferredUsername"),
        (mastodon_actor() | {"preferredUsername": "a" * 2049}, "preferredUsername"),
        (mastodon_actor() | {"followers": 5}, "followers"),
        (mastodon_actor() | {"endpoints": {"sharedInbox": "gopher://x"}}, "sharedInbox"),
        (mastodon_actor() | {"publicKey": {"id": f"{ALICE}#k", "owner": ALICE}}, "publicKeyPem"),
        (mastodon_actor() | {"publicKey": [42]}, "publicKey"),
        ([mastodon_actor()], "object"),
        ("https://social.example/users/alice", "object"),
    ],
)
def test_parse_actor_rejects_malformed(doc: object, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_actor(doc)


@pytest.mark.parametrize(
    ("actor_id", "username"),
    [
        (ALICE, "alice"),
        ("https://social.example/users/alice/", "alice"),
        ("https://bovine.example/endpoints/Zm9vYmFy", "Zm9vYmFy"),
        ("https://social.example/actor?x=1", "actor"),
    ],
)
@pytest.mark.parametrize("missing", [None, "", "  "])
def test_username_falls_back_to_the_last_path_segment(
    actor_id: str, username: str, missing: str | None
) -> None:
    doc = without("preferredUsername") | {"id": actor_id}
    if missing is not None:
        doc["preferredUsername"] = missing
    doc["publicKey"] = {"id": f"{actor_id}#k", "owner": actor_id, "publicKeyPem": PEM}
    actor = parse_actor(doc)
    assert actor.preferred_username == username
    assert [k.id for k in actor.public_keys] == [f"{actor_id}#k"]


def test_parse_tolerates_public_key_list_and_drops_foreign_keys() -> None:
    doc = mastodon_actor() | {
        "publicKey": [
            {"id": f"{ALICE}#main-key", "owner": ALICE, "publicKeyPem": PEM},
            {"id": f"{ALICE}#ed25519", "owner": ALICE, "publicKeyPem": PEM},
            # Claimed by another actor, or hosted elsewhere: never this actor's key.
            {
                "id": "https://social.example/users/bob#main-key",
                "owner": "https://social.example/users/bob",
                "publicKeyPem": PEM,
            },
            {"id": "https://evil.example/k", "owner": ALICE, "publicKeyPem": PEM},
            f"{ALICE}#bare-reference",
        ]
    }
    actor = parse_actor(doc)
    assert [k.id for k in actor.public_keys] == [f"{ALICE}#main-key", f"{ALICE}#ed25519"]
    assert find_key(actor, f"{ALICE}#ed25519") == actor.public_keys[1]
    assert find_key(actor, "https://social.example/users/bob#main-key") is None
    assert find_key(actor, "https://evil.example/k") is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://social.example/@alice", "https://social.example/@alice"),
        (
            {"type": "Link", "href": "https://social.example/@alice"},
            "https://social.example/@alice",
        ),
        (
            [
                {
                    "type": "Link",
                    "mediaType": "application/rss+xml",
                    "href": "https://s.example/rss",
                },
                {"type": "Link", "mediaType": "text/html", "href": "https://s.example/@a"},
            ],
            "https://s.example/@a",
        ),
        (["not a url", "https://s.example/@a"], "https://s.example/@a"),
        (42, None),
        ({"href": 42}, None),
    ],
)
def test_parse_url_forms(url: object, expected: str | None) -> None:
    assert parse_actor(mastodon_actor() | {"url": url}).url == expected


@pytest.mark.parametrize(
    ("icon", "expected"),
    [
        ({"type": "Image", "url": "https://f.example/a.png"}, "https://f.example/a.png"),
        (
            [{"type": "Image", "url": {"href": "https://f.example/b.png"}}],
            "https://f.example/b.png",
        ),
        (
            [{"type": "Image"}, {"type": "Image", "url": ["https://f.example/c.png"]}],
            "https://f.example/c.png",
        ),
        ("https://f.example/d.png", "https://f.example/d.png"),
        ({"url": "data:image/png;base64,AAAA"}, None),
        (None, None),
    ],
)
def test_parse_icon_forms(icon: object, expected: str | None) -> None:
    assert parse_actor(mastodon_actor() | {"icon": icon}).icon_url == expected


def test_parse_embedded_collection_uses_its_id() -> None:
    doc = mastodon_actor() | {"followers": {"id": f"{ALICE}/followers", "type": "Collection"}}
    assert parse_actor(doc).followers == f"{ALICE}/followers"


def test_parse_truncates_long_texts_and_ignores_non_text() -> None:
    actor = parse_actor(mastodon_actor() | {"name": "n" * 5000, "summary": {"en": "x"}})
    assert actor.name == "n" * 2048
    assert actor.summary is None


def test_parse_flags_need_real_booleans() -> None:
    doc = mastodon_actor() | {"manuallyApprovesFollowers": "true", "discoverable": 1}
    actor = parse_actor(doc)
    assert (actor.manually_approves, actor.discoverable) == (False, False)


def test_parse_does_not_mutate_input() -> None:
    doc = mastodon_actor()
    before = copy.deepcopy(doc)
    parse_actor(doc)
    assert doc == before


# --- key documents ------------------------------------------------------------------------


def test_parse_standalone_key_document() -> None:
    """GoToSocial serves keys at their own URL with an owner link."""
    doc = {
        "@context": "https://w3id.org/security/v1",
        "id": f"{ALICE}/main-key",
        "type": "CryptographicKey",
        "owner": ALICE,
        "publicKeyPem": PEM,
    }
    key = parse_key_document(doc, f"{ALICE}/main-key")
    assert key == PublicKeyDoc(id=f"{ALICE}/main-key", owner=ALICE, pem=PEM)
    assert parse_key_document(doc) == key


def test_parse_key_from_actor_document() -> None:
    """Mastodon's keyId `…/alice#main-key` dereferences to the whole actor."""
    key = parse_key_document(mastodon_actor(), f"{ALICE}#main-key")
    assert key.owner == ALICE
    assert parse_key_document(mastodon_actor()).id == f"{ALICE}#main-key"


@pytest.mark.parametrize(
    ("doc", "key_id"),
    [
        ({"id": f"{ALICE}/k", "owner": "https://other.example/users/x", "publicKeyPem": PEM}, None),
        ({"id": f"{ALICE}/k", "owner": ALICE, "publicKeyPem": PEM}, f"{ALICE}/other"),
        ({"id": f"{ALICE}/k", "owner": ALICE, "publicKeyPem": 7}, None),
        ({"id": f"{ALICE}/k", "publicKeyPem": PEM}, None),
        (mastodon_actor(), f"{ALICE}#other-key"),
        (without("publicKey"), None),
        (None, None),
    ],
)
def test_parse_key_document_rejects(doc: object, key_id: str | None) -> None:
    with pytest.raises(ParseError):
        parse_key_document(doc, key_id)


# --- origins ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("https://a.example/x", "https://a.example/y#k", True),
        ("https://A.example/x", "https://a.example:443/y", True),
        ("http://a.example/x", "http://a.example:80/y", True),
        ("https://a.example/x", "http://a.example/x", False),
        ("https://a.example/x", "https://a.example:8443/x", False),
        ("https://a.example/x", "https://b.a.example/x", False),
        ("https://a.example/x", "https://a.example@b.example/x", False),
        ("https://a.example/x", "not a url", False),
        ("https://a.example:bad/x", "https://a.example/x", False),
        # prefixes of the memoised origin text that are not the same origin
        ("https://a.example.evil/x", "https://a.example/y", False),
        ("https://a.example:4430/x", "https://a.example:443/y", False),
        ("https://a.example\\@b.example/x", "https://a.example/y", False),
        ("https://a.example/x y", "https://a.example/y", False),
        ("https://a.example/x\n", "https://a.example/y", False),
        ("https://a.example", "https://a.example/y", True),
        ("https://a.example?x=1", "https://a.example#k", True),
    ],
)
def test_same_origin(a: str, b: str, same: bool) -> None:
    assert same_origin(a, b) is same
    assert same_origin(b, a) is same


_URLISH = st.sampled_from(
    ["https://a.example", "http://a.example", "https://A.example:443", "https://a.example:8"]
)


@given(
    st.tuples(_URLISH, st.text(alphabet="/?#:@.\\ ax\n8", max_size=12)),
    st.tuples(_URLISH, st.text(alphabet="/?#:@.\\ ax\n8", max_size=12)),
)
@settings(max_examples=500)
def test_same_origin_agrees_with_parsing_both(a: tuple[str, str], b: tuple[str, str]) -> None:
    """The prefix shortcut never decides differently from comparing parsed origins."""
    ua, ub = a[0] + a[1], b[0] + b[1]
    pa, pb = _split(ua), _split(ub)
    assert same_origin(ua, ub) is (pa is not None and pa == pb)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("https://a.example/x", True),
        ("http://[::1]:8080/x", True),
        ("https://a.example/x y", False),
        ("https://", False),
        ("http://[::1/x", False),
        (None, False),
    ],
)
def test_is_http_url(value: object, ok: bool) -> None:
    assert is_http_url(value) is ok


# --- properties ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
# Values that are sometimes right, so the parser gets past its first checks.
plausible = (
    st.sampled_from(
        [
            AS,
            ALICE,
            f"{ALICE}/inbox",
            "alice",
            "Person",
            "Group",
            PEM,
            f"{ALICE}#main-key",
            "",
            "https://evil.example/x",
            "ftp://x",
            [AS],
            {"id": ALICE},
            {"href": ALICE},
        ]
    )
    | json_values
)
actor_keys = st.sampled_from(
    [
        "@context",
        "id",
        "type",
        "inbox",
        "outbox",
        "followers",
        "following",
        "preferredUsername",
        "name",
        "summary",
        "url",
        "icon",
        "publicKey",
        "endpoints",
        "manuallyApprovesFollowers",
        "discoverable",
        "owner",
        "publicKeyPem",
        "sharedInbox",
        "href",
    ]
)
actorish = st.dictionaries(
    actor_keys,
    plausible
    | st.dictionaries(actor_keys, plausible, max_size=4)
    | st.lists(st.dictionaries(actor_keys, plausible, max_size=4), max_size=3),
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(json_values, actorish))
def test_parsers_only_raise_parse_error(obj: object) -> None:
    for parse in (parse_actor, parse_key_document):
        try:
            result = parse(obj)
        except ParseError:
            continue
        assert isinstance(result, ActorDocument | PublicKeyDoc)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(actor_keys, plausible, max_size=6))
def test_perturbed_mastodon_actor_parses_or_raises_parse_error(changes: dict[str, object]) -> None:
    doc = mastodon_actor() | changes
    try:
        actor = parse_actor(doc)
    except ParseError:
        return
    assert is_http_url(actor.id)
    assert is_http_url(actor.inbox)
    assert all(k.owner == actor.id and same_origin(k.id, actor.id) for k in actor.public_keys)
