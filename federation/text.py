"""Remote JSON made safe to store and show: the one place where wire text is normalised.

JSON lets a peer escape code points that no database or terminal should receive:
a lone surrogate (`"\\ud800"`) cannot be encoded as UTF-8, so SQLite's driver and
asyncpg raise on it, and PostgreSQL refuses NUL (`"\\u0000"`) in text. Every JSON
document that arrives from the network (inbox bodies, fetched actors, keys, objects,
WebFinger answers) is decoded by `load_json`, which replaces lone surrogates with
U+FFFD and removes NUL in every key and string value. Raw (unescaped) control bytes
and invalid UTF-8 never get this far: the JSON decoders and the UTF-8 decoder refuse them.

Documents are decoded by orjson, three times faster than `json.loads` on an inbox
body (2.4 against 7.1 µs for an 830-byte Create): every inbox request and every
processed record decodes one. What orjson refuses and `json.loads` takes (lone
surrogate escapes, `NaN`, nesting deeper than 1,024) goes through `json.loads`, so the
two accept the same documents.

Pure protocol code: imports nothing of ours.
"""

from __future__ import annotations

import json
import re

import orjson

__all__ = ["clean_text", "load_json"]

# The only escapes that can produce a lone surrogate or a NUL. Anything else json.loads
# accepts is storable, so documents without these escapes (nearly all) skip the walk.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:[dD][89a-fA-F][0-9a-fA-F]{2}|0000)")
# A document with such escapes is walked only if one of them yields a lone surrogate or
# NUL: peers that escape all non-ASCII text send emoji as surrogate pairs, which json.loads
# joins into one code point. Scanned left to right, an escaped backslash is consumed as a
# whole, so `\\ud83c` (an escaped backslash, then text) is no escape.
_ESCAPE_TOKEN = re.compile(
    r"\\\\"  # an escaped backslash
    r"|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"  # a surrogate pair
    r"|\\u(?:[dD][89a-fA-F][0-9a-fA-F]{2}|0000)"  # a lone surrogate or NUL
)


# After json.loads, valid surrogate pairs are joined into one code point: any surrogate
# left in a string is lone.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _needs_cleaning(text: str) -> bool:
    """Whether decoding `text` yields a lone surrogate or a NUL somewhere."""
    if "\\u" not in text or _SUSPECT_ESCAPE.search(text) is None:  # `in`: a fast scan
        return False
    return any(len(m.group()) == 6 for m in _ESCAPE_TOKEN.finditer(text))


def clean_text(value: str) -> str:
    """`value` with lone surrogates replaced by U+FFFD and NUL removed."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    return _SURROGATE.sub("\ufffd", value)


def _clean(value: object) -> object:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {clean_text(k): _clean(v) for k, v in value.items()}
    return value


def load_json(raw: bytes | str) -> object:
    """Decode a JSON document from a peer, with every string normalised (`clean_text`).

    Raises `ValueError` (also for invalid UTF-8) or `RecursionError`, as `json.loads` does.
    """
    try:
        doc = orjson.loads(raw)  # UTF-8 only, as RFC 8259 says
    except orjson.JSONDecodeError:
        return _load_slowly(raw)
    # orjson refuses lone surrogates, so only a NUL can need cleaning (an escaped
    # backslash before `u0000` makes a false alarm, which costs a walk and changes nothing).
    # On bytes `find`, not `in` (which first tries its operand as an integer and raises);
    # on text `in`, which is twice as fast as `find` there.
    has_nul = raw.find(b"\\u0000") >= 0 if isinstance(raw, bytes) else "\\u0000" in raw
    return _clean(doc) if has_nul else doc


def _load_slowly(raw: bytes | str) -> object:
    """`json.loads`, for the documents orjson refuses (see the module docstring)."""
    text = raw if isinstance(raw, str) else raw.decode("utf-8")
    doc = json.loads(text)
    return _clean(doc) if _needs_cleaning(text) else doc
