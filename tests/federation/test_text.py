"""federation.text.load_json: every decoded string is storable, and documents that need no
cleaning are not walked."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation import text
from federation.text import load_json

# Characters around the escapes that matter: surrogates, NUL, backslashes and the letters
# of `\ud83c`, so that escaped backslashes land right before them.
_PIECES = st.sampled_from(["\ud83c", "\udf89", "\U0001f389", "\x00", "\\", "u", "d", "8", "a", "ü"])


def _storable(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" not in value and text._SURROGATE.search(value) is None
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    return True


@settings(max_examples=500)
@given(st.lists(st.lists(_PIECES, max_size=8).map("".join), max_size=4))
def test_decoded_strings_are_storable_and_clean_ones_untouched(strings: list[str]) -> None:
    doc = {"content": strings, **{s: 1 for s in strings}}
    raw = json.dumps(doc).encode()  # ASCII: every non-ASCII character escaped
    decoded = load_json(raw)
    assert _storable(decoded)
    if _storable(doc):
        assert decoded == doc


def test_escaped_emoji_need_no_walk_but_lone_surrogates_do() -> None:
    assert not text._needs_cleaning(json.dumps({"content": "Grüße 🎉"}))
    assert not text._needs_cleaning(r'{"a": "\\ud83c"}')  # a backslash, then text
    assert text._needs_cleaning(r'{"a": "\\\ud83c"}')  # a backslash, then a lone surrogate
    assert text._needs_cleaning(r'{"a": "\ud83c\ud83c\udf89"}')  # one lone, then a pair
    assert text._needs_cleaning(r'{"a": "\udf89\ud83c"}')  # reversed: both lone
    assert text._needs_cleaning(r'{"a": "x\u0000"}')


def test_takes_what_json_loads_takes_whichever_decoder_reads_it() -> None:
    """orjson reads most documents; what it refuses goes to `json.loads`, so the inbox takes
    exactly the documents it took before orjson, decoded the same way."""
    cases: list[tuple[bytes | str, object]] = [
        (b'{"a": "\\ud800x"}', {"a": "\ufffdx"}),  # a lone surrogate: orjson refuses it
        (b'{"a": NaN}', json.loads("{\"a\": NaN}")),  # not JSON, but json.loads reads it
        (b'{"a": "x\\u0000y"}', {"a": "xy"}),  # orjson reads NUL: cleaned all the same
        (b'{"a": "\\\\u0000"}', {"a": "\\u0000"}),  # an escaped backslash: text, kept
        ('{"a": "Grüße 🎉"}', {"a": "Grüße 🎉"}),  # a str as well as bytes
    ]
    for raw, expected in cases:
        decoded = load_json(raw)
        assert json.dumps(decoded) == json.dumps(expected), raw
    assert load_json(b"[" * 900 + b"]" * 900) is not None  # deep, but not too deep
    with pytest.raises(RecursionError):  # deeper than either goes: refused, as before
        load_json(b"[" * 5000 + b"]" * 5000)
    for bad in (b"\xff{}", b'{"a": 1', b""):
        with pytest.raises(ValueError):
            load_json(bad)
