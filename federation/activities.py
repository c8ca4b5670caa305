"""Activities on the wire, narrowed into typed values for the inbox (wire → typed).

`parse_activity(raw)` reads a POSTed (or stored) body into an `Envelope`: the
activity's id, picked type and actor, and what its embedded objects claim to be (id,
owner) — all the receiver needs before and right after the signature check.
`activity_of(envelope)` then narrows the whole `Activity` for its handler: the few
activity fields handlers read, and its `object` as `AsObject`s (embedded objects or
bare references, each with its id, type, actor and own `object`). Posts are read from
an `AsObject` by `federation.posts.parse_post`, only where a handler wants one. The
raw JSON object travels along only as `Envelope.body`, to be stored and echoed (a
Follow embedded in our Accept).

A field of the wrong shape reads as absent; only a body without a usable id, type or
actor is refused, and `parse_activity` raises nothing but `ParseError`.

Pure protocol code: imports nothing of ours outside `federation`.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import field
from datetime import datetime

from federation.documents import parse_datetime
from federation.errors import ParseError
from federation.records import record
from federation.text import load_json

__all__ = [
    "ACTIVITY_TYPES",
    "MAX_OBJECTS",
    "MAX_TYPE_LENGTH",
    "MAX_URI_BYTES",
    "NEWS_TYPES",
    "Activity",
    "AsObject",
    "Claim",
    "Envelope",
    "activity_of",
    "activity_type",
    "fits_uri",
    "id_of",
    "ids_of",
    "items",
    "parse_activity",
    "parse_object",
    "type_in",
    "type_text",
]

# The activity types the inbox handles; a `type` list picks the first of these.
ACTIVITY_TYPES = frozenset(
    {
        "Follow",
        "Accept",
        "Reject",
        "Undo",
        "Block",
        "Delete",
        "Create",
        "Update",
        "Announce",
        "Like",
    }
)
# The width of `inbox_activities.type`; a longer type is no type we could handle.
MAX_TYPE_LENGTH = 32
# How many entries of an `object` list are read as posts (a Create of several objects).
MAX_OBJECTS = 10
# How many ids a one-or-many reference field (`to`, `cc`, `attributedTo`) keeps.
MAX_AUDIENCE = 500
# The longest URI (in UTF-8 bytes) we keep as a reference. PostgreSQL refuses btree
# entries over about 2.7 kB, so a longer post id or mention is dropped, or the activity
# naming it refused, rather than failing in an indexed column later.
MAX_URI_BYTES = 2048
# Activities whose actor and audience a post without its own inherits (Mastodon's
# status parser reads `to`/`cc` from the Create when the object has none).
_POST_CONTEXT_TYPES = frozenset({"Create", "Update"})
# Prefixes that name an ActivityStreams (or Mastodon `toot:`) term in expanded or
# compacted JSON-LD: `as:Hashtag`, `https://www.w3.org/ns/activitystreams#Hashtag`.
_TERM_PREFIXES = ("https://www.w3.org/ns/activitystreams#", "as:", "toot:")


def items(value: object) -> Iterator[object]:
    """The values of a one-or-many field: a list's items, a single value, or nothing."""
    if isinstance(value, list):
        yield from value
    elif value is not None:
        yield value


