"""Local actors and their keys, accounts, profile documents, and the directory of local
and cached remote actors with their follow relations; the shared `DeclarativeBase`.

Must not import `outbox`, `inbox` or `server`, nor know about inbox/outbox pipelines or
HTTP routes. Every module is public.
"""

__all__ = [
    "accounts",
    "aliases",
    "base",
    "contacts",
    "directory",
    "documents",
    "invitations",
    "links",
    "local",
    "models",
    "peers",
    "profile",
    "regions",
    "relations",
    "relays",
    "remote",
    "reports",
    "snowflake",
    "uris",
    "visitors",
    "web_sessions",
]
