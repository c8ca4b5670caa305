"""Remote actor and key documents, wire → typed.

`parse_actor` narrows an untrusted JSON value into an `ActorDocument` and raises only
`ParseError`. It applies the checks Mastodon applies before it will talk to an actor
(contract §2, §7): AS `@context`, an accepted type, http(s) `id` and `inbox`, and keys
that belong to the actor. A missing `preferredUsername` is not fatal (see
`_username`). Presentational fields (`name`,
`summary`, `url`, `icon`) are best-effort: a malformed one becomes `None` rather than
costing us the actor.

Pure protocol layer: imports only `federation.*`.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from federation.activities import AsObject
from federation.content import plain_text
from federation.errors import ParseError
from federation.hashtags import hashtag_key

__all__ = [
    "ACTOR_TYPES",
    "AS_CONTEXT",
    "ActorDocument",
    "PublicKeyDoc",
    "find_key",
    "is_http_url",
    "parse_actor",
    "parse_key_document",
    "same_origin",
]

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
# Mastodon's accepted actor types (fetch_remote_actor_service.rb); Organization included.
ACTOR_TYPES = frozenset({"Person", "Service", "Application", "Group", "Organization"})
# Mastodon's hard limits: longer usernames are refused, longer texts truncated.
MAX_USERNAME = 2048
MAX_NAME = 2048
MAX_SUMMARY = 20 * 1024
# The directory profile (docs/federation.md): what we keep of a peer's is
# bounded like what we accept locally (`actors.profile`), whatever the peer sends.
VERBUND_NS = "https://w3id.org/verbund/ns#"
MAX_INTERESTS = 20
MAX_INTEREST = 50
MAX_LOCALITY = 100
MAX_PROFILE_ITEMS = 200  # fields and tags looked at; the rest of a huge list is not read
MAX_FIELD_VALUE = 2048
_REGION_CODE = re.compile(r"[A-Z]{2}(?:-[A-Z0-9]{1,3})?")
_REGION_IN_LABEL = re.compile(r"\(([A-Za-z]{2}(?:-[A-Za-z0-9]{1,3})?)\)")
_POSTAL_PREFIX = re.compile(r"[A-Z0-9][A-Z0-9 -]{0,9}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True, slots=True)
class PublicKeyDoc:
    """A `publicKey` entry: its id (the `keyId` peers sign with), owner actor, SPKI PEM."""

    id: str
    owner: str
    pem: str


@dataclass(frozen=True, slots=True)
class ActorDocument:
    """The parts of a remote actor we use. Only keys owned by `id`, on its origin, are kept."""

    id: str
    type: str
    inbox: str
    preferred_username: str
    shared_inbox: str | None = None
    outbox: str | None = None
    followers: str | None = None
    following: str | None = None
    name: str | None = None
    summary: str | None = None
    url: str | None = None
    icon_url: str | None = None
    manually_approves: bool = False
    discoverable: bool = False
    public_keys: tuple[PublicKeyDoc, ...] = ()
    indexable: bool = False
    # The directory profile: an ISO-3166-shaped upper-case code (not checked against
    # ISO here), the district or town, a postal prefix, interests as hashtag names.
    region_code: str | None = None
    locality: str = ""
    postal_prefix: str = ""
    interests: tuple[str, ...] = ()


# Whitespace or control characters anywhere make a URL unusable (and suspicious).
_UNSAFE_URL_CHARS = re.compile(r"[\s\x00-\x1f]")


def _has_unsafe_url_chars(value: str) -> bool:
    # Printable ASCII without a space has none: decided without the regex's character
    # class, which costs more per character (every inbox request checks two new ids).
    if value.isascii() and value.isprintable() and " " not in value:
        return False
    return _UNSAFE_URL_CHARS.search(value) is not None


@functools.lru_cache(maxsize=8192)  # the same actor URIs come again and again
def _split(value: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an absolute http(s) URL without credentials, else None."""
    if _has_unsafe_url_chars(value):
        return None
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in ("http", "https") or not host or "@" in parts.netloc:
        return None
    return scheme, host, port if port is not None else (443 if scheme == "https" else 80)


def is_http_url(value: object) -> bool:
    """True for an absolute http(s) URL string with a host and no credentials."""
    return isinstance(value, str) and _split(value) is not None


@functools.lru_cache(maxsize=8192)
def _origin_text(value: str) -> str | None:
    """`value` up to the end of its authority ("https://host:port"), if an http(s) URL."""
    if _split(value) is None:
        return None
    start = value.index(":") + 3  # past "scheme://", which _split has checked is there
    ends = [i for i in (value.find(c, start) for c in "/?#") if i != -1]
    return value[: min(ends)] if ends else value


