"""NodeInfo 2.0/2.1 documents (crawlers and instance lists read them).

Pure protocol code: must not import anything of ours outside `federation`.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_20 = "http://nodeinfo.diaspora.software/ns/schema/2.0"
SCHEMA_21 = "http://nodeinfo.diaspora.software/ns/schema/2.1"
VERSIONS = ("2.0", "2.1")


@dataclass(frozen=True, slots=True)
class NodeStats:
    users_total: int
    users_active_month: int
    users_active_halfyear: int
    local_posts: int


def render_nodeinfo_links(base_url: str) -> dict[str, object]:
    return {
        "links": [
            {"rel": SCHEMA_20, "href": f"{base_url}/nodeinfo/2.0"},
            {"rel": SCHEMA_21, "href": f"{base_url}/nodeinfo/2.1"},
        ]
    }


def render_nodeinfo(
    version: str,
    *,
    software_version: str,
    open_registrations: bool,
    stats: NodeStats,
    node_name: str,
    node_description: str,
) -> dict[str, object]:
    """A NodeInfo document of `version` ("2.0" or "2.1")."""
    software: dict[str, object] = {"name": "verbund", "version": software_version}
    if version == "2.1":
        software["repository"] = "https://github.com/verbund/verbund"
        software["homepage"] = "https://github.com/verbund/verbund"
    return {
        "version": version,
        "software": software,
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": ["atom1.0", "rss2.0"]},
        "openRegistrations": open_registrations,
        "usage": {
            "users": {
                "total": stats.users_total,
                "activeMonth": stats.users_active_month,
                "activeHalfyear": stats.users_active_halfyear,
            },
            "localPosts": stats.local_posts,
        },
        "metadata": {"nodeName": node_name, "nodeDescription": node_description},
    }
