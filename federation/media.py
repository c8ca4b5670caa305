"""Media and polls on the wire: attachments, custom emoji and `Question` options, narrowed
into typed values (wire → typed) and stored as small JSON objects.

We never fetch, proxy or cache media: an attachment is its remote URL and what the
sender says about it. Only absolute http(s) URLs survive (`javascript:`, `data:` and
relative URLs are dropped with the attachment or emoji carrying them); texts are plain
and bounded. Parsers here never raise on hostile input; they return less.

Shapes follow Mastodon (federation-contract §5): at most 4 attachments
(`MAX_ATTACHMENTS`), alt text in `name` (≤1,500 characters); `url` a string, a `Link`
or a list of them; a poll is a `Question` whose `oneOf` (single choice) or `anyOf`
(multiple choice) lists `{type: Note, name, replies: {totalItems}}`, with `endTime`,
`closed` and `toot:votersCount`.

Pure protocol code: imports nothing of ours outside `federation`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from federation.actors import is_http_url
from federation.content import plain_text
from federation.documents import parse_datetime
from federation.records import record

MAX_ATTACHMENTS = 4  # what Mastodon keeps of a post
MAX_ALT_TEXT = 1_500  # Mastodon's MAX_DESCRIPTION_LENGTH
MAX_BLURHASH = 100
MAX_MEDIA_TYPE = 100
MAX_DIMENSION = 100_000
MAX_EMOJI = 50
MAX_POLL_OPTIONS = 20  # Mastodon accepts polls with more options from peers; none need more
MAX_OPTION_TITLE = 1_000
MAX_VOTES = 2**62

ATTACHMENT_TYPES = frozenset({"Image", "Document", "Video", "Audio"})
MEDIA_KINDS = ("image", "video", "gifv", "audio", "unknown")


def _items(value: object) -> Iterator[object]:
    if isinstance(value, list):
        yield from value
    elif value is not None:
        yield value


def _first_type(value: object) -> str | None:
    return next((t for t in _items(value) if isinstance(t, str)), None)


def _bounded_text(value: object, limit: int) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return plain_text(value[: limit * 4]).strip()[:limit] or None


def _dimension(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value <= MAX_DIMENSION else None


def _media_type(value: object) -> str | None:
    if not isinstance(value, str) or "/" not in value or len(value) > MAX_MEDIA_TYPE:
        return None
    value = value.strip().lower()
    return value if value.isascii() and value.isprintable() and " " not in value else None


def _links(value: object) -> list[tuple[str, str | None]]:
    """(href, mediaType) of a `url` that is a string, a Link or a list of either;
    non-http(s) hrefs are dropped."""
    out: list[tuple[str, str | None]] = []
    for item in list(_items(value))[:20]:
        href: object
        media: str | None
        if isinstance(item, str):
            href, media = item, None
        elif isinstance(item, dict):
            href, media = item.get("href"), _media_type(item.get("mediaType"))
            if href is None and isinstance(item.get("url"), str):
                href = item.get("url")
        else:
            continue
        if isinstance(href, str) and is_http_url(href):
            out.append((href, media))
    return out


@record
class Attachment:
    """One remote media file: its URL (http(s) only), kind and what the sender says of it."""

    kind: str  # one of MEDIA_KINDS
    url: str
    media_type: str | None = None
    preview_url: str | None = None
    description: str | None = None
    blurhash: str | None = None
    width: int | None = None
    height: int | None = None

    def as_json(self) -> dict[str, object]:
        doc: dict[str, object] = {"kind": self.kind, "url": self.url}
        for key, value in (
            ("media_type", self.media_type),
            ("preview_url", self.preview_url),
            ("description", self.description),
            ("blurhash", self.blurhash),
            ("width", self.width),
            ("height", self.height),
        ):
            if value is not None:
                doc[key] = value
        return doc

    @classmethod
    def from_json(cls, doc: object) -> Attachment | None:
        """Read back what `as_json` stored; None for anything else (never raises)."""
        if not isinstance(doc, dict):
            return None
        kind, url = doc.get("kind"), doc.get("url")
        if kind not in MEDIA_KINDS or not isinstance(kind, str) or not is_http_url(url):
            return None
        assert isinstance(url, str)
        preview = doc.get("preview_url")

        def text(key: str) -> str | None:
            value = doc.get(key)
            return value if isinstance(value, str) else None

        return cls(
            kind=kind,
            url=url,
            media_type=text("media_type"),
            preview_url=preview if isinstance(preview, str) and is_http_url(preview) else None,
            description=text("description"),
            blurhash=text("blurhash"),
            width=_dimension(doc.get("width")),
            height=_dimension(doc.get("height")),
        )


def media_kind(as_type: str | None, media_type: str | None) -> str:
    """Mastodon's attachment `type` from the MIME type, else from the AS type."""
    major = (media_type or "").split("/", 1)[0]
    if major in ("image", "video", "audio"):
        return major
    return {"Image": "image", "Video": "video", "Audio": "audio"}.get(as_type or "", "unknown")


def _best_link(
    links: list[tuple[str, str | None]], *, prefer: tuple[str, ...] = ()
) -> tuple[str, str | None] | None:
    """The first link of a preferred MIME major type, else the first link with no
    `text/html` type (a PeerTube `url` lists the web page too)."""
    for href, media in links:
        if media and media.split("/", 1)[0] in prefer:
            return href, media
    return next(((h, m) for h, m in links if m != "text/html"), None)