def same_origin(a: str, b: str) -> bool:
    """Same scheme, host and port (default ports made explicit); False if either is not an
    http(s) URL. Used for key ids vs actor, object ids vs actor (FEP-fe34).

    Pass the URI that repeats (the actor) as `b`: its origin is memoised, and an `a`
    that starts with that exact text is decided without parsing `a` (activity and
    object ids are new every time, so parsing them is what the inbox paid for).
    """
    prefix = _origin_text(b)
    if (
        prefix is not None
        and a.startswith(prefix)
        and (len(a) == len(prefix) or a[len(prefix)] in "/?#")
        and not _has_unsafe_url_chars(a)
    ):
        return True
    oa, ob = _split(a), _split(b)
    return oa is not None and oa == ob


def _require_url(obj: dict[str, object], field: str) -> str:
    value = obj.get(field)
    if not isinstance(value, str):
        raise ParseError(f"{field} missing or not a string")
    if not is_http_url(value):
        raise ParseError(f"{field} is not an http(s) URL: {value[:200]!r}")
    return value


def _optional_link(obj: dict[str, object], field: str) -> str | None:
    """A collection/endpoint reference: absent or null → None; a URL string or an embedded
    object with an `id` → that URL; anything else is malformed."""
    value = obj.get(field)
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("id")
    if not is_http_url(value):
        raise ParseError(f"{field} is not an http(s) URL")
    assert isinstance(value, str)  # is_http_url checked it
    return value


