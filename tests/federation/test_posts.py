"""federation.posts: wire objects narrowed to a Post; only ParseError on hostile input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.activities import activity_of, parse_activity
from federation.errors import ParseError
from federation.posts import Post, Tag, parse_post

BOB = "https://b.example/users/bob"
AS_PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def note(**fields: object) -> dict[str, object]:
    return {
        "id": f"{BOB}/statuses/1",
        "type": "Note",
        "attributedTo": BOB,
        "content": "<p>Hi <script>x</script></p>",
        "to": [AS_PUBLIC],
    } | fields


def test_a_note_is_narrowed_and_cleaned() -> None:
    post = parse_post(
        note(
            summary="<b>CW</b>",
            tag=[
                {"type": "Mention", "href": "https://c.example/u/c", "name": "@c"},
                {"type": "as:Hashtag", "name": "#Straße"},
                {"name": "#NoType"},
                {"type": "Emoji", "name": ":x:", "icon": {"url": "javascript:alert(1)"}},
            ],
            contentMap={"de": "x"},
        )
    )
    assert post.id == f"{BOB}/statuses/1" and post.author == BOB and post.type == "Note"
    assert "script" not in post.content and post.summary == "CW" and post.language == "de"
    assert post.to == (AS_PUBLIC,) and post.cc == ()
    assert post.tags == (
        Tag("Mention", "@c", "https://c.example/u/c"),
        Tag("Hashtag", "#Straße"),
        Tag("Hashtag", "#NoType"),
    )
    assert post.mentions == ("https://c.example/u/c",)


def test_a_post_in_a_create_inherits_its_actor_and_audience() -> None:
    obj = note(attributedTo=None)
    del obj["to"]
    raw = json.dumps(
        {"id": f"{BOB}/c", "type": "Create", "actor": BOB, "to": [AS_PUBLIC], "object": obj}
    ).encode()
    post = parse_post(activity_of(parse_activity(raw)).objects[0])
    assert post.author == BOB and post.to == (AS_PUBLIC,)
    with pytest.raises(ParseError, match="author"):
        parse_post(obj)  # alone, it has no author


@pytest.mark.parametrize(
    "value",
    [
        None,
        "https://b.example/1",
        note(type="Follow"),
        note(id="ftp://b.example/1"),
        note(attributedTo=[]),
        [note()],
    ],
)
def test_what_is_no_post_raises_parse_error(value: object) -> None:
    with pytest.raises(ParseError):
        parse_post(value)


def test_a_question_has_its_poll() -> None:
    post = parse_post(note(type=["Question"], oneOf=[{"name": "A", "replies": {"totalItems": 2}}]))
    assert post.poll is not None and post.poll.options == (("A", 2),)


# --- properties ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["\u0000", "\u202e", "<script>", "as:Note", BOB, AS_PUBLIC]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
post_keys = st.sampled_from(
    [
        "id",
        "type",
        "attributedTo",
        "content",
        "contentMap",
        "name",
        "nameMap",
        "summary",
        "summaryMap",
        "to",
        "cc",
        "tag",
        "inReplyTo",
        "url",
        "published",
        "updated",
        "sensitive",
        "attachment",
        "oneOf",
        "anyOf",
        "endTime",
        "closed",
        "votersCount",
        "icon",
        "href",
        "mediaType",
    ]
)
plausible = (
    st.sampled_from(
        [
            f"{BOB}/statuses/1",
            BOB,
            "Note",
            ["Question", "Note"],
            "Video",
            "Mention",
            "Hashtag",
            "#tag",
            "Emoji",
            "2025-01-01T00:00:00Z",
            "10000-01-01",
            {"de": "x"},
            {"href": f"{BOB}/x", "mediaType": "image/png"},
            True,
        ]
    )
    | json_values
)
postish = st.dictionaries(
    post_keys,
    plausible
    | st.dictionaries(post_keys, plausible, max_size=4)
    | st.lists(st.dictionaries(post_keys, plausible, max_size=4), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, postish))
def test_parse_post_only_raises_parse_error(value: object) -> None:
    for obj in (value, note() | value if isinstance(value, dict) else value):
        try:
            post = parse_post(obj)
        except ParseError:
            continue
        assert isinstance(post, Post) and post.id.startswith(("https://", "http://"))
        assert all(isinstance(t, Tag) for t in post.tags)