def id_of(value: object) -> str | None:
    """A reference as a string: the value itself, or the `id` of an embedded object."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None


def ids_of(value: object, limit: int = MAX_AUDIENCE) -> list[str]:
    """A one-or-many reference field (`to`, `cc`, `attributedTo`) as a list of ids."""
    if isinstance(value, str):  # one plain reference, the commonest shape
        return [value] if value else []
    out = []
    for v in value if isinstance(value, list) else () if value is None else (value,):
        if isinstance(v, dict):
            v = v.get("id")
        if isinstance(v, str) and v:
            out.append(v)
    return out[:limit]


def fits_uri(uri: str) -> bool:
    """Whether `uri` is short enough to keep (`MAX_URI_BYTES`)."""
    if len(uri) > MAX_URI_BYTES:
        return False
    return uri.isascii() or len(uri.encode("utf-8", "replace")) <= MAX_URI_BYTES


def type_in(value: object, wanted: Iterable[str]) -> str | None:
    """The first of `wanted` that a `type` names: a string or a list of them (`["Note"]`),
    each plain or prefixed (`as:Hashtag`); None if it names none of them."""
    wanted = tuple(wanted)
    for item in items(value):
        if not isinstance(item, str):
            continue
        for prefix in _TERM_PREFIXES:
            if item.startswith(prefix):
                item = item[len(prefix) :]
                break
        if item in wanted:
            return item
    return None


def type_text(value: object) -> str:
    """A `type` for a log line: its strings, shortened; never the whole untrusted value."""
    shown = [t[:40] for t in items(value) if isinstance(t, str)][:3]
    return "/".join(shown) or "object without a type"


def activity_type(value: object, handled: Collection[str] = ACTIVITY_TYPES) -> str | None:
    """The activity type to store and dispatch on: `type` itself, or from a list (Pleroma,
    JSON-LD-compacting peers send `["Create"]`) the first type in `handled`, else its
    first string. Longer than the column allows, or no string at all: None."""
    if isinstance(value, str):  # what nearly every peer sends: decided without lists
        return value if 0 < len(value) <= MAX_TYPE_LENGTH else None
    types = [t for t in (value if isinstance(value, list) else [value]) if isinstance(t, str)]
    types = [t for t in types if t and len(t) <= MAX_TYPE_LENGTH]
    return next((t for t in types if t in handled), types[0] if types else None)


@record
class AsObject:
    """One value of an `object` field: an embedded object (`embedded`) or a reference.

    Only an embedded object has more than `id`. Its `objects` are the values of its own
    `object` (read one level deep: an Announce of a Create of a Page, an Undo of a Like).
    """

    id: str | None
    embedded: bool = False
    types: tuple[str, ...] = ()
    has_type: bool = False  # a `type` was sent (maybe none we know)
    news_type: str | None = None  # the first plain `type` string that names a post type
    actor: str | None = None  # id of `actor` (a string or an embedded actor)
    bare_actor: str | None = None  # `actor` when it is a plain string
    attributed_to: tuple[str, ...] = ()
    object_id: str | None = None  # id of its `object`, when that is one value
    bare_object: str | None = None  # its `object` when that is a plain string
    has_object: bool = False  # its `object` is present and not null
    objects: tuple[AsObject, ...] = ()
    name: str | None = None  # `name` as sent, when a string
    in_reply_to: str | None = None
    # The wire object and the activity lending it actor and audience: read only by the
    # parsers of `federation` (`parse_post`), never by the inbox.
    wire: Mapping[str, object] | None = field(default=None, repr=False, compare=False)
    context: Mapping[str, object] | None = field(default=None, repr=False, compare=False)

    def type_in(self, wanted: Iterable[str]) -> str | None:
        """`type_in` on this object's `type`."""
        return type_in(list(self.types), wanted)

    @property
    def type_text(self) -> str:
        return type_text(list(self.types))


# The object types we store as posts (`AsObject.news_type` matches plain strings only).
# Note, Article and Question are Mastodon's own; the rest are what PeerTube (Video),
# Funkwhale (Audio), Pixelfed and others (Image), Mobilizon (Event), Lemmy (Page) and
# some bridges (Document) send. Mastodon converts Article/Page/Event/Image/Video/Audio
# to a status that shows `name`, `summary` and the link (CONVERTED_TYPES in
# app/lib/activitypub/parser/status_parser.rb); we keep their content too.
NEWS_TYPES = frozenset(
    {"Note", "Article", "Page", "Question", "Image", "Video", "Audio", "Event", "Document"}
)


def _as_object(
    value: object, *, deep: bool, context: Mapping[str, object] | None = None
) -> AsObject:
    if not isinstance(value, dict):
        return AsObject(id=value if isinstance(value, str) else None)
    raw_type, actor, inner = value.get("type"), value.get("actor"), value.get("object")
    types = tuple(t for t in items(raw_type) if isinstance(t, str))
    name = value.get("name")
    children: tuple[AsObject, ...] = ()
    if deep:
        children = tuple(_as_object(v, deep=False) for v in items(inner))
    return AsObject(
        id=id_of(value),
        embedded=True,
        types=types,
        has_type=raw_type is not None,
        news_type=next((t for t in types if t in NEWS_TYPES), None),
        actor=id_of(actor),
        bare_actor=actor if isinstance(actor, str) else None,
        attributed_to=tuple(ids_of(value.get("attributedTo"))),
        object_id=id_of(inner),
        bare_object=inner if isinstance(inner, str) else None,
        has_object=inner is not None,
        objects=children,
        name=name if isinstance(name, str) else None,
        in_reply_to=id_of(value.get("inReplyTo")),
        wire=value,
        context=context,
    )


