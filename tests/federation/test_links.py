"""Organisation links on the wire: the Offer round-trips, malformed shapes are refused with
ParseError (and only that), collections are read inline or from their first page."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.errors import ParseError
from federation.featured import (
    FeaturedMember,
    render_feature_authorization,
    render_featured_collection,
    stamp_uri,
)
from federation.links import (
    KINDS,
    LinkCollections,
    LinkOffer,
    mirror_kind,
    parse_collection_items,
    parse_link_collections,
    parse_offer,
    render_link_collection,
    render_offer,
)

A = "https://a.example/users/a"
B = "https://b.example/users/b"


@pytest.mark.parametrize("kind", KINDS)
def test_render_then_parse_offer_round_trips(kind: str) -> None:
    doc = render_offer(offer_id=f"{A}/links/1", subject=A, target=B, kind=kind)
    assert parse_offer(doc) == LinkOffer(offer_id=f"{A}/links/1", subject=A, target=B, kind=kind)


def test_kinds_mirror() -> None:
    assert [mirror_kind(k) for k in KINDS] == ["branch", "parent", "partner"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"type": "Follow"}, "not an Offer"),
        ({"id": "urn:x"}, "no id"),
        ({"object": B}, "not an OrganizationLink"),
        ({"object": {"type": "Note"}}, "not an OrganizationLink"),
        ({"object": {"type": "OrganizationLink", "subject": A, "linkKind": "branch"}}, "needs"),
        (
            {"object": {"type": "OrganizationLink", "subject": A, "object": B, "linkKind": "boss"}},
            "linkKind",
        ),
    ],
)
def test_malformed_offers_are_refused(change: dict[str, object], reason: str) -> None:
    doc = render_offer(offer_id=f"{A}/links/1", subject=A, target=B, kind="branch") | change
    with pytest.raises(ParseError, match=reason):
        parse_offer(doc)


def test_collections_are_read_inline_or_from_their_first_page() -> None:
    assert parse_collection_items(render_link_collection(f"{A}/branches", [B, B])) == ([B], None)
    head = {"type": "OrderedCollection", "first": f"{A}/branches?page=1"}
    assert parse_collection_items(head) == ([], f"{A}/branches?page=1")
    embedded = {"type": "Collection", "first": {"type": "CollectionPage", "items": [B, 7]}}
    assert parse_collection_items(embedded) == ([B], None)
    with pytest.raises(ParseError):
        parse_collection_items({"type": "Note"})


def test_link_collections_of_an_actor_document() -> None:
    doc = {"branches": f"{A}/branches", "partners": "nope", "parentOrganizations": 3}
    assert parse_link_collections(doc) == LinkCollections(branches=f"{A}/branches")
    assert parse_link_collections([]) == LinkCollections()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.just(A),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["id", "type", "object", "subject", "linkKind", "items", "orderedItems", "first"]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=12,
)
offerish = st.fixed_dictionaries(
    {"type": st.sampled_from(["Offer", ["Offer"], "Accept"]), "id": st.sampled_from([A, 1, None])},
    optional={
        "object": st.fixed_dictionaries(
            {"type": st.sampled_from(["OrganizationLink", "Note", 3])},
            optional={
                "subject": json_values,
                "object": json_values,
                "linkKind": st.sampled_from([*KINDS, "x", 1]),
            },
        )
        | json_values
    },
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(json_values, offerish))
def test_parsers_only_raise_parse_error(obj: object) -> None:
    for parse in (parse_offer, parse_collection_items):
        try:
            parse(obj)
        except ParseError:
            continue
    assert isinstance(parse_link_collections(obj), LinkCollections)


def test_featured_collection_items_name_their_stamps_on_the_featured_server() -> None:
    since = datetime(2026, 12, 4, tzinfo=UTC)
    doc = render_featured_collection(
        collection_id="https://fed.example/users/bund/featured_collections/branches",
        name="Branches",
        summary="",
        owner_uri="https://fed.example/users/bund",
        url="https://fed.example/@bund",
        members=[FeaturedMember("https://state.example/users/land", "Organization", since)],
    )
    assert doc["type"] == "FeaturedCollection" and doc["totalItems"] == 1
    items = doc["orderedItems"]
    assert isinstance(items, list)
    [item] = items
    stamp = stamp_uri("https://state.example/users/land", str(doc["id"]))
    assert item["featureAuthorization"] == stamp
    assert stamp.startswith("https://state.example/users/land/feature_stamps/")
    authorization = render_feature_authorization(
        featured_actor_uri="https://state.example/users/land", collection_uri=str(doc["id"])
    )
    assert authorization["id"] == stamp
    assert authorization["interactingObject"] == doc["id"]