def _text(value: object, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def _items(value: object) -> Iterator[object]:
    if isinstance(value, list):
        yield from value
    elif value is not None:
        yield value


def _link_href(value: object, *, prefer_html: bool) -> str | None:
    """First http(s) URL in a string / Link / list of them; `text/html` Links first
    (Mastodon shows the profile page, not e.g. an RSS link)."""
    candidates: list[tuple[bool, str]] = []
    for item in _items(value):
        if isinstance(item, str):
            href: object = item
            media_type: object = None
        elif isinstance(item, dict):
            href = item.get("href", item.get("url"))
            media_type = item.get("mediaType")
        else:
            continue
        if isinstance(href, str) and is_http_url(href):
            candidates.append((prefer_html and media_type == "text/html", href))
    for want_html in (True, False):
        for html, href in candidates:
            if html or not want_html:
                return href
    return None


def _icon_url(value: object) -> str | None:
    for item in _items(value):
        if isinstance(item, str) and is_http_url(item):
            return item
        if isinstance(item, dict):
            url = _link_href(item.get("url"), prefer_html=False)
            if url is not None:
                return url
    return None


def _has_as_context(context: object) -> bool:
    # MbinOrg/mbin#2063: Mastodon drops documents whose @context lacks the AS IRI.
    return any(c == AS_CONTEXT for c in _items(context))


def _actor_type(value: object) -> str:
    for t in _items(value):
        if isinstance(t, str) and t in ACTOR_TYPES:
            return t
    shown = value[:100] if isinstance(value, str) else type(value).__name__
    raise ParseError(f"type {shown!r} is not an actor type")


def _key(entry: dict[str, object]) -> PublicKeyDoc:
    key_id, owner, pem = entry.get("id"), entry.get("owner"), entry.get("publicKeyPem")
    if not isinstance(key_id, str) or not is_http_url(key_id):
        raise ParseError("publicKey.id is not an http(s) URL")
    if not isinstance(owner, str) or not is_http_url(owner):
        raise ParseError("publicKey.owner is not an http(s) URL")
    if not isinstance(pem, str) or "-----BEGIN" not in pem:
        raise ParseError("publicKey.publicKeyPem is not a PEM string")
    return PublicKeyDoc(id=key_id, owner=owner, pem=pem)


def _actor_keys(actor_id: str, value: object) -> tuple[PublicKeyDoc, ...]:
    """Keys from `publicKey` (a dict or a list). Bare key-id strings are skipped (nothing to
    verify with); keys owned by someone else or on another origin are dropped, never
    trusted for this actor."""
    keys: list[PublicKeyDoc] = []
    for entry in _items(value):
        if isinstance(entry, str):
            continue
        if not isinstance(entry, dict):
            raise ParseError("publicKey entry is not an object")
        key = _key(entry)
        if key.owner == actor_id and same_origin(key.id, actor_id):
            keys.append(key)
    return tuple(keys)


def _as_object(obj: object, what: str) -> dict[str, object]:
    if not isinstance(obj, dict):
        raise ParseError(f"{what} is not a JSON object")
    return obj


def _username(value: object, actor_id: str) -> str:
    """`preferredUsername`, else the last non-empty path segment of the actor id.

    Mastodon requires `preferredUsername`, but some peers leave it out (bovine-herd accepts
    such actors, and so do we): every activity they sent would otherwise be refused with
    401 `key_unavailable`. The real handle would need a WebFinger lookup, which is not
    done here: this runs on the hot key-resolution path of every signed POST, and a
    reverse lookup (`acct:` from an id) is not something WebFinger promises to answer.
    """
    if isinstance(value, str) and value.strip():
        if len(value) > MAX_USERNAME:
            raise ParseError("preferredUsername too long")
        return value
    segment = next((s for s in reversed(urlsplit(actor_id).path.split("/")) if s.strip()), None)
    if segment is None:
        raise ParseError("preferredUsername missing and the id has no path to name the actor")
    return segment[:MAX_USERNAME]


def _maps_verbund(context: object) -> bool:
    """Whether `@context` defines our terms: inline (a value naming the namespace, as our
    documents embed it) or by reference to an instance's `…/ns/verbund.jsonld`."""
    for item in _items(context):
        if isinstance(item, str):
            if item.endswith("/ns/verbund.jsonld") or item == VERBUND_NS:
                return True
        elif isinstance(item, dict):
            for value in item.values():
                if isinstance(value, dict):
                    value = value.get("@id")
                if isinstance(value, str) and value.startswith(VERBUND_NS):
                    return True
    return False


def _type_is(value: object, wanted: str) -> bool:
    return any(t == wanted for t in _items(value))


def _plain(value: object, limit: int) -> str:
    """One line of visible text from a peer's (maybe HTML) string, control and bidi
    characters removed; "" if it is no string."""
    if not isinstance(value, str):
        return ""
    text = plain_text(value[: limit * 4]) if "<" in value or "&" in value else value
    return " ".join(_CONTROL.sub("", text).split())[:limit]


def _region_code(value: object) -> str | None:
    if not isinstance(value, str) or len(value) > 10:
        return None
    code = value.strip().upper()
    return code if _REGION_CODE.fullmatch(code) else None


def _postal_prefix(value: object) -> str:
    if not isinstance(value, str) or len(value) > 20:
        return ""
    prefix = value.strip().upper()
    return prefix if _POSTAL_PREFIX.fullmatch(prefix) else ""


def _region_from_fields(attachment: object) -> str | None:
    """A region from a profile field named "Region" (any case, also "Region / Region")
    whose text ends a parenthesised code, as ours reads "Pankow, Berlin (DE-BE)"."""
    for n, field in enumerate(_items(attachment)):
        if n >= MAX_PROFILE_ITEMS:
            break
        if not isinstance(field, dict) or not _type_is(field.get("type"), "PropertyValue"):
            continue
        name = field.get("name")
        if not isinstance(name, str) or len(name) > 100:
            continue
        if not all(part.strip().lower() == "region" for part in name.split("/")):
            continue
        text = _plain(field.get("value"), MAX_FIELD_VALUE)
        for found in reversed(_REGION_IN_LABEL.findall(text)):
            code = _region_code(found)
            if code is not None:
                return code
    return None


def _interest(value: object) -> tuple[str, str] | None:
    """(name, key) of one interest: the name with what no hashtag holds removed (the
    `#`, spaces, punctuation, markup), as Mastodon's HashtagNormalizer does."""
    if not isinstance(value, str) or len(value) > MAX_INTEREST * 4:
        return None
    if "<" in value:
        value = plain_text(value)
    name = "".join(
        ch for ch in value if ch.isalnum() or ch == "_" or unicodedata.category(ch)[0] == "M"
    )
    key = hashtag_key(name)
    if key is None or len(name) > MAX_INTEREST:
        return None
    return name, key


def _interests(values: Iterator[object]) -> tuple[str, ...]:
    """Up to MAX_INTERESTS names, the first spelling of each key kept."""
    kept: dict[str, str] = {}
    for n, value in enumerate(values):
        if n >= MAX_PROFILE_ITEMS or len(kept) >= MAX_INTERESTS:
            break
        found = _interest(value)
        if found is not None:
            kept.setdefault(found[1], found[0])
    return tuple(kept.values())


def _hashtag_names(tags: object) -> Iterator[object]:
    for tag in _items(tags):
        if isinstance(tag, dict) and _type_is(tag.get("type"), "Hashtag"):
            yield tag.get("name")


@dataclass(frozen=True, slots=True)
class _Profile:
    region_code: str | None = None
    locality: str = ""
    postal_prefix: str = ""
    interests: tuple[str, ...] = ()


def _profile(doc: dict[str, object]) -> _Profile:
    """Our terms when the context defines them, else the Region field and Hashtag tags.
    A malformed value is dropped, never fatal. A bare `region` key in a document whose
    context does not define it means something else (or nothing) and is ignored."""
    ours = _maps_verbund(doc.get("@context"))
    code = _region_code(doc.get("region")) if ours else None
    locality, postal = "", ""
    if code is not None:
        locality = _plain(doc.get("locality"), MAX_LOCALITY)
        postal = _postal_prefix(doc.get("postalCodePrefix"))
    else:
        code = _region_from_fields(doc.get("attachment"))
    listed = doc.get("interests") if ours else None
    if isinstance(listed, list):
        interests = _interests(iter(listed))
    else:
        interests = _interests(_hashtag_names(doc.get("tag")))
    return _Profile(code, locality, postal, interests)


def parse_actor(obj: object) -> ActorDocument:
    """Narrow a remote actor document. Raises `ParseError` (and nothing else) when it is not
    one Mastodon would accept: no AS `@context`, unknown type, missing or non-http(s) `id`
    or `inbox`, an over-long `preferredUsername`, malformed collection links or key
    entries. Without a `preferredUsername` the username is taken from the id (`_username`).

    Does not check that `id` equals the fetched URL; `fetch_json` does.
    """
    doc = _as_object(obj, "actor")
    if not _has_as_context(doc.get("@context")):
        raise ParseError(f"@context lacks {AS_CONTEXT}")
    actor_id = _require_url(doc, "id")
    actor_type = _actor_type(doc.get("type"))
    inbox = _require_url(doc, "inbox")
    username = _username(doc.get("preferredUsername"), actor_id)
    endpoints = doc.get("endpoints")
    shared_inbox = _optional_link(endpoints, "sharedInbox") if isinstance(endpoints, dict) else None
    profile = _profile(doc)
    return ActorDocument(
        id=actor_id,
        type=actor_type,
        inbox=inbox,
        preferred_username=username,
        shared_inbox=shared_inbox,
        outbox=_optional_link(doc, "outbox"),
        followers=_optional_link(doc, "followers"),
        following=_optional_link(doc, "following"),
        name=_text(doc.get("name"), MAX_NAME),
        summary=_text(doc.get("summary"), MAX_SUMMARY),
        url=_link_href(doc.get("url"), prefer_html=True),
        icon_url=_icon_url(doc.get("icon")),
        manually_approves=doc.get("manuallyApprovesFollowers") is True,
        discoverable=doc.get("discoverable") is True,
        public_keys=_actor_keys(actor_id, doc.get("publicKey")),
        indexable=doc.get("indexable") is True,
        region_code=profile.region_code,
        locality=profile.locality,
        postal_prefix=profile.postal_prefix,
        interests=profile.interests,
    )


def parse_embedded_actor(obj: AsObject) -> ActorDocument:
    """`parse_actor` of an actor embedded in an activity (an Update of a profile). Mastodon
    sends it without an `@context` of its own: the activity's then applies."""
    if obj.wire is None:
        raise ParseError("not an embedded object")
    doc = dict(obj.wire)
    if "@context" not in doc and obj.context is not None:
        doc["@context"] = obj.context.get("@context")
    return parse_actor(doc)


def parse_key_document(obj: object, key_id: str | None = None) -> PublicKeyDoc:
    """Narrow what dereferencing a `keyId` returned.

    Either a standalone key (`{id, owner, publicKeyPem}`, e.g. GoToSocial's `…/main-key`),
    whose id and owner must share an origin, or an actor carrying the key (Mastodon's
    `…/alice#main-key` serves the whole actor), from which the key with id `key_id` is
    taken (the first key when `key_id` is None). When `key_id` is given a standalone key
    must have that id.

    The caller must still confirm the owner lists this key (fetch the owner, `find_key`)
    and that the owner is the activity's actor. Raises `ParseError`.
    """
    doc = _as_object(obj, "key document")
    if "publicKeyPem" in doc:
        key = _key(doc)
        if not same_origin(key.id, key.owner):
            raise ParseError("key id and owner are on different origins")
        if key_id is not None and key.id != key_id:
            raise ParseError("key document id is not the requested key id")
        return key
    actor = parse_actor(doc)
    key_or_none = (
        find_key(actor, key_id)
        if key_id is not None
        else (actor.public_keys[0] if actor.public_keys else None)
    )
    if key_or_none is None:
        raise ParseError(f"actor {actor.id} carries no key {key_id or ''}".rstrip())
    return key_or_none


def find_key(actor: ActorDocument, key_id: str) -> PublicKeyDoc | None:
    """The actor's key with exactly this id (never parse a keyId: Mastodon 4.5 ids are
    opaque), or None."""
    return next((k for k in actor.public_keys if k.id == key_id), None)
