"""Contact requests on the wire (issue 14): our terms on a Follow, on the direct message
that accompanies it, on the Reject that tells a sender their request expired, and on
the reports (`Flag`) of a request's sender.

A contact request is a `Follow` whose message travels in `content` (what Mastodon and
others read) and in our term `contactMessage` (namespace `https://w3id.org/verbund/ns#`),
plus a direct `Create{Note}` carrying the same text for software that shows no
message on a Follow. The Note names the Follow in `contactRequest`, so a Verbund
recipient recognises it and shows the request once. A Reject we send when a request
expires carries `contactExpired: true`.

Pure protocol code: must not import anything of ours outside `federation`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from federation.activities import Activity, fits_uri
from federation.documents import AS_CONTEXT, VERBUND_NS, VERBUND_TERMS, format_datetime

# Every document that carries a contact term names the terms inline, so no reader has
# to fetch /ns/verbund.jsonld.
CONTACT_CONTEXT: list[object] = [AS_CONTEXT, dict(VERBUND_TERMS)]
MAX_MESSAGE = 5000  # what we keep of a received message, whatever our own limit is


@dataclass(frozen=True, slots=True)
class Addressee:
    """The one actor a direct message goes to: its id, handle parts and profile URL."""

    uri: str
    username: str
    domain: str
    url: str | None = None


def render_direct_note(
    *,
    note_uri: str,
    actor_uri: str,
    to: Addressee,
    text: str,
    now: datetime,
    follow_uri: str | None = None,
) -> dict[str, object]:
    """`Create{Note}` of a direct message to `to` alone (Mastodon shows a Note addressed
    to one actor and mentioning it as a direct message): plain `text`, paragraphs kept.
    `follow_uri` names the contact request's Follow (`contactRequest`) for the message
    that accompanies it, so a Verbund recipient folds it into the request; without it
    (an alias's reveal) the message is shown as such."""
    paragraphs = "".join(
        f"<p>{html.escape(part).replace(chr(10), '<br>')}</p>"
        for part in text.split("\n\n")
        if part.strip()
    )
    link = (
        f'<span class="h-card"><a href="{html.escape(to.url or to.uri)}" '
        f'class="u-url mention">@<span>{html.escape(to.username)}</span></a></span>'
    )
    published = format_datetime(now)
    note: dict[str, object] = {
        "id": note_uri,
        "type": "Note",
        "attributedTo": actor_uri,
        "to": [to.uri],
        "cc": [],
        "published": published,
        "content": f"<p>{link}</p>{paragraphs}",
        "tag": [{"type": "Mention", "href": to.uri, "name": f"@{to.username}@{to.domain}"}],
    }
    if follow_uri is not None:
        note["contactRequest"] = follow_uri
    return {
        "@context": CONTACT_CONTEXT,
        "id": note_uri + "/activity",
        "type": "Create",
        "actor": actor_uri,
        "to": [to.uri],
        "cc": [],
        "published": published,
        "object": note,
    }


@dataclass(frozen=True, slots=True)
class ContactTerms:
    """What a received activity says about contact requests. `message` is our term's
    text, else `content` (a Mastodon-shaped Follow), else ""; `request` the Follow id a
    Note names (`contactRequest`), or None; `expired` whether a Reject says expiry;
    `anonymous` whether a Follow says its actor is a one-off alias (`contactAnonymous`)."""

    message: str
    request: str | None
    expired: bool
    anonymous: bool = False


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
    return ContactTerms(
        message=message.strip(),
        request=request,
        expired=expired,
        anonymous=_term(body, "contactAnonymous") is True,
    )


def contact_follow_terms(message: str, *, anonymous: bool = False) -> dict[str, object]:
    """The keys a contact request adds to its Follow; `anonymous` says the Follow's actor
    is a one-off alias, so that the recipient can refuse anonymous requests from its
    server without refusing the server's named ones."""
    terms: dict[str, object] = {
        "@context": CONTACT_CONTEXT,
        "content": message,
        "contactMessage": message,
    }
    if anonymous:
        terms["contactAnonymous"] = True
    return terms


MAX_REPORTED = 100  # objects of a Flag we look at; Mastodon sends the account and a few posts


def render_flag(
    *, flag_uri: str, actor_uri: str, reported_uri: str, object_uris: list[str], comment: str
) -> dict[str, object]:
    """A report in Mastodon's shape (`ActivityPub::FlagSerializer`): the instance actor
    reports `reported_uri` and, after it, the objects in question; `content` is the
    comment. No `to`: it goes to the reported actor's inbox alone."""
    return {
        "@context": AS_CONTEXT,
        "id": flag_uri,
        "type": "Flag",
        "actor": actor_uri,
        "content": comment,
        "object": [reported_uri, *object_uris],
    }


@dataclass(frozen=True, slots=True)
class Flagged:
    """What a received `Flag` names: object ids (actors and posts, in the order sent, at
    most `MAX_REPORTED`) and the comment."""

    object_uris: tuple[str, ...]
    comment: str


def parse_flag(activity: Activity) -> Flagged:
    """Read a received Flag; never raises (an empty `object_uris` is nothing to report)."""
    uris = [
        o.id
        for o in activity.objects[:MAX_REPORTED]
        if o.id and o.id.startswith(("https://", "http://")) and fits_uri(o.id)
    ]
    return Flagged(tuple(dict.fromkeys(uris)), _text(activity.content).strip())