def parse_object(value: object) -> AsObject:
    """A fetched (or embedded) object, read like an activity's `object`; never raises."""
    return _as_object(value, deep=True)


@record
class Claim:
    """What an embedded object says of itself: its id and whose it is (`actor`, else
    `attributedTo`, when a plain string). The receiver checks these against the sender."""

    id: str | None
    actor: str | None


@record
class Envelope:
    """A received activity as the receiver needs it, before the signature is checked:
    its id, picked type and actor, and the claims of its embedded objects. The handlers
    read the whole activity (`activity_of`)."""

    id: str
    type: str
    actor: str
    claims: tuple[Claim, ...]  # one per embedded object of `object` (which may be a list)
    # The JSON object as received: stored, and echoed where a peer expects it back.
    body: Mapping[str, object] = field(repr=False, compare=False)


@record
class Activity:
    """A received activity narrowed for its handler.

    `object` is the `object` field when it is one value (embedded or a reference), None
    when absent or a list; `objects` holds every value of it.
    """

    envelope: Envelope
    object: AsObject | None
    objects: tuple[AsObject, ...]
    to: tuple[str, ...]
    cc: tuple[str, ...]
    published: datetime | None
    content: str  # `content` when a string (a Follow's message), else ""

    @property
    def id(self) -> str:
        return self.envelope.id

    @property
    def type(self) -> str:
        return self.envelope.type

    @property
    def actor(self) -> str:
        return self.envelope.actor

    @property
    def body(self) -> Mapping[str, builtins.object]:
        return self.envelope.body


def parse_activity(raw: bytes | str, handled: Collection[str] = ACTIVITY_TYPES) -> Envelope:
    """Narrow a body to an `Envelope`; ParseError when it is not JSON, not an object, or
    lacks an http(s) id, an actor or a type (`activity_type`'s pick from `handled`), or
    when the id or actor is longer than `MAX_URI_BYTES`."""
    try:
        doc = load_json(raw)
    except (ValueError, RecursionError):
        raise ParseError("body is not JSON") from None
    if not isinstance(doc, dict):
        raise ParseError("body is not a JSON object")
    act_id, act_type, actor = (
        doc.get("id"),
        activity_type(doc.get("type"), handled),
        doc.get("actor"),
    )
    if isinstance(actor, dict):
        actor = actor.get("id")
    if act_type is None:
        raise ParseError("activity has no type")
    if not isinstance(actor, str) or not actor.startswith(("https://", "http://")):
        raise ParseError("activity has no actor")
    if not isinstance(act_id, str) or not act_id.startswith(("https://", "http://")):
        raise ParseError("activity has no id")
    if not fits_uri(act_id) or not fits_uri(actor):
        raise ParseError("id too long")
    obj = doc.get("object")
    if isinstance(obj, dict):  # one embedded object, as nearly every Create sends it
        claims: tuple[Claim, ...] = (_claim(obj),)
    elif isinstance(obj, list):
        claims = tuple(_claim(v) for v in obj if isinstance(v, dict))
    else:  # a reference (a Like, a Follow) or nothing
        claims = ()
    return Envelope(act_id, act_type, actor, claims, doc)  # positional: no kwargs dict


def _claim(value: dict[str, object]) -> Claim:
    obj_id = value.get("id")
    claimed = value.get("actor") or value.get("attributedTo")
    return Claim(
        obj_id if isinstance(obj_id, str) else None,
        claimed if isinstance(claimed, str) else None,
    )


def activity_of(envelope: Envelope) -> Activity:
    """The whole activity for its handler; never raises. Separate from `parse_activity`
    so that receiving, before the signature is checked, pays only for the envelope."""
    doc = envelope.body
    context = doc if envelope.type in _POST_CONTEXT_TYPES else None
    raw_object = doc.get("object")
    objects = tuple(_as_object(v, deep=True, context=context) for v in items(raw_object))
    single = objects[0] if objects and not isinstance(raw_object, list) else None
    content = doc.get("content")
    return Activity(
        envelope=envelope,
        object=single,
        objects=objects,
        to=tuple(ids_of(doc.get("to"))),
        cc=tuple(ids_of(doc.get("cc"))),
        published=parse_datetime(doc.get("published")),
        content=content if isinstance(content, str) else "",
    )
