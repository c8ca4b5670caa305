"""Contact request terms on the wire: what `parse_contact_terms` reads, and that it never raises."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from federation.activities import activity_of, parse_activity
from federation.contacts import (
    CONTACT_CONTEXT,
    MAX_MESSAGE,
    ContactTerms,
    contact_follow_terms,
    parse_contact_terms,
)
from federation.documents import VERBUND_NS, render_verbund_context
from tests.federation.test_activities import json_values

BOB = "https://mastodon.example/users/bob"
KV = "https://alpha.example/users/kv"


def terms(doc: dict[str, object]) -> ContactTerms:
    body = {"id": f"{BOB}#1", "actor": BOB, **doc}
    return parse_contact_terms(activity_of(parse_activity(json.dumps(body))))


def test_message_comes_from_our_term_before_content() -> None:
    follow = {"type": "Follow", "object": KV, **contact_follow_terms("Hallo")}
    assert follow["@context"] == CONTACT_CONTEXT
    assert terms(follow) == terms({**follow, "content": "other"})
    parsed = terms({**follow, "content": "other"})
    assert parsed.message == "Hallo"
    # Any spelling of our term; `content` alone (a Mastodon-shaped sender) counts too.
    for key in ("verbund:contactMessage", VERBUND_NS + "contactMessage", "content"):
        assert terms({"type": "Follow", "object": KV, key: " Hi "}).message == "Hi"
    assert terms({"type": "Follow", "object": KV}).message == ""
    long = terms({"type": "Follow", "object": KV, "content": "x" * (MAX_MESSAGE + 10)})
    assert len(long.message) == MAX_MESSAGE


def test_note_names_its_follow_and_reject_says_expired() -> None:
    note = {"id": f"{BOB}/n", "type": "Note", "contactRequest": f"{BOB}/follows/1"}
    create = terms({"type": "Create", "object": note})
    assert create.request == f"{BOB}/follows/1"
    embedded = {**note, "contactRequest": {"id": f"{BOB}/follows/2"}}
    assert terms({"type": "Create", "object": embedded}).request == f"{BOB}/follows/2"
    for bad in ("javascript:x", 7, None, "https://x.example/" + "a" * 10_000):
        plain = terms({"type": "Create", "object": {**note, "contactRequest": bad}})
        assert plain.request is None
    assert terms({"type": "Reject", "object": KV, "contactExpired": True}).expired
    assert not terms({"type": "Reject", "object": KV, "contactExpired": "yes"}).expired


def test_served_context_defines_the_contact_terms() -> None:
    context = render_verbund_context()["@context"]
    assert isinstance(context, dict)
    assert context["contactMessage"] == "verbund:contactMessage"
    assert context["contactRequest"] == {"@id": "verbund:contactRequest", "@type": "@id"}


contact_keys = st.sampled_from(["content", "contactMessage", "contactExpired", "object"])


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(contact_keys, json_values))
def test_parse_contact_terms_never_raises(doc: dict[str, object]) -> None:
    terms({"type": "Follow", **doc})
    terms({"type": "Create", "object": {"type": "Note", **doc}})
