"""FEP-7aa9 featured collections (Mastodon 4.6 "Collections"): a consented, curated list
of accounts, rendered from our confirmed organisation links so that Mastodon users see an
organisation's branches and partners.

Consent is the link itself: both sides confirmed it. Each `FeaturedItem` names a
`FeatureAuthorization` ("stamp") that the featured actor's own server serves for as long
as the link stands; readers validate it there (FEP-7aa9, Verification). The stamp's URL
is derived from the featured actor and the collection, so that the two servers of a link
agree on it without sending it (`stamp_uri`).

Must not import SQLAlchemy, `server`, or other packages of ours.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from federation.documents import AS_CONTEXT, format_datetime

FEP_7AA9 = "https://w3id.org/fep/7aa9"
FEATURED_CONTEXT: list[object] = [
    AS_CONTEXT,
    FEP_7AA9,
    {"discoverable": "http://joinmastodon.org/ns#discoverable", "sensitive": "as:sensitive"},
]
# FEP-7aa9 proposes at most 150 items a collection; readers may ignore more.
MAX_ITEMS = 150


def stamp_uri(featured_actor_uri: str, collection_uri: str) -> str:
    """The FeatureAuthorization of `featured_actor_uri` for `collection_uri`, on the
    featured actor's server."""
    digest = hashlib.sha256(collection_uri.encode()).hexdigest()[:32]
    return f"{featured_actor_uri}/feature_stamps/{digest}"


def stamp_key(stamp: str) -> str:
    """The last path segment of a stamp URI (what `stamp_uri` hashed)."""
    return stamp.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class FeaturedMember:
    uri: str
    type: str  # the actor's type (Organization, Group, …)
    since: datetime


def render_featured_collection(
    *,
    collection_id: str,
    name: str,
    summary: str,
    owner_uri: str,
    url: str,
    members: Sequence[FeaturedMember],
    context: bool = True,
) -> dict[str, object]:
    items = [
        {
            "id": f"{collection_id}/items/{n}",
            "type": "FeaturedItem",
            "featuredObject": member.uri,
            "featuredObjectType": member.type,
            "featureAuthorization": stamp_uri(member.uri, collection_id),
            "published": format_datetime(member.since),
        }
        for n, member in enumerate(members[:MAX_ITEMS], 1)
    ]
    doc: dict[str, object] = {"@context": FEATURED_CONTEXT} if context else {}
    return doc | {
        "id": collection_id,
        "type": "FeaturedCollection",
        "name": name,
        "summary": summary,
        "attributedTo": owner_uri,
        "url": url,
        "sensitive": False,
        "discoverable": True,
        "totalItems": len(items),
        "orderedItems": items,
    }


def render_featured_collections(
    collections_id: str, collections: Sequence[dict[str, object]]
) -> dict[str, object]:
    """The actor's `featuredCollections`: its featured collections, inline."""
    return {
        "@context": FEATURED_CONTEXT,
        "id": collections_id,
        "type": "OrderedCollection",
        "totalItems": len(collections),
        "orderedItems": list(collections),
    }


def render_feature_authorization(
    *, featured_actor_uri: str, collection_uri: str
) -> dict[str, object]:
    return {
        "@context": [AS_CONTEXT, "https://gotosocial.org/ns", FEP_7AA9],
        "id": stamp_uri(featured_actor_uri, collection_uri),
        "type": "FeatureAuthorization",
        "interactingObject": collection_uri,
        "interactionTarget": featured_actor_uri,
    }
