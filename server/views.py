"""What pages show of a post: a flat view built from a Status row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from federation.content import plain_text, strip_markup
from federation.documents import format_datetime
from outbox.models import Status

TITLE_WORDS = 10


@dataclass(frozen=True, slots=True)
class PostView:
    """What a page shows of one post; `content` is HTML we sanitised when publishing."""

    id: int
    uri: str
    url: str
    type: str
    title: str
    name: str | None
    summary: str
    content: str
    language: str | None
    sensitive: bool
    published: datetime
    published_iso: str
    edited: datetime | None
    edited_iso: str | None
    visibility: str


def post_title(status: Status) -> str:
    """An Article's name, else the first words of the summary or text (feeds and page
    titles): plain text with markup removed, since feed readers may parse titles as HTML.
    Empty when nothing visible is left."""
    if status.name:
        return strip_markup(status.name)
    words = strip_markup(status.summary or plain_text(status.content)).split()
    title = " ".join(words[:TITLE_WORDS])
    return title + "…" if len(words) > TITLE_WORDS else title


def post_view(status: Status) -> PostView:
    return PostView(
        id=status.id,
        uri=status.uri,
        url=status.url or status.uri,
        type=status.type,
        title=post_title(status),
        name=status.name,
        summary=status.summary,
        content=status.content,
        language=status.language,
        sensitive=status.sensitive,
        published=status.published_at,
        published_iso=format_datetime(status.published_at),
        edited=status.edited_at,
        edited_iso=format_datetime(status.edited_at) if status.edited_at else None,
        visibility=status.visibility,
    )
