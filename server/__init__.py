"""The composition root: config, the aiohttp app, services, engine and sessions, the
delivery worker's process, and the three faces `web` (ActivityPub, discovery, HTML),
`api` (the client API) and `cli` (the `verbund` command).

Holds no business rules. The top-level modules compose the sub-packages; the
sub-packages use each other only through the names their `__init__` lists.
"""

__all__ = [
    "actions",
    "api",
    "app",
    "cli",
    "config",
    "contact_actions",
    "db",
    "groups",
    "instance_settings",
    "keys",
    "links",
    "mail",
    "media",
    "models",
    "notifications",
    "ratelimit",
    "relays",
    "runtime",
    "services",
    "staff",
    "visitors",
    "web",
    "worker",
]
