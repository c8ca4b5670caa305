"""federation.activities: bodies narrowed to an Envelope; only ParseError on hostile input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.activities import (
    MAX_URI_BYTES,
    Activity,
    AsObject,
    Claim,
    Envelope,
    activity_of,
    activity_type,
    parse_activity,
    parse_object,
)
from federation.errors import ParseError

BOB = "https://b.example/users/bob"
NEWS = "https://a.example/users/news"


def body(**fields: object) -> bytes:
    return json.dumps({"id": f"{BOB}#1", "type": "Follow", "actor": BOB} | fields).encode()


def test_envelope_names_the_activity_and_keeps_the_body() -> None:
    raw = body(
        object=NEWS, content="hello", to=[NEWS, {"id": BOB}], published="2025-01-02T03:04:05Z"
    )
    env = activity_of(parse_activity(raw))
    assert (env.id, env.type, env.actor) == (f"{BOB}#1", "Follow", BOB)
    assert env.object == AsObject(id=NEWS) and env.objects == (AsObject(id=NEWS),)
    assert env.content == "hello" and env.to == (NEWS, BOB) and env.cc == ()
    assert env.published is not None and env.published.year == 2025
    assert env.body == json.loads(raw)


def test_an_embedded_actor_names_the_actor() -> None:
    assert parse_activity(body(actor={"id": BOB})).actor == BOB


def test_an_object_list_is_every_object_but_no_single_one() -> None:
    env = activity_of(
        parse_activity(body(type="Create", object=[{"id": f"{BOB}/1"}, f"{BOB}/2", 3]))
    )
    assert env.object is None
    assert [o.id for o in env.objects] == [f"{BOB}/1", f"{BOB}/2", None]
    assert [o.embedded for o in env.objects] == [True, False, False]


def test_embedded_objects_are_read_one_level_deep() -> None:
    page = {"id": f"{BOB}/p", "type": "Page", "attributedTo": [BOB], "name": "T"}
    create = {"id": f"{BOB}/c", "type": ["as:Create"], "actor": BOB, "object": page}
    obj = activity_of(parse_activity(body(type="Announce", object=create))).object
    assert obj is not None and obj.type_in(("Create",)) == "Create"
    assert obj.actor == obj.bare_actor == BOB and obj.object_id == f"{BOB}/p"
    inner = obj.objects[0]
    assert inner.attributed_to == (BOB,) and inner.news_type == "Page" and inner.name == "T"
    assert inner.objects == ()


def test_claimed_actor_is_actor_else_attributed_to() -> None:
    env = parse_activity(body(type="Create", object=[{"attributedTo": BOB}, BOB, {"id": BOB}]))
    assert env.claims == (Claim(None, BOB), Claim(BOB, None))
    env = parse_activity(body(type="Undo", object={"actor": {"id": BOB}, "attributedTo": NEWS}))
    assert env.claims == (Claim(None, None),)
    assert activity_of(env).objects[0].actor == BOB


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json", "not JSON"),
        (b"\xff", "not JSON"),
        (b"[1]", "not a JSON object"),
        (body(type=[1]), "no type"),
        (body(actor="ftp://x"), "no actor"),
        (body(id=None), "no id"),
        (body(id="https://b.example/" + "x" * MAX_URI_BYTES), "too long"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_unusable_bodies_raise_parse_error(raw: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_activity(raw)


def test_activity_type_prefers_a_handled_type() -> None:
    assert activity_type(["Object", "Like"]) == "Like"
    assert activity_type(["Object", "Like"], handled=()) == "Object"
    assert activity_type("x" * 33) is None


def test_parse_object_never_raises_on_a_non_object() -> None:
    assert parse_object(["x"]) == AsObject(id=None)
    assert parse_object("https://b.example/1") == AsObject(id="https://b.example/1")


# --- properties ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=20)
    | st.sampled_from(["\ud800", "\x00", "\u202e", "as:Note", "Create", BOB, NEWS]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
activity_keys = st.sampled_from(
    ["id", "type", "actor", "object", "to", "cc", "published", "content", "attributedTo", "name"]
)
plausible = (
    st.sampled_from(
        [
            BOB,
            f"{BOB}#1",
            NEWS,
            "Create",
            ["Announce", "Create"],
            "Note",
            "as:Like",
            "",
            "2025-01-01T00:00:00Z",
            "9999-99-99",
            {"id": BOB},
        ]
    )
    | json_values
)
objectish = st.dictionaries(activity_keys, plausible, max_size=6)
activityish = st.dictionaries(
    activity_keys,
    plausible | objectish | st.lists(objectish | plausible, max_size=3),
    max_size=8,
)


def _encode(value: object) -> bytes:
    # `surrogatepass`: lone surrogates reach the parser as JSON escapes, as a peer sends them.
    return json.dumps(value).encode("utf-8", "surrogatepass")


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, activityish))
def test_parse_activity_only_raises_parse_error(value: object) -> None:
    for raw in (
        _encode(value),
        _encode(
            {"id": f"{BOB}#1", "actor": BOB, "type": "Create"}
            | (value if isinstance(value, dict) else {"object": value})
        ),
    ):
        try:
            env = parse_activity(raw)
        except ParseError:
            continue
        assert isinstance(env, Envelope)
        assert env.id.startswith(("https://", "http://")) and 0 < len(env.type) <= 32
        activity = activity_of(env)
        assert isinstance(activity, Activity)
        for obj in activity.objects:
            assert isinstance(obj, AsObject)
            obj.type_text  # noqa: B018 (must not raise)
