"""Hashtag names as Mastodon keys them: case-folded and ASCII-folded for matching.

Posts (`outbox.content`), profile interests and directory searches (`actors`) share these,
so `#Bürger` in a post and the interest `bürger` are the same key. Pure: no imports of ours.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["hashtag_key", "normalize_hashtag"]

_TAG_LETTER = re.compile(r"[^\W\d_]")
# Mastodon's ASCII folding of hashtags also maps these letters, not only accents.
_FOLD = str.maketrans({"ß": "ss", "æ": "ae", "ø": "o", "œ": "oe", "ł": "l", "đ": "d", "þ": "th"})


def normalize_hashtag(name: str) -> str:
    """Lower-cased and ASCII-folded, as Mastodon keys hashtags: `#Bürger` → `burger`.

    Only accents on Latin letters are dropped; other scripts keep their marks.
    """
    out: list[str] = []
    for ch in unicodedata.normalize("NFD", name.lower().translate(_FOLD)):
        if unicodedata.combining(ch) and out and out[-1].isascii():
            continue
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def hashtag_key(name: str) -> str | None:
    """The key a hashtag name from elsewhere (a peer's `Hashtag` tag) is stored under: its
    `normalize_hashtag` without the `#`, e.g. `#Straße` → `strasse`.

    Only word characters (letters, digits, `_`) and the combining marks of scripts such as
    Devanagari are kept; the `#`, spaces, punctuation and markup are removed first, as
    Mastodon's HashtagNormalizer removes invalid characters. None when no letter is left,
    so `#<>` or `#2025` is no tag.
    """
    kept = "".join(
        ch for ch in name if ch.isalnum() or ch == "_" or unicodedata.category(ch)[0] == "M"
    )
    key = normalize_hashtag(kept)
    return key if _TAG_LETTER.search(key) else None
