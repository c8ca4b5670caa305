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


@pytest.mark.parametrize(
    ("post_id", "url", "kept_url"),
    [
        (f"{BOB}/statuses/1", "https://b.example/@bob/1", True),  # the author's origin
        (f"{BOB}/statuses/1", "http://b.example/@bob/1", True),  # same host, other scheme
        (f"{BOB}/statuses/1", "https://b.example:8443/@bob/1", True),  # same host, other port
        (f"{BOB}/statuses/1", "https://c.example/@bob/1", False),  # another host
        (f"{BOB}/statuses/1", "https://b.example@c.example/@bob/1", False),  # credentials
        (f"{BOB}/statuses/1", "https://b.example/@bob/1 x", False),  # not a URL
        (f"{BOB}/statuses/1", "javascript:alert(1)", False),
        ("https://a.example/statuses/1", "https://a.example/@bob/1", True),  # id elsewhere
        ("https://a.example/statuses/1", "https://b.example/@bob/1", False),
    ],
)
def test_url_is_kept_only_on_the_posts_host(post_id: str, url: str, kept_url: bool) -> None:
    """Links on the author's origin skip parsing (`same_origin`), the rest are parsed; both
    keep a web page only when it is an http(s) URL on the post's own host."""
    post = parse_post(note(id=post_id, url=url))
    assert post.url == (url if kept_url else None)


@pytest.mark.parametrize(
    "post_id",
    [
        f"{BOB} /statuses/1",
        "https://b.example@evil.example/statuses/1",
        "https://b.example:99999/statuses/1",
        "ftp://b.example/statuses/1",
        "https:///statuses/1",
    ],
)
def test_an_id_that_is_no_http_url_is_refused_on_the_authors_origin_too(post_id: str) -> None:
    with pytest.raises(ParseError, match="http"):
        parse_post(note(id=post_id))
