"""Rendering of our actor documents and content negotiation (typed → wire).

Pure protocol code: must not import anything of ours outside `federation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT = "https://w3id.org/security/v1"
ACTIVITY_JSON = "application/activity+json"

# Mastodon's actor context (app/lib/activitypub/adapter.rb): the security context
# is required by Fedify to read `publicKey`; `schema:` keeps Mastodon's knowingly
# wrong base because peers compare it literally.
ACTOR_CONTEXT: list[object] = [
    AS_CONTEXT,
    SECURITY_CONTEXT,
    {
        "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
        "sensitive": "as:sensitive",
        "Hashtag": "as:Hashtag",
        "movedTo": {"@id": "as:movedTo", "@type": "@id"},
        "alsoKnownAs": {"@id": "as:alsoKnownAs", "@type": "@id"},
        "toot": "http://joinmastodon.org/ns#",
        "discoverable": "toot:discoverable",
        "indexable": "toot:indexable",
        "featured": {"@id": "toot:featured", "@type": "@id"},
        "schema": "http://schema.org#",
        "PropertyValue": "schema:PropertyValue",
        "value": "schema:value",
    },
]


@dataclass(frozen=True, slots=True)
class ActorUris:
    """The URLs an actor document names. Every one is given, none derived here: the URL
    layout is the instance's business (`actors.uris.LocalUris` fills these), not the
    protocol's. No `shared_inbox`: the document has no `endpoints`."""

    id: str
    key_id: str
    inbox: str
    outbox: str
    followers: str
    following: str
    profile_page: str
    shared_inbox: str | None = None


@dataclass(frozen=True, slots=True)
class LocalActorView:
    """What rendering an actor document needs; built by `actors` from its row."""

    urls: ActorUris
    type: str
    username: str
    display_name: str
    summary_html: str
    public_key_pem: str
    manually_approves: bool
    discoverable: bool
    published: datetime
    icon_url: str | None = None

    @property
    def id(self) -> str:
        return self.urls.id

    @property
    def profile_url(self) -> str:
        return self.urls.profile_page


def format_datetime(value: datetime) -> str:
    """ActivityStreams timestamps: UTC, second precision, `Z` suffix (what Mastodon emits)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(value: object) -> datetime | None:
    """A peer's ISO 8601 timestamp as an aware UTC datetime (no zone: UTC); None if absent
    or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def render_actor(actor: LocalActorView) -> dict[str, object]:
    """The actor document exactly as federation-contract §2 lists it."""
    doc: dict[str, object] = {
        "@context": ACTOR_CONTEXT,
        "id": actor.id,
        "type": actor.type,
        "preferredUsername": actor.username,
        "name": actor.display_name or actor.username,
        "summary": actor.summary_html,
        "url": actor.profile_url,
        "inbox": actor.urls.inbox,
        "outbox": actor.urls.outbox,
        "followers": actor.urls.followers,
        "following": actor.urls.following,
        "manuallyApprovesFollowers": actor.manually_approves,
        "discoverable": actor.discoverable,
        "indexable": actor.discoverable,
        "published": format_datetime(actor.published),
        "publicKey": {
            "id": actor.urls.key_id,
            "owner": actor.id,
            "publicKeyPem": actor.public_key_pem,
        },
        "attachment": [],
        "tag": [],
    }
    if actor.urls.shared_inbox:
        doc["endpoints"] = {"sharedInbox": actor.urls.shared_inbox}
    if actor.icon_url:
        doc["icon"] = {"type": "Image", "url": actor.icon_url}
    return doc


def drop_nulls(value: object) -> object:
    """`value` with every `null` left out: keys whose value is None are dropped from
    objects, None items from arrays, at any depth.

    What we serve never contains `null` (strict ActivityStreams validators refuse it;
    an absent key means the same to every peer we know). Our own render functions
    leave empty keys out as they build documents; this is for documents we pass on
    as received, such as the Follow an Accept embeds.
    """
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value if v is not None]
    return value


_JSON_TYPES = frozenset({"application/activity+json", "application/ld+json", "application/json"})
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/*"})


def wants_activity_json(accept: str) -> bool:
    """True unless an Accept header asks for HTML (more than for JSON): the ActivityPub
    document is the answer to everyone who does not want a web page.

    Key fetchers that do not negotiate send `*/*`, `application/json` or no Accept at all
    and must still find the key (GoToSocial answers them with JSON too, federation-contract
    §11). Browsers name `text/html` (`text/html,application/xhtml+xml,...,*/*;q=0.8`)
    and get HTML. When both are named, the higher q wins; a tie goes to JSON, since
    `application/activity+json, text/html` comes from a peer that can read either.
    """
    lowered = accept.lower()
    if "html" not in lowered and "text/*" not in lowered:
        return True  # Mastodon, Fedify and the non-negotiating: no parsing needed.
    best_html = 0.0
    best_json = 0.0
    for part in lowered.split(","):
        media, _, params = part.partition(";")
        media = media.strip()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media in _JSON_TYPES:
            best_json = max(best_json, q)
        elif media in _HTML_TYPES:
            best_html = max(best_html, q)
    return best_html <= 0 or best_json >= best_html


def render_actor_bare(actor: LocalActorView) -> dict[str, object]:
    """What unsigned fetches get in authorized-fetch mode: enough to verify our signatures.

    Mastodon does the same under AUTHORIZED_FETCH, which avoids the deadlock of
    two servers each requiring a signed fetch of the other's key first.
    """
    full = render_actor(actor)
    keep = (
        "@context",
        "id",
        "type",
        "preferredUsername",
        "inbox",
        "outbox",
        "endpoints",
        "url",
        "publicKey",
    )
    return {k: full[k] for k in keep if k in full}


def render_collection(collection_id: str, *, total: int, first: str | None) -> dict[str, object]:
    """An OrderedCollection head: the count, and a link to the first page unless hidden."""
    doc: dict[str, object] = {
        "@context": AS_CONTEXT,
        "id": collection_id,
        "type": "OrderedCollection",
        "totalItems": total,
    }
    if first is not None:
        doc["first"] = first
    return doc


def render_collection_page(
    page_id: str,
    *,
    part_of: str,
    items: list[object],
    total: int,
    next_page: str | None,
    prev_page: str | None,
) -> dict[str, object]:
    doc: dict[str, object] = {
        "@context": AS_CONTEXT,
        "id": page_id,
        "type": "OrderedCollectionPage",
        "partOf": part_of,
        "totalItems": total,
        "orderedItems": items,
    }
    if next_page:
        doc["next"] = next_page
    if prev_page:
        doc["prev"] = prev_page
    return doc
