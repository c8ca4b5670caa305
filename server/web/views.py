"""What pages show of a post: a flat view built from a Status row."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from federation.content import plain_text, strip_markup
from federation.documents import format_datetime
from federation.media import emoji_of
from outbox.documents import stored_attachments
from outbox.models import Poll, Status
from outbox.polls import is_expired, options_of

TITLE_WORDS = 10


@dataclass(frozen=True, slots=True)
class MediaView:
    """One attachment as a page shows it: images inline, anything else as a link.
    `url` is an http(s) URL (checked when the post was received)."""

    kind: str
    url: str
    description: str

    @property
    def is_image(self) -> bool:
        return self.kind == "image"


@dataclass(frozen=True, slots=True)
class PollOptionView:
    title: str
    votes: int | None  # None while the totals are hidden
    percent: int


@dataclass(frozen=True, slots=True)
class PollView:
    options: tuple[PollOptionView, ...]
    votes_count: int
    voters_count: int | None
    multiple: bool
    expired: bool
    expires_iso: str | None


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
    attachments: tuple[MediaView, ...] = field(default=())
    poll: PollView | None = None


def post_title(status: Status) -> str:
    """An Article's name, else the first words of the summary or text (feeds and page
    titles): plain text with markup removed, since feed readers may parse titles as HTML.
    Empty when nothing visible is left."""
    if status.name:
        return strip_markup(status.name)
    words = strip_markup(status.summary or plain_text(status.content)).split()
    title = " ".join(words[:TITLE_WORDS])
    return title + "…" if len(words) > TITLE_WORDS else title


_MARKUP = re.compile(r"(<[^>]*>)")


def _with_emoji(content: str, tags: list[Any]) -> str:
    """`:shortcode:` in the text (not in markup) becomes the emoji's image, as Mastodon's
    web interface shows custom emoji. Only http(s) icon URLs, escaped."""
    emojis = {e.shortcode: e.url for e in map(emoji_of, tags if isinstance(tags, list) else [])
              if e is not None}  # fmt: skip
    if not emojis:
        return content

    def image(m: re.Match[str]) -> str:
        url = emojis.get(m.group(1))
        if url is None:
            return m.group(0)
        alt = html.escape(m.group(0), quote=True)
        src = html.escape(url, quote=True)
        return f'<img class="emoji" src="{src}" alt="{alt}" title="{alt}" height="20">'

    return "".join(
        part if part.startswith("<") else re.sub(r":(\w+):", image, part)
        for part in _MARKUP.split(content)
    )


def poll_view(poll: Poll, *, now: datetime) -> PollView:
    expired = is_expired(poll, now)
    options = options_of(poll)
    total = sum(n for _, n in options)
    hidden = poll.hides_totals and not expired
    return PollView(
        options=tuple(
            PollOptionView(
                title=title,
                votes=None if hidden else n,
                percent=round(100 * n / total) if total and not hidden else 0,
            )
            for title, n in options
        ),
        votes_count=total,
        voters_count=poll.voters_count,
        multiple=poll.is_multiple,
        expired=expired,
        expires_iso=format_datetime(poll.expires_at) if poll.expires_at else None,
    )


def post_view(status: Status, *, poll: Poll | None = None, now: datetime | None = None) -> PostView:
    return PostView(
        id=status.id,
        uri=status.uri,
        url=status.url or status.uri,
        type=status.type,
        title=post_title(status),
        name=status.name,
        summary=status.summary,
        content=_with_emoji(status.content, status.tags),
        language=status.language,
        sensitive=status.sensitive,
        published=status.published_at,
        published_iso=format_datetime(status.published_at),
        edited=status.edited_at,
        edited_iso=format_datetime(status.edited_at) if status.edited_at else None,
        visibility=status.visibility,
        attachments=tuple(
            MediaView(a.kind, a.url, a.description or "") for a in stored_attachments(status)
        ),
        poll=poll_view(poll, now=now or datetime.now(UTC)) if poll is not None else None,
    )