def parse_attachment(item: object) -> Attachment | None:
    """One `attachment` entry (Image/Document/Video/Audio); None if it has no http(s) URL."""
    if not isinstance(item, dict):
        return None
    as_type = _first_type(item.get("type"))
    if as_type not in ATTACHMENT_TYPES:
        return None
    declared = _media_type(item.get("mediaType"))
    best = _best_link(_links(item.get("url")), prefer=("image", "video", "audio"))
    if best is None:
        return None
    url, link_media = best
    media_type = declared or link_media
    preview: str | None = None
    icon = next(iter(_links(_icon_urls(item.get("icon")))), None)
    if icon is not None:
        preview = icon[0]
    blurhash = item.get("blurhash")
    return Attachment(
        kind=media_kind(as_type, media_type),
        url=url,
        media_type=media_type,
        preview_url=preview,
        description=_bounded_text(item.get("name") or item.get("summary"), MAX_ALT_TEXT),
        blurhash=(
            blurhash
            if isinstance(blurhash, str) and blurhash.isascii() and len(blurhash) <= MAX_BLURHASH
            else None
        ),
        width=_dimension(item.get("width")),
        height=_dimension(item.get("height")),
    )


def _icon_urls(value: object) -> list[object]:
    """`icon` (an Image or a list of them, as PeerTube sends thumbnails) → its `url`s."""
    out: list[object] = []
    for item in _items(value):
        if isinstance(item, dict):
            out.extend(_items(item.get("url")))
        elif isinstance(item, str):
            out.append(item)
    return out


def parse_attachments(obj: Mapping[str, object]) -> list[Attachment]:
    """The `attachment`s of a post, at most MAX_ATTACHMENTS.

    A top-level Image, Video or Audio with no `attachment` (PeerTube, Funkwhale) is its own
    media: its `url` link of that kind becomes the attachment, with `name` as alt text.
    """
    found = [a for a in map(parse_attachment, _items(obj.get("attachment"))) if a is not None]
    if not found:
        as_type = next(
            (t for t in _items(obj.get("type")) if t in ("Image", "Video", "Audio")), None
        )
        if isinstance(as_type, str):
            major = as_type.lower()
            links = [(h, m) for h, m in _links(obj.get("url")) if m and m.startswith(major)]
            if links:
                href, media = links[0]
                icon = next(iter(_links(_icon_urls(obj.get("icon")))), None)
                found.append(
                    Attachment(
                        kind=media_kind(as_type, media),
                        url=href,
                        media_type=media,
                        preview_url=icon[0] if icon else None,
                        description=_bounded_text(obj.get("name"), MAX_ALT_TEXT),
                        width=_dimension(obj.get("width")),
                        height=_dimension(obj.get("height")),
                    )
                )
    return found[:MAX_ATTACHMENTS]


def render_attachment(attachment: Attachment) -> dict[str, object]:
    """Our stored attachment as an ActivityStreams `Document` (Mastodon's shape)."""
    doc: dict[str, object] = {"type": "Document", "url": attachment.url}
    if attachment.media_type:
        doc["mediaType"] = attachment.media_type
    if attachment.description:
        doc["name"] = attachment.description
    if attachment.blurhash:
        doc["blurhash"] = attachment.blurhash
    if attachment.width and attachment.height:
        doc["width"], doc["height"] = attachment.width, attachment.height
    return doc


# --- custom emoji ----------------------------------------------------------------------------


@record
class Emoji:
    shortcode: str
    url: str


def emoji_of(tag: object) -> Emoji | None:
    """An `Emoji` tag (`{name: ":x:", icon: {url}}`) with an http(s) icon; else None.

    The shortcode keeps only word characters (Mastodon's SHORTCODE_RE is `[\\w]+`)."""
    if not isinstance(tag, dict) or tag.get("type") != "Emoji":
        return None
    name, icon = tag.get("name"), tag.get("icon")
    url = icon.get("url") if isinstance(icon, dict) else None
    if not isinstance(name, str) or not is_http_url(url):
        return None
    assert isinstance(url, str)
    shortcode = name.strip().strip(":")
    if not shortcode or len(shortcode) > 100 or not all(c.isalnum() or c == "_" for c in shortcode):
        return None
    return Emoji(shortcode, url)


# --- polls -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuestionPoll:
    """A `Question`'s poll: option titles and counts, in order."""

    options: tuple[tuple[str, int], ...]
    multiple: bool
    expires_at: datetime | None
    closed_at: datetime | None
    voters_count: int | None


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return min(max(value, 0), MAX_VOTES)


def parse_question(
    obj: Mapping[str, object], *, now: datetime | None = None
) -> QuestionPoll | None:
    """The poll of a `Question`: `anyOf` makes it multiple choice, else `oneOf`. None when
    there is no option with a title. `closed` may be a time or `true` (then `now`, else
    `endTime`, else the epoch: it is over in any case)."""
    multiple = isinstance(obj.get("anyOf"), list) and bool(obj.get("anyOf"))
    raw = obj.get("anyOf") if multiple else obj.get("oneOf")
    options: list[tuple[str, int]] = []
    for item in list(_items(raw))[: MAX_POLL_OPTIONS * 2]:
        if not isinstance(item, dict):
            continue
        title = _bounded_text(item.get("name"), MAX_OPTION_TITLE)
        if title is None or any(t == title for t, _ in options):
            continue
        replies = item.get("replies")
        total = replies.get("totalItems") if isinstance(replies, dict) else None
        options.append((title, _count(total)))
    if not options:
        return None
    closed = obj.get("closed")
    expires_at = parse_datetime(obj.get("endTime"))
    closed_at = parse_datetime(closed)
    if closed_at is None and closed is True:
        closed_at = now or expires_at or datetime.fromtimestamp(0, UTC)
    voters = obj.get("votersCount")
    return QuestionPoll(
        options=tuple(options[:MAX_POLL_OPTIONS]),
        multiple=multiple,
        expires_at=expires_at,
        closed_at=closed_at,
        voters_count=_count(voters) if isinstance(voters, int) else None,
    )
