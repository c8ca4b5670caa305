"""The names other packages used from `outbox.news` before it was split.

New code imports from the modules that hold them: `outbox.content` (text, mentions,
hashtags), `outbox.addressing` (to/cc and inboxes), `outbox.documents` (our posts as
activities), `outbox.posts` (publish, edit, delete, boost), `outbox.queries` (reads).
"""

from federation.rendering import PUBLIC
from outbox.addressing import addressing
from outbox.content import (
    MAX_MENTIONS,
    Rendered,
    find_mentions,
    hashtag_key,
    normalize_hashtag,
    prepare_mentions,
    render_content,
)
from outbox.documents import (
    NOTE_CONTEXT,
    create_activity_uri,
    render_announce,
    render_create,
    render_note,
    render_poll_update,
    render_tombstone,
    stored_attachments,
)
from outbox.posts import (
    ARTICLE_SUMMARY_CHARS,
    MAX_SUMMARY,
    MAX_TAGS,
    MAX_TEXT,
    MAX_TITLE,
    Draft,
    NewsError,
    boost,
    delete,
    draft_of,
    edit,
    find_boost,
    parse_visibility,
    post_text,
    publish,
    unboost,
)
from outbox.queries import (
    LISTED,
    boosted_uris,
    count_listed,
    outbox_items,
    public_posts,
    tagged_posts,
)

__all__ = [
    "ARTICLE_SUMMARY_CHARS",
    "LISTED",
    "MAX_MENTIONS",
    "MAX_SUMMARY",
    "MAX_TAGS",
    "MAX_TEXT",
    "MAX_TITLE",
    "NOTE_CONTEXT",
    "PUBLIC",
    "Draft",
    "NewsError",
    "Rendered",
    "addressing",
    "boost",
    "boosted_uris",
    "count_listed",
    "create_activity_uri",
    "delete",
    "draft_of",
    "edit",
    "find_boost",
    "find_mentions",
    "hashtag_key",
    "normalize_hashtag",
    "outbox_items",
    "parse_visibility",
    "post_text",
    "prepare_mentions",
    "public_posts",
    "publish",
    "render_announce",
    "render_content",
    "render_create",
    "render_note",
    "render_poll_update",
    "render_tombstone",
    "stored_attachments",
    "tagged_posts",
    "unboost",
]
