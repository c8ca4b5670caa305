"""Rendering our documents (no null anywhere) and content negotiation, without HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation.documents import (
    ActorUris,
    LocalActorView,
    drop_nulls,
    render_actor,
    render_actor_bare,
    render_collection,
    render_collection_page,
    wants_activity_json,
)
from federation.nodeinfo import VERSIONS, NodeStats, render_nodeinfo
from tests.nulls import null_paths

FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
SAFARI = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def view(**kw: object) -> LocalActorView:
    """A view with test URLs; keyword arguments named like `ActorUris` fields set URLs."""
    urls: dict[str, object] = {
        "id": "https://alpha.test/users/news",
        "key_id": "https://alpha.test/users/news#main-key",
        "inbox": "https://alpha.test/users/news/inbox",
        "outbox": "https://alpha.test/users/news/outbox",
        "followers": "https://alpha.test/users/news/followers",
        "following": "https://alpha.test/users/news/following",
        "profile_page": "https://alpha.test/@news",
    }
    for name in [*urls, "shared_inbox"]:
        if name in kw:
            urls[name] = kw.pop(name)
    fields: dict[str, object] = {
        "urls": ActorUris(**urls),  # type: ignore[arg-type]  # the URLs above
        "type": "Organization",
        "username": "news",
        "display_name": "",
        "summary_html": "",
        "public_key_pem": "-----BEGIN PUBLIC KEY-----\n...",
        "manually_approves": False,
        "discoverable": True,
        "published": datetime(2026, 1, 1, tzinfo=UTC),
    }
    return LocalActorView(**(fields | kw))  # type: ignore[arg-type]  # the fields above


@pytest.mark.parametrize(
    "doc",
    [
        render_actor(view()),
        render_actor(view(icon_url=None, shared_inbox=None)),
        render_actor_bare(view()),
        render_collection("https://alpha.test/users/news/followers", total=0, first=None),
        render_collection_page(
            "https://alpha.test/users/news/outbox?page=true",
            part_of="https://alpha.test/users/news/outbox",
            items=[],
            total=0,
            next_page=None,
            prev_page=None,
        ),
        *(
            render_nodeinfo(
                v,
                software_version="0.1",
                open_registrations=False,
                stats=NodeStats(0, 0, 0, 0),
                node_name="",
                node_description="",
            )
            for v in VERSIONS
        ),
    ],
)
def test_rendered_documents_contain_no_null(doc: dict[str, object]) -> None:
    assert null_paths(doc) == []


def test_actor_without_icon_or_shared_inbox_leaves_the_keys_out() -> None:
    doc = render_actor(view())
    assert "icon" not in doc and "endpoints" not in doc
    assert doc["name"] == "news" and doc["summary"] == ""


def test_nodeinfo_metadata_is_an_object() -> None:
    for version in VERSIONS:
        doc = render_nodeinfo(
            version,
            software_version="0.1",
            open_registrations=True,
            stats=NodeStats(1, 1, 1, 1),
            node_name="Alpha",
            node_description="",
        )
        assert doc["metadata"] == {"nodeName": "Alpha", "nodeDescription": ""}


def test_drop_nulls_at_any_depth() -> None:
    doc = {"a": None, "b": [None, 1, {"c": None, "d": [None]}], "e": {"f": None}, "g": False}
    assert drop_nulls(doc) == {"b": [1, {"d": []}], "e": {}, "g": False}


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_drop_nulls_leaves_no_null(value: object) -> None:
    cleaned = drop_nulls(value)
    assert null_paths(cleaned) == ([] if value is not None else ["$"])


@pytest.mark.parametrize(
    "accept",
    [
        "",
        "*/*",
        "application/json",
        "application/activity+json",
        'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
        "application/activity+json, application/ld+json",
        "APPLICATION/ACTIVITY+JSON",
        "application/activity+json, text/html;q=0.5",
        "text/html, application/activity+json",
        "text/html;q=0, */*",
        "text/html;q=junk, */*",
        "image/png",
    ],
)
def test_json_unless_html_is_asked_for(accept: str) -> None:
    assert wants_activity_json(accept)


@pytest.mark.parametrize(
    "accept",
    [
        FIREFOX,
        CHROME,
        SAFARI,
        "text/html",
        "TEXT/HTML",
        "application/xhtml+xml",
        "text/*",
        "text/html, application/json;q=0.5",
        "text/html;level=1",
    ],
)
def test_html_when_asked_for(accept: str) -> None:
    assert not wants_activity_json(accept)
