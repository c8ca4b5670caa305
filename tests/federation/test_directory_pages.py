"""`federation.directory_pages`: a peer's directory collection, pages and items, wire → typed."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.directory_pages import (
    MAX_INTERESTS,
    DirectoryItem,
    DirectoryTombstone,
    format_timestamp,
    parse_directory_collection,
    parse_directory_item,
    parse_directory_page,
    parse_timestamp,
)
from federation.errors import ParseError

BASE = "https://beta.example"
ITEM: dict[str, object] = {
    "id": f"{BASE}/users/klima",
    "type": "Organization",
    "preferredUsername": "klima",
    "name": "Klimabündnis",
    "summary": "<p>Für <b>Radwege</b></p>",
    "url": f"{BASE}/@klima",
    "icon": {"type": "Image", "url": f"{BASE}/media/klima.png"},
    "inbox": f"{BASE}/users/klima/inbox",
    "updated": "2026-12-01T12:00:00Z",
    "region": "DE-BE",
    "locality": "  Pankow  ",
    "postalCodePrefix": "10",
    "interests": ["Klima", "#Verkehrswende", "klima", ""],
    "tag": [{"type": "Hashtag", "name": "#Ignored"}],
    "discoverable": True,
    "indexable": True,
}


def test_an_item_is_read_with_every_field() -> None:
    parsed = parse_directory_item(ITEM)
    assert parsed == DirectoryItem(
        id=f"{BASE}/users/klima",
        type="Organization",
        preferred_username="klima",
        updated=datetime(2026, 12, 1, 12, tzinfo=UTC),
        name="Klimabündnis",
        summary_html="<p>Für <b>Radwege</b></p>",
        url=f"{BASE}/@klima",
        icon_url=f"{BASE}/media/klima.png",
        region="DE-BE",
        locality="Pankow",
        postal_prefix="10",
        interests=("Klima", "Verkehrswende"),  # `#` dropped, duplicates and blanks too
        discoverable=True,
        indexable=True,
    )


def test_interests_fall_back_to_hashtags_and_are_capped() -> None:
    tags = [{"type": "Hashtag", "name": f"#t{n}"} for n in range(10_000)]
    parsed = parse_directory_item({**ITEM, "interests": None, "tag": tags})
    assert isinstance(parsed, DirectoryItem)
    assert parsed.interests == tuple(f"t{n}" for n in range(MAX_INTERESTS))


@pytest.mark.parametrize("flag", [None, "true", 1, False])
def test_discoverable_is_true_only_for_json_true(flag: object) -> None:
    parsed = parse_directory_item({**ITEM, "discoverable": flag})
    assert isinstance(parsed, DirectoryItem) and parsed.discoverable is False


def test_a_tombstone_carries_only_its_id_and_time() -> None:
    parsed = parse_directory_item(
        {
            "id": ITEM["id"],
            "type": "Tombstone",
            "formerType": "Person",
            "updated": "2026-12-02T00:00:00+01:00",
        }
    )
    assert parsed == DirectoryTombstone(str(ITEM["id"]), datetime(2026, 12, 1, 23, tzinfo=UTC))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": "ftp://x/y"}, "id"),
        ({"type": "Note"}, "actor type"),
        ({"preferredUsername": " "}, "preferredUsername"),
        ({"updated": "2026-12-01T12:00:00"}, "UTC offset"),
        ({"updated": "yesterday"}, "RFC 3339"),
        ({"updated": "0001-01-01T00:00:00+01:00"}, "out of range"),
    ],
)
def test_bad_items_raise_parse_error(change: dict[str, object], message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_directory_item({**ITEM, **change})


def test_a_page_keeps_good_items_and_counts_the_rest() -> None:
    parsed = parse_directory_page(
        {
            "type": "OrderedCollectionPage",
            "id": f"{BASE}/directory?page=true",
            "next": {"id": f"{BASE}/directory?page=true&before=abc"},
            "orderedItems": [ITEM, "junk", {**ITEM, "type": "Note"}],
        }
    )
    assert parsed.next == f"{BASE}/directory?page=true&before=abc"
    assert len(parsed.items) == 1 and parsed.malformed == 2


def test_a_collection_links_or_embeds_its_first_page() -> None:
    linked = parse_directory_collection(
        {"type": "OrderedCollection", "totalItems": 3, "first": f"{BASE}/directory?page=true"}
    )
    assert (linked.total_items, linked.first, linked.first_page) == (
        3,
        f"{BASE}/directory?page=true",
        None,
    )
    embedded = parse_directory_collection(
        {
            "type": "OrderedCollection",
            "first": {"type": "OrderedCollectionPage", "orderedItems": [ITEM]},
        }
    )
    assert embedded.first is None and embedded.first_page is not None
    flat = parse_directory_collection({"type": "OrderedCollection", "orderedItems": [ITEM]})
    assert flat.first_page is not None and len(flat.first_page.items) == 1


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"type": "Person"},
        {"type": "OrderedCollection", "totalItems": -1},
        {"type": "OrderedCollection", "totalItems": True},
        {"type": "OrderedCollection", "first": 42},
        {"type": "OrderedCollection", "first": "javascript:alert(1)"},
    ],
)
def test_bad_collections_raise_parse_error(doc: object) -> None:
    with pytest.raises(ParseError):
        parse_directory_collection(doc)


def test_timestamps_round_trip() -> None:
    when = datetime(2026, 12, 3, 17, 0, 0, 500_000, tzinfo=UTC)
    assert format_timestamp(when) == "2026-12-03T17:00:00.500000Z"
    assert parse_timestamp(format_timestamp(when)) == when


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
item_keys = st.sampled_from(
    [
        "id",
        "type",
        "preferredUsername",
        "name",
        "summary",
        "url",
        "icon",
        "updated",
        "region",
        "locality",
        "postalCodePrefix",
        "interests",
        "tag",
        "discoverable",
        "indexable",
        "first",
        "next",
        "orderedItems",
        "items",
        "totalItems",
    ]
)
plausible = st.one_of(
    json_values,
    st.sampled_from(
        [
            f"{BASE}/users/x",
            "Organization",
            "Tombstone",
            "OrderedCollection",
            "OrderedCollectionPage",
            "2026-12-01T12:00:00Z",
            "9999-12-31T23:59:59-01:00",
            "DE-BE",
            ["Klima", 3, None],
            [{"type": "Hashtag", "name": "#x"}],
        ]
    ),
)
itemish = st.dictionaries(item_keys, plausible, max_size=8)
pageish = st.dictionaries(
    item_keys, plausible | st.lists(itemish, max_size=3) | itemish, max_size=6
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, itemish, pageish))
def test_parsers_only_raise_parse_error(doc: object) -> None:
    for parse in (parse_directory_collection, parse_directory_page, parse_directory_item):
        with contextlib.suppress(ParseError):
            parse(doc)
