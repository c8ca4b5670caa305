"""WebFinger (RFC 7033) and host-meta shapes: `acct:` parsing and JRD/XRD rendering.

Pure protocol code: must not import anything of ours outside `federation`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import quoteattr

from federation.errors import ParseError

ACTIVITY_JSON = "application/activity+json"
PROFILE_PAGE_REL = "http://webfinger.net/rel/profile-page"
# OStatus' remote-follow link: its `template` has `{uri}` for the actor to follow
# (Mastodon: `https://host/authorize_interaction?uri={uri}`).
SUBSCRIBE_REL = "http://ostatus.org/schema/1.0/subscribe"

# Mastodon's username shape (app/models/account.rb USERNAME_RE), plus upper case,
# which we fold: lookups are case-insensitive.
_USER_RE = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9_])?$")
_HOST_RE = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
# A port as a URL authority spells it: decimal, no sign, no leading zero.
_PORT_RE = re.compile(r"^[1-9][0-9]{0,4}$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Acct:
    """A parsed `user@host` handle; both parts lower-cased.

    `host` is the whole domain of the instance and keeps a port if it has one
    (`alice@localhost:3000`, as Mastodon run with `LOCAL_DOMAIN=localhost:3000` names
    its users): the same server on another port is another instance.
    """

    user: str
    host: str

    def __str__(self) -> str:
        return f"acct:{self.user}@{self.host}"


def parse_acct(resource: str) -> Acct:
    """Parse `acct:user@host`, `user@host` or `@user@host` into an Acct; `host` may end
    in `:port` (1 to 65535, kept as written: the scheme, hence the default port, is unknown).

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
    name, colon, port = host.partition(":")
    if len(name) > 253 or not _HOST_RE.match(name):
        raise ParseError(f"invalid host part in {resource!r}")
    if colon and not (_PORT_RE.match(port) and int(port) <= 65535):
        raise ParseError(f"invalid port in {resource!r}")
    return Acct(user=user.lower(), host=host.lower())


def acct_domain(url: str) -> str:
    """The host part of `acct:` handles for an actor whose id is `url`: its host,
    lower-cased, and its port unless that is the scheme's default.

    This is how Mastodon and actor verifiers build the acct from an actor id (host
    *and* port). Returns "" for a URL without a host; never raises.
    """
    try:
        parts = urlsplit(url)
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        return ""
    if ":" in host:
        host = f"[{host}]"  # IPv6
    if not host or port is None or port == _DEFAULT_PORTS.get(parts.scheme.lower()):
        return host
    return f"{host}:{port}"


def is_valid_username(name: str) -> bool:
    return bool(_USER_RE.match(name))


def render_jrd(
    *, acct: Acct, actor_id: str, profile_url: str, subscribe_template: str | None = None
) -> dict[str, object]:
    """The JRD Mastodon needs: subject, aliases and a `self` link whose href is the actor
    id; with `subscribe_template`, the remote-follow link as Mastodon serves it."""
    links: list[dict[str, str]] = [
        {"rel": "self", "type": ACTIVITY_JSON, "href": actor_id},
        {"rel": PROFILE_PAGE_REL, "type": "text/html", "href": profile_url},
    ]
    if subscribe_template is not None:
        links.append({"rel": SUBSCRIBE_REL, "template": subscribe_template})
    return {
        "subject": str(acct),
        "aliases": [actor_id, profile_url] if profile_url != actor_id else [actor_id],
        "links": links,
    }


def subscribe_template(jrd: dict[str, object]) -> str | None:
    """The remote-follow template of a JRD (an http(s) URL with `{uri}`), else None."""
    links = jrd.get("links")
    for link in links if isinstance(links, list) else []:
        if not isinstance(link, dict) or link.get("rel") != SUBSCRIBE_REL:
            continue
        template = link.get("template")
        if (
            isinstance(template, str)
            and "{uri}" in template
            and len(template) <= 2000
            and urlsplit(template).scheme in ("http", "https")
            and urlsplit(template).netloc
        ):
            return template
    return None


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
