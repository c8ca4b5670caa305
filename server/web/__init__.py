"""HTML pages and ActivityPub/discovery routes: what peers and browsers fetch.

Must not import `server.api` or `server.cli`. `server.app` registers the routes of the
modules listed in `__all__`; `views` is the pages' private helper.
"""

__all__ = [
    "activitypub",
    "admin",
    "auth",
    "compose",
    "contact",
    "contacts",
    "directory",
    "discovery",
    "errors",
    "follows",
    "forms",
    "home",
    "i18n",
    "images",
    "invitations",
    "layout",
    "links",
    "manage",
    "manage_common",
    "manage_contacts",
    "manage_group",
    "manage_links",
    "media",
    "member",
    "news_pages",
    "notifications",
    "pages",
    "remote_follow",
    "settings",
    "timeline",
    "viewer",
]
