"""The directory profile in actor documents: rendered by us, read back from anyone."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.actors import MAX_INTERESTS, ActorDocument, parse_actor
from federation.documents import (
    ACTOR_CONTEXT,
    VERBUND_NS,
    ActorUris,
    Interest,
    LocalActorView,
    ProfileView,
    render_actor,
    render_actor_bare,
    render_verbund_context,
)
from federation.errors import ParseError

AS = "https://www.w3.org/ns/activitystreams"
BASE = "https://alpha.test"
FIXTURES = Path(__file__).parent.parent / "fixtures"
PEM = "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n"


def view(profile: ProfileView | None) -> LocalActorView:
    uri = f"{BASE}/users/kv"
    return LocalActorView(
        urls=ActorUris(
            id=uri,
            key_id=f"{uri}#main-key",
            inbox=f"{uri}/inbox",
            outbox=f"{uri}/outbox",
            followers=f"{uri}/followers",
            following=f"{uri}/following",
            profile_page=f"{BASE}/@kv",
        ),
        type="Organization",
        username="kv",
        display_name="Kreisverband",
        summary_html="",
        public_key_pem=PEM,
        manually_approves=False,
        discoverable=True,
        published=datetime(2026, 1, 1, tzinfo=UTC),
        indexable=True,
        profile=profile,
    )


PROFILE = ProfileView(
    region_code="DE-BE",
    region_label="Pankow, Berlin (DE-BE)",
    locality="Pankow",
    postal_prefix="10",
    interests=(
        Interest("Klima", f"{BASE}/tags/klima"),
        Interest("Verkehrswende", f"{BASE}/tags/verkehrswende"),
    ),
)


def mastodon_fixture(base: str = "https://social.example") -> dict[str, object]:
    text = (FIXTURES / "mastodon" / "actor_profile_fields.json").read_text()
    doc = json.loads(text.replace("{base}", base).replace("{pem}", PEM.replace("\n", "\\n")))
    assert isinstance(doc, dict)
    return doc


def minimal(**extra: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "@context": [AS, {"verbund": VERBUND_NS, "region": "verbund:region"}],
        "id": "https://peer.example/users/a",
        "type": "Organization",
        "inbox": "https://peer.example/users/a/inbox",
        "preferredUsername": "a",
    }
    return doc | extra


def test_render_then_parse_round_trips_the_profile() -> None:
    doc = json.loads(json.dumps(render_actor(view(PROFILE))))
    parsed = parse_actor(doc)
    assert (parsed.region_code, parsed.locality, parsed.postal_prefix) == ("DE-BE", "Pankow", "10")
    assert parsed.interests == ("Klima", "Verkehrswende")
    assert (parsed.discoverable, parsed.indexable) == (True, True)


def test_an_actor_without_profile_renders_none_and_parses_empty() -> None:
    doc = render_actor(view(ProfileView()))
    assert "region" not in doc and doc["interests"] == [] and doc["attachment"] == []
    parsed = parse_actor(doc)
    assert (parsed.region_code, parsed.interests) == (None, ())


def test_bare_document_keeps_the_context_but_not_the_profile() -> None:
    bare = render_actor_bare(view(PROFILE))
    assert bare["@context"] == ACTOR_CONTEXT
    assert not {"region", "interests", "attachment", "tag", "discoverable"} & set(bare)


def test_served_context_defines_every_term() -> None:
    context = render_verbund_context()["@context"]
    assert isinstance(context, dict)
    assert context["verbund"] == VERBUND_NS
    for term in ("region", "locality", "postalCodePrefix", "interests"):
        assert context[term] == f"verbund:{term}"
    assert context["discoverable"] == "toot:discoverable"


def test_mastodon_shaped_actor_is_read_from_field_and_hashtags() -> None:
    parsed = parse_actor(mastodon_fixture())
    # Its bare `region` key means nothing without our context: the field decides.
    assert parsed.region_code == "DE-BE"
    assert parsed.interests == ("Verkehrswende", "Radverkehr")
    assert (parsed.discoverable, parsed.indexable) == (True, True)


def test_bare_region_key_without_our_context_is_ignored() -> None:
    doc = minimal(region="FR", interests=["Klima"])
    doc["@context"] = [AS]
    parsed = parse_actor(doc)
    assert (parsed.region_code, parsed.interests) == (None, ())


def test_a_reference_to_a_served_context_counts_as_ours() -> None:
    doc = minimal(region="fr-idf", interests=["Écologie"])
    doc["@context"] = [AS, "https://peer.example/ns/verbund.jsonld"]
    parsed = parse_actor(doc)
    assert (parsed.region_code, parsed.interests) == ("FR-IDF", ("Écologie",))


@pytest.mark.parametrize(
    ("name", "value", "code"),
    [
        ("region", "<p>Wien (<b>AT-9</b>)</p>", "AT-9"),
        ("Region / Region", "Bayern (DE-BY)", "DE-BY"),
        ("REGION", "Somewhere (XYZ)", None),
        ("Regions", "Berlin (DE-BE)", None),
        ("Region", ["Berlin (DE-BE)"], None),
    ],
)
def test_region_field_variants(name: str, value: object, code: str | None) -> None:
    doc = minimal(attachment=[{"type": "PropertyValue", "name": name, "value": value}])
    doc["@context"] = [AS]
    assert parse_actor(doc).region_code == code


@pytest.mark.parametrize(
    "value",
    ["DE-BERLIN", "de be", "", 7, ["DE"], {"code": "DE"}, "D\u200bE", "DE-" + "B" * 5000],
)
def test_malformed_region_terms_are_dropped(value: object) -> None:
    assert parse_actor(minimal(region=value)).region_code is None


def test_hostile_profile_values_cost_nothing_but_themselves() -> None:
    doc = minimal(
        type=["Organization", "Service"],
        locality="<script>alert(1)</script>Pankow\u202e\x00",
        postalCodePrefix="<b>10</b>",
        interests=[f"tag{i}" for i in range(10_000)] + ["<b>x</b>"],
        indexable="yes",
        discoverable=1,
        tag={"type": "Hashtag", "name": "#ignored"},
    )
    doc["@context"] = [AS, {"verbund": VERBUND_NS}]
    doc["region"] = "de-be"
    parsed = parse_actor(doc)
    assert parsed.type == "Organization"
    assert parsed.region_code == "DE-BE"
    assert "<" not in parsed.locality and "\u202e" not in parsed.locality
    assert parsed.locality.endswith("Pankow")
    assert parsed.postal_prefix == ""
    assert len(parsed.interests) == MAX_INTERESTS
    assert (parsed.indexable, parsed.discoverable) == (False, False)


def test_interests_are_cleaned_collapsed_and_capped() -> None:
    doc = minimal(interests=["#Klima", "klima", "Kli ma", "<b>Wald</b>", "2025", "ß" * 60, 5])
    doc["@context"] = [AS, {"verbund": VERBUND_NS}]
    assert parse_actor(doc).interests == ("Klima", "Wald")


profile_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=30),
    st.sampled_from(["DE-BE", "(DE)", "#Klima", "<p>Berlin (DE-BE)</p>", "10", "Region"]),
    st.lists(st.text(max_size=10), max_size=5),
    st.dictionaries(
        st.sampled_from(["type", "name", "value", "href", "@id"]),
        st.one_of(st.text(max_size=20), st.sampled_from(["PropertyValue", "Hashtag", "Region"])),
        max_size=4,
    ),
)
profile_keys = st.sampled_from(
    ["region", "locality", "postalCodePrefix", "interests", "attachment", "tag", "indexable"]
)
contexts = st.one_of(
    st.just([AS]),
    st.just([AS, {"verbund": VERBUND_NS}]),
    st.lists(st.one_of(st.just(AS), profile_values), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        profile_keys, profile_values | st.lists(profile_values, max_size=4), max_size=7
    ),
    contexts,
)
def test_profile_parsing_only_raises_parse_error(
    changes: dict[str, object], context: object
) -> None:
    doc = minimal(**changes)
    doc["@context"] = context
    try:
        parsed = parse_actor(doc)
    except ParseError:
        return
    assert isinstance(parsed, ActorDocument)
    assert len(parsed.interests) <= MAX_INTERESTS
    assert parsed.region_code is None or parsed.region_code.isupper()
