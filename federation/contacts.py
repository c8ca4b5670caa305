"""Contact requests on the wire (issue 14): our terms on a Follow, on the direct message
that accompanies it, and on the Reject that tells a sender their request expired.

A contact request is a `Follow` whose message travels in `content` (what Mastodon and
others read) and in our term `contactMessage` (namespace `https://w3id.org/verbund/ns#`),
plus a direct `Create{Note}` carrying the same text for software that shows no
message on a Follow. The Note names the Follow in `contactRequest`, so a Verbund
recipient recognises it and shows the request once. A Reject we send when a request
expires carries `contactExpired: true`.

Pure protocol code: must not import anything of ours outside `federation`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from federation.activities import Activity, fits_uri
from federation.documents import AS_CONTEXT, VERBUND_NS, VERBUND_TERMS

# Every document that carries a contact term names the terms inline, so no reader has
# to fetch /ns/verbund.jsonld.
CONTACT_CONTEXT: list[object] = [AS_CONTEXT, dict(VERBUND_TERMS)]
MAX_MESSAGE = 5000  # what we keep of a received message, whatever our own limit is


@dataclass(frozen=True, slots=True)
class ContactTerms:
    """What a received activity says about contact requests. `message` is our term's
    text, else `content` (a Mastodon-shaped Follow), else ""; `request` the Follow id a
    Note names (`contactRequest`), or None; `expired` whether a Reject says expiry."""

    message: str
    request: str | None
    expired: bool


def _term(doc: Mapping[str, object], name: str) -> object:
    """Our term by its compact name, its prefixed name or its full IRI."""
    for key in (name, f"verbund:{name}", VERBUND_NS + name):
        if key in doc:
            return doc[key]
    return None


def _text(value: object) -> str:
    return value[:MAX_MESSAGE] if isinstance(value, str) else ""


def parse_contact_terms(activity: Activity) -> ContactTerms:
    """Read the contact terms of a Follow, Reject or Create{Note}; never raises."""
    body = activity.body
    message = _text(_term(body, "contactMessage")) or _text(body.get("content"))
    expired = _term(body, "contactExpired") is True
    request: str | None = None
    obj = activity.object
    wire = obj.wire if obj is not None and obj.embedded else None
    if wire is not None:
        value = _term(wire, "contactRequest")
        if isinstance(value, dict):
            value = value.get("id")
        if isinstance(value, str) and value.startswith(("https://", "http://")) and fits_uri(value):
            request = value
    return ContactTerms(message=message.strip(), request=request, expired=expired)


def contact_follow_terms(message: str) -> dict[str, object]:
    """The keys a contact request adds to its Follow."""
    return {"@context": CONTACT_CONTEXT, "content": message, "contactMessage": message}
