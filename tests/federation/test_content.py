"""Text for places that may read it as HTML: `strip_markup`."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from federation.content import strip_markup

# What an HTML tokenizer would start a tag, comment or declaration with.
MARKUP = re.compile(r"<[A-Za-z/!?]")


def test_strip_markup_keeps_text_and_drops_tags() -> None:
    assert strip_markup("Tom & Jerry") == "Tom & Jerry"
    assert strip_markup("1 < 2 &amp; 3 > 2") == "1 < 2 &amp; 3 > 2"
    assert strip_markup("<b>fett</b>  und\n<!-- x -->kursiv") == "fett und kursiv"
    assert strip_markup('x <img src=x onerror="alert(1)"') == "x"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("<>/!?ab &;\n")))
@example("<<b>>script>")
@example("<</b>/i>")
def test_strip_markup_leaves_nothing_a_parser_reads_as_markup(text: str) -> None:
    assert not MARKUP.search(strip_markup(text))
