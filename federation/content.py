"""HTML content of posts: allow-list sanitising (nh3) and Markdown rendering.

What survives matches what Mastodon keeps (federation-contract §5): a small set
of inline and block tags, http(s)/mailto links, microformat/mention/hashtag
classes; scripts, event handlers, styles, iframes, images and javascript:
links never do. Pure protocol code: imports nothing of ours outside `federation`.
"""

from __future__ import annotations

import html
import re

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = frozenset(
    {
        "p",
        "br",
        "span",
        "a",
        "del",
        "s",
        "pre",
        "code",
        "em",
        "strong",
        "b",
        "i",
        "u",
        "ul",
        "ol",
        "li",
        "blockquote",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
    }
)
ALLOWED_ATTRIBUTES = {
    "a": {"href", "class", "title"},
    "span": {"class"},
    "code": {"class"},
    "ol": {"start", "reversed"},
    "li": {"value"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto", "xmpp", "matrix"})
# Classes that carry meaning for Mastodon and microformats; others are dropped.
_ALLOWED_CLASS = re.compile(
    r"^(h-\S*|p-\S*|u-\S*|dt-\S*|e-\S*|mention|hashtag|ellipsis|invisible|quote-inline)$"
)
_HEADING = re.compile(r"<(/?)h[1-6]>")
# What an HTML tokenizer reads as a start or end tag, comment or declaration: `<` followed
# by a letter, `/`, `!` or `?` (WHATWG "tag open state"), up to its `>` or the end of the text.
_MARKUP_LIKE = re.compile(r"<[A-Za-z/!?][^>]*(?:>|\Z)")

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_markdown.enable("strikethrough")


def _filter_attribute(tag: str, attr: str, value: str) -> str | None:
    if attr == "class":
        kept = " ".join(c for c in value.split() if _ALLOWED_CLASS.match(c))
        return kept or None
    return value


# Built once: nh3.clean() would rebuild the allow-lists on every call, which was half of
# the cost of sanitising a typical post.
_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
    url_schemes=set(URL_SCHEMES),
    attribute_filter=_filter_attribute,
    link_rel="nofollow noopener noreferrer",
    strip_comments=True,
)


def sanitize_html(text: str) -> str:
    """Clean untrusted HTML down to the allow-list; headings become bold paragraphs."""
    cleaned = _CLEANER.clean(text)
    if "<h" not in cleaned and "</h" not in cleaned:  # most posts: no regex pass (a third
        return cleaned  # of the cost of sanitising a short post)
    # Mastodon shows headings as <p><strong> (its sanitizer does the same).
    return _HEADING.sub(lambda m: "</strong></p>" if m.group(1) else "<p><strong>", cleaned)


def render_markdown(source: str) -> str:
    """Markdown (CommonMark, raw HTML disabled) to sanitised HTML."""
    return sanitize_html(_markdown.render(source))


def plain_text(fragment: str) -> str:
    """Visible text of an HTML fragment (for summaries, feeds and titles)."""
    text = nh3.clean(re.sub(r"</p>|<br\s*/?>", "\n", fragment), tags=set())
    return html.unescape(re.sub(r"\n{3,}", "\n\n", text)).strip()


def strip_markup(text: str) -> str:
    """Plain text without anything an HTML parser would take for markup, whitespace collapsed
    to single spaces: for titles that readers may parse as HTML (RSS readers do).

    `<b>x</b>` → `x`; `Tom & Jerry` and `1 < 2` stay as they are. Removal repeats until
    nothing is left to remove, so `<<b>i>` cannot turn into `<i>`.
    """
    line = text
    while (shorter := _MARKUP_LIKE.sub("", line)) != line:
        line = shorter
    return " ".join(line.split())
