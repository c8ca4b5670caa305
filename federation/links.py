"""Organisation links on the wire (issue 15): the Offer of a link, its answers, and the
link collections of actor documents (typed ↔ wire).

A link is offered as `Offer{object: OrganizationLink}` to the other actor's inbox; the
`OrganizationLink` names its `subject` (the offering actor), its `object` (the offered
one) and `linkKind`, what `object` is to `subject` (`parent`, `branch`, `partner`). The
other side answers `Accept`/`Reject` of the Offer; either side ends the link with an
`Undo` of its own activity (the Offer, or the Accept). docs/federation.md has the shapes.

Pure protocol code: imports nothing of ours outside `federation`; parsers raise only
`ParseError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from federation.activities import fits_uri, id_of, items, type_in
from federation.documents import AS_CONTEXT, VERBUND_TERMS
from federation.errors import ParseError

__all__ = [
    "COLLECTION_TERMS",
    "KINDS",
    "LINK_CONTEXT",
    "LinkCollections",
    "LinkOffer",
    "mirror_kind",
    "parse_collection_items",
    "parse_link_collections",
    "parse_offer",
    "render_link_answer",
    "render_link_collection",
    "render_offer",
    "render_undo",
]

KINDS = ("parent", "branch", "partner")
# The actor-document term of each kind's collection ("what the others are to me").
COLLECTION_TERMS = {"parent": "parentOrganizations", "branch": "branches", "partner": "partners"}
LINK_CONTEXT: list[object] = [AS_CONTEXT, VERBUND_TERMS]
# How many items of a peer's links collection are read (a tree never needs more).
MAX_ITEMS = 200
_MIRROR = {"parent": "branch", "branch": "parent", "partner": "partner"}


def mirror_kind(kind: str) -> str:
    """The other side's kind of the same link: my `branch` is your `parent`."""
    return _MIRROR[kind]


@dataclass(frozen=True, slots=True)
class LinkOffer:
    """A received Offer of a link: `kind` is what `target` is to `subject`."""

    offer_id: str
    subject: str
    target: str
    kind: str


@dataclass(frozen=True, slots=True)
class LinkCollections:
    """The links collections an actor document names (None where it names none)."""

    parents: str | None = None
    branches: str | None = None
    partners: str | None = None


def _uri(value: object) -> str | None:
    uri = id_of(value)
    if uri is None or not uri.startswith(("https://", "http://")) or not fits_uri(uri):
        return None
    return uri


def parse_offer(doc: object) -> LinkOffer:
    """An `Offer` whose object is an `OrganizationLink`; ParseError when it is none, or
    when its id, subject, object or kind is missing or malformed. Whether the subject is
    the sender and the object ours is the receiver's check."""
    if not isinstance(doc, Mapping):
        raise ParseError("an Offer is a JSON object")
    if type_in(doc.get("type"), ("Offer",)) is None:
        raise ParseError("not an Offer")
    offer_id = _uri(doc.get("id"))
    if offer_id is None:
        raise ParseError("the Offer has no id")
    link = doc.get("object")
    if not isinstance(link, Mapping) or type_in(link.get("type"), ("OrganizationLink",)) is None:
        raise ParseError("the Offer's object is not an OrganizationLink")
    subject, target, kind = (
        _uri(link.get("subject")),
        _uri(link.get("object")),
        link.get("linkKind"),
    )
    if subject is None or target is None:
        raise ParseError("the link needs a subject and an object")
    if not isinstance(kind, str) or kind not in KINDS:
        raise ParseError("linkKind must be parent, branch or partner")
    return LinkOffer(offer_id=offer_id, subject=subject, target=target, kind=kind)


def render_offer(*, offer_id: str, subject: str, target: str, kind: str) -> dict[str, object]:
    """The Offer of a link from `subject` to `target`, who is to become its `kind`."""
    return {
        "@context": LINK_CONTEXT,
        "id": offer_id,
        "type": "Offer",
        "actor": subject,
        "to": [target],
        "target": target,
        "object": {
            "id": f"{offer_id}#link",
            "type": "OrganizationLink",
            "subject": subject,
            "object": target,
            "linkKind": kind,
        },
    }


def render_link_answer(
    *, answer_id: str, kind: str, actor: str, offer: Mapping[str, object] | str, to: str
) -> dict[str, object]:
    """`Accept` or `Reject` (`kind`) of an Offer, which is embedded when we have it."""
    return {
        "@context": LINK_CONTEXT,
        "id": answer_id,
        "type": kind,
        "actor": actor,
        "to": [to],
        "object": dict(offer) if isinstance(offer, Mapping) else offer,
    }


def render_undo(
    *, undo_id: str, actor: str, undone: Mapping[str, object], to: str
) -> dict[str, object]:
    """`Undo` of our own Offer or Accept of a link: the link ends on both sides."""
    inner = {k: v for k, v in undone.items() if k != "@context"}
    return {
        "@context": LINK_CONTEXT,
        "id": undo_id,
        "type": "Undo",
        "actor": actor,
        "to": [to],
        "object": inner,
    }


def render_link_collection(collection_id: str, members: list[str]) -> dict[str, object]:
    """A links collection: every member inline (links are few; a tree reads one GET)."""
    return {
        "@context": AS_CONTEXT,
        "id": collection_id,
        "type": "OrderedCollection",
        "totalItems": len(members),
        "orderedItems": members,
    }


def parse_link_collections(doc: object) -> LinkCollections:
    """The links collections of a fetched actor document (absent or malformed: None);
    never raises."""
    if not isinstance(doc, Mapping):
        return LinkCollections()
    return LinkCollections(
        parents=_uri(doc.get("parentOrganizations")),
        branches=_uri(doc.get("branches")),
        partners=_uri(doc.get("partners")),
    )


def parse_collection_items(doc: object) -> tuple[list[str], str | None]:
    """The actor ids a collection (or page) lists inline, at most `MAX_ITEMS`, and its
    `first` page's URL when the items are not inline; ParseError when it is no collection."""
    if not isinstance(doc, Mapping):
        raise ParseError("a collection is a JSON object")
    kinds = ("OrderedCollection", "Collection", "OrderedCollectionPage", "CollectionPage")
    if type_in(doc.get("type"), kinds) is None:
        raise ParseError("not a collection")
    found = doc.get("orderedItems", doc.get("items"))
    first = doc.get("first")
    if found is None and isinstance(first, Mapping):
        found = first.get("orderedItems", first.get("items"))
        first = None
    uris: list[str] = []
    for index, value in enumerate(items(found)):
        if index >= MAX_ITEMS:
            break
        uri = _uri(value)
        if uri is not None and uri not in uris:
            uris.append(uri)
    return uris, _uri(first) if found is None else None
