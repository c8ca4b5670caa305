"""The ActivityPub protocol: signatures, keys, parsers and renderers, WebFinger, NodeInfo.

Owns wire JSON: it is narrowed into typed values here and rendered from them here.
Must not import SQLAlchemy, config, or any other package of ours; the clock and the
network reach it only as parameters. Every module is public: this is the library
the other packages build on.
"""

__all__ = [
    "activities",
    "actors",
    "contacts",
    "content",
    "directory",
    "directory_pages",
    "documents",
    "errors",
    "featured",
    "fetch",
    "hashtags",
    "keys",
    "links",
    "media",
    "nodeinfo",
    "policy",
    "posts",
    "ratelimit",
    "records",
    "rendering",
    "signatures",
    "text",
    "webfinger",
]
