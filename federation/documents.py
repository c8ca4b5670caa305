"""Rendering of our actor documents and content negotiation (typed → wire).

Pure protocol code: must not import anything of ours outside `federation`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT = "https://w3id.org/security/v1"
ACTIVITY_JSON = "application/activity+json"
LD_JSON = "application/ld+json"

# Our own actor terms (docs/federation.md). The namespace IRI is fixed; each
# instance also serves the context at `/ns/verbund.jsonld` (`render_verbund_context`),
# but actor documents carry the definitions inline, so no reader has to fetch it.
VERBUND_NS = "https://w3id.org/verbund/ns#"
VERBUND_CONTEXT_PATH = "/ns/verbund.jsonld"
VERBUND_TERMS: dict[str, object] = {
    "verbund": VERBUND_NS,
    "region": "verbund:region",
    "locality": "verbund:locality",
    "postalCodePrefix": "verbund:postalCodePrefix",
    "interests": "verbund:interests",
    # Contact requests (issue 14, federation.contacts): the message a Follow carries, and
    # on the direct message that accompanies it, the id of that Follow.
    "contactMessage": "verbund:contactMessage",
    "contactRequest": {"@id": "verbund:contactRequest", "@type": "@id"},
    "contactExpired": "verbund:contactExpired",
    # Organisation links (issue 15, federation.links): the offered link and the
    # collections of confirmed links in actor documents.
    "OrganizationLink": "verbund:OrganizationLink",
    "linkKind": "verbund:linkKind",
    "parentOrganizations": {"@id": "verbund:parentOrganizations", "@type": "@id"},
    "branches": {"@id": "verbund:branches", "@type": "@id"},
    "partners": {"@id": "verbund:partners", "@type": "@id"},
    # On an anonymous request's Follow: its actor is a one-off alias (blocks by domain).
    "contactAnonymous": "verbund:contactAnonymous",
}
# The names of the profile fields (`attachment` PropertyValues) that Mastodon and other
# software without our terms show; `federation.actors` reads "Region" back.
REGION_FIELD = "Region"
INTERESTS_FIELD = "Interessen / Interests"

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
        # FEP-7aa9 (Mastodon's Collections): our branches and partners (federation.featured).
        "featuredCollections": {
            "@id": "https://w3id.org/fep/7aa9#featuredCollections",
            "@type": "@id",
        },
        "schema": "http://schema.org#",
        "PropertyValue": "schema:PropertyValue",
        "value": "schema:value",
        **VERBUND_TERMS,
    },
]


def render_verbund_context() -> dict[str, object]:
    """The JSON-LD context document served at `/ns/verbund.jsonld`: our terms, plus
    `discoverable`/`indexable` mapped to `toot:` as Mastodon maps them."""
    return {
        "@context": {
            **VERBUND_TERMS,
            "toot": "http://joinmastodon.org/ns#",
            "discoverable": "toot:discoverable",
            "indexable": "toot:indexable",
        }
    }


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
    # The collections of confirmed organisation links (issue 15); organisations and
    # groups only.
    parents: str | None = None
    branches: str | None = None
    partners: str | None = None
    featured_collections: str | None = None  # the same links as FEP-7aa9 collections


@dataclass(frozen=True, slots=True)
class Interest:
    """One interest as a hashtag: the name as typed (no `#`) and its tag page URL."""

    name: str
    href: str


@dataclass(frozen=True, slots=True)
class ProfileView:
    """The directory profile of an actor. `region_code` is an upper-case ISO 3166 code
    or None; `region_label` the text of the Region field ("Pankow, Berlin (DE-BE)"),
    made by `actors.regions`, which knows the names."""

    region_code: str | None = None
    region_label: str = ""
    locality: str = ""
    postal_prefix: str = ""
    interests: tuple[Interest, ...] = ()


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
    indexable: bool = False
    profile: ProfileView | None = None
    header_url: str | None = None  # the profile's header image (`image`, as Mastodon's)

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
        "indexable": actor.indexable,
        "published": format_datetime(actor.published),
        "publicKey": {
            "id": actor.urls.key_id,
            "owner": actor.id,
            "publicKeyPem": actor.public_key_pem,
        },
        "attachment": [],
        "tag": [],
    }
    if actor.profile is not None:
        doc.update(render_profile(actor.profile))
    for term, url in (
        ("parentOrganizations", actor.urls.parents),
        ("branches", actor.urls.branches),
        ("partners", actor.urls.partners),
        ("featuredCollections", actor.urls.featured_collections),
    ):
        if url:
            doc[term] = url
    if actor.urls.shared_inbox:
        doc["endpoints"] = {"sharedInbox": actor.urls.shared_inbox}
    if actor.icon_url:
        doc["icon"] = {"type": "Image", "url": actor.icon_url}
    if actor.header_url:
        doc["image"] = {"type": "Image", "url": actor.header_url}
    return doc


def hashtag_link(interest: Interest) -> str:
    """A hashtag as Mastodon writes one into HTML (so it renders the same there)."""
    return (
        f'<a href="{html.escape(interest.href)}" class="mention hashtag" rel="tag">'
        f"#<span>{html.escape(interest.name)}</span></a>"
    )


def render_profile(profile: ProfileView) -> dict[str, object]:
    """The profile parts of an actor document: our terms (read by Verbund peers), the
    same as PropertyValue fields and Hashtag tags (what Mastodon and others show)."""
    doc: dict[str, object] = {}
    fields: list[object] = []
    if profile.region_code:
        doc["region"] = profile.region_code
        if profile.locality:
            doc["locality"] = profile.locality
        if profile.postal_prefix:
            doc["postalCodePrefix"] = profile.postal_prefix
        fields.append(
            {
                "type": "PropertyValue",
                "name": REGION_FIELD,
                "value": html.escape(profile.region_label or profile.region_code),
            }
        )
    doc["interests"] = [i.name for i in profile.interests]
    if profile.interests:
        fields.append(
            {
                "type": "PropertyValue",
                "name": INTERESTS_FIELD,
                "value": " ".join(hashtag_link(i) for i in profile.interests),
            }
        )
    doc["attachment"] = fields
    doc["tag"] = [
        {"type": "Hashtag", "name": f"#{i.name}", "href": i.href} for i in profile.interests
    ]
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


def accept_quality(accept: str, media_types: frozenset[str]) -> float:
    """The highest q an Accept header (lower-cased) gives any of `media_types`; 0 if none
    is named. A q that is no number counts as 0."""
    best = 0.0
    for part in accept.split(","):
        media, _, params = part.partition(";")
        if media.strip() not in media_types:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best = max(best, q)
    return best


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
    best_json = accept_quality(lowered, _JSON_TYPES)
    best_html = accept_quality(lowered, _HTML_TYPES)
    return best_html <= 0 or best_json >= best_html


def render_actor_bare(actor: LocalActorView) -> dict[str, object]:
    """What unsigned fetches get in authorized-fetch mode: enough to verify our signatures.

    Mastodon does the same under AUTHORIZED_FETCH, which avoids the deadlock of
    two servers each requiring a signed fetch of the other's key first. The profile
    (region, interests, discoverable) is left out with the rest: an instance that
    requires signed fetches shows it only to those who sign. The context stays the full
    one, so both documents read the same to a JSON-LD processor.
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
