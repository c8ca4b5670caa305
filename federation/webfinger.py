"""WebFinger (RFC 7033) and host-meta shapes: `acct:` parsing and JRD/XRD rendering.

Pure protocol code: must not import anything of ours outside `federation`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote
from xml.sax.saxutils import quoteattr

from federation.errors import ParseError

ACTIVITY_JSON = "application/activity+json"
PROFILE_PAGE_REL = "http://webfinger.net/rel/profile-page"

# Mastodon's username shape (app/models/account.rb USERNAME_RE), plus upper case,
# which we fold: lookups are case-insensitive.
_USER_RE = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9_])?$")
_HOST_RE = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


@dataclass(frozen=True, slots=True)
class Acct:
    """A parsed `user@host` handle; both parts lower-cased."""

    user: str
    host: str

    def __str__(self) -> str:
        return f"acct:{self.user}@{self.host}"


def parse_acct(resource: str) -> Acct:
    """Parse `acct:user@host`, `user@host` or `@user@host` into an Acct.

    Tolerates percent-encoding (some clients escape the `@`). Raises ParseError
    for anything else; never another exception type.
    """
    if not isinstance(resource, str) or len(resource) > 600:
        raise ParseError("resource must be a short string")
    text = unquote(resource.strip()) if "%" in resource else resource.strip()
    if text[:5].lower() == "acct:":
        text = text[5:]
    if text.startswith("@"):
        text = text[1:]
    user, sep, host = text.rpartition("@")
    if not sep or not user or not host:
        raise ParseError(f"not an acct handle: {resource!r}")
    if not _USER_RE.match(user):
        raise ParseError(f"invalid user part in {resource!r}")
    if len(host) > 253 or not _HOST_RE.match(host):
        raise ParseError(f"invalid host part in {resource!r}")
    return Acct(user=user.lower(), host=host.lower())


def is_valid_username(name: str) -> bool:
    return bool(_USER_RE.match(name))


def render_jrd(*, acct: Acct, actor_id: str, profile_url: str) -> dict[str, object]:
    """The JRD Mastodon needs: subject, aliases and a `self` link whose href is the actor id."""
    return {
        "subject": str(acct),
        "aliases": [actor_id, profile_url] if profile_url != actor_id else [actor_id],
        "links": [
            {"rel": "self", "type": ACTIVITY_JSON, "href": actor_id},
            {"rel": PROFILE_PAGE_REL, "type": "text/html", "href": profile_url},
        ],
    }


def render_host_meta_xrd(base_url: str) -> str:
    template = f"{base_url}/.well-known/webfinger?resource={{uri}}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" template={quoteattr(template)}/>\n'
        "</XRD>\n"
    )


def render_host_meta_json(base_url: str) -> dict[str, object]:
    return {
        "links": [{"rel": "lrdd", "template": f"{base_url}/.well-known/webfinger?resource={{uri}}"}]
    }
