"""Attachments, emoji and Question options: wire → typed, never raising, http(s) only."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from federation.actors import is_http_url
from federation.media import (
    MAX_ALT_TEXT,
    MAX_ATTACHMENTS,
    Attachment,
    emoji_of,
    parse_attachment,
    parse_attachments,
    parse_question,
    render_attachment,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
URLS = st.sampled_from(
    [
        "https://media.example/a.jpg",
        "http://media.example:8080/v.mp4",
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "/relative.png",
        "ftp://media.example/x",
        "https://user:pw@media.example/x.png",
        "",
    ]
)
SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=20) | URLS
KEYS = st.sampled_from(
    ["type", "url", "href", "mediaType", "name", "blurhash", "width", "height", "icon",
     "oneOf", "anyOf", "replies", "totalItems", "endTime", "closed", "votersCount",
     "attachment", "summary"]
)  # fmt: skip
WIRE = st.recursive(
    SCALARS | st.sampled_from(["Image", "Document", "Video", "Audio", "Link", "Note", "Emoji"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=30,
)


@given(st.dictionaries(KEYS, WIRE, max_size=8))
@settings(max_examples=400, deadline=None)
def test_parsers_never_raise_and_keep_only_http_urls(obj: dict[str, object]) -> None:
    found = parse_attachments(obj)
    assert len(found) <= MAX_ATTACHMENTS
    for attachment in found:
        assert is_http_url(attachment.url)
        assert attachment.preview_url is None or is_http_url(attachment.preview_url)
        assert attachment.description is None or len(attachment.description) <= MAX_ALT_TEXT
        assert Attachment.from_json(attachment.as_json()) == attachment
    for item in obj.values():
        emoji = emoji_of(item)
        assert emoji is None or is_http_url(emoji.url)
    poll = parse_question(obj, now=NOW)
    if poll is not None:
        assert poll.options and all(n >= 0 for _, n in poll.options)


def test_url_as_link_list_prefers_the_media_link_over_the_page() -> None:
    attachment = parse_attachment(
        {
            "type": "Document",
            "url": [
                {"type": "Link", "mediaType": "text/html", "href": "https://v.example/w/1"},
                {"type": "Link", "mediaType": "video/mp4", "href": "https://v.example/1.mp4"},
            ],
            "name": "x" * 5000,
            "width": 640,
            "height": True,
        }
    )
    assert attachment is not None
    assert (attachment.kind, attachment.url) == ("video", "https://v.example/1.mp4")
    assert attachment.description == "x" * MAX_ALT_TEXT
    assert (attachment.width, attachment.height) == (640, None)
    assert render_attachment(attachment) == {
        "type": "Document",
        "url": "https://v.example/1.mp4",
        "mediaType": "video/mp4",
        "name": "x" * MAX_ALT_TEXT,
    }


def test_question_options_counts_and_closing() -> None:
    poll = parse_question(
        {
            "oneOf": [
                {"name": "A", "replies": {"totalItems": 3}},
                {"name": "A", "replies": {"totalItems": 9}},  # a repeated title is dropped
                {"name": "B", "replies": {"totalItems": -4}},
                {"name": "", "replies": {"totalItems": 1}},
            ],
            "endTime": "2026-12-02T00:00:00Z",
            "closed": True,
            "votersCount": 3,
        },
        now=NOW,
    )
    assert poll is not None
    assert poll.options == (("A", 3), ("B", 0))
    assert not poll.multiple and poll.voters_count == 3
    assert poll.closed_at == NOW
    assert parse_question({"oneOf": [{"name": " "}]}) is None
    assert parse_question({"anyOf": [{"name": "x"}], "oneOf": [{"name": "y"}]}) is not None


def test_emoji_needs_a_word_shortcode_and_an_http_icon() -> None:
    icon = {"url": "https://e.example/blob.png"}
    assert emoji_of({"type": "Emoji", "name": ":blob_cat:", "icon": icon}) is not None
    assert emoji_of({"type": "Emoji", "name": ":a b:", "icon": icon}) is None
    assert emoji_of({"type": "Emoji", "name": ":x:", "icon": {"url": "javascript:x"}}) is None
    assert emoji_of({"type": "Hashtag", "name": ":x:", "icon": icon}) is None
