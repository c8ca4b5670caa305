"""acct: parsing (property-tested) and JRD shapes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.errors import ParseError
from federation.webfinger import Acct, parse_acct, render_host_meta_xrd, render_jrd

USER = st.from_regex(r"\A[A-Za-z0-9_]([A-Za-z0-9_.-]{0,20}[A-Za-z0-9_])?\Z")
LABEL = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?\Z")
HOST = st.lists(LABEL, min_size=1, max_size=4).map(".".join)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("acct:news@party.example", Acct("news", "party.example")),
        ("ACCT:News@Party.Example", Acct("news", "party.example")),
        ("@news@party.example", Acct("news", "party.example")),
        ("news@party.example", Acct("news", "party.example")),
        ("acct%3Anews%40party.example", Acct("news", "party.example")),
        ("acct:wg.climate-berlin@x.org", Acct("wg.climate-berlin", "x.org")),
    ],
)
def test_parse_acct_accepts_common_forms(text: str, expected: Acct) -> None:
    assert parse_acct(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "acct:",
        "news",
        "@news",
        "news@",
        "@@x.org",
        "a b@x.org",
        "news@-x.org",
        "n@x..org",
        "news@x.org/path",
        "acct:news@x.org:443",
        ".news@x.org",
        "x" * 700,
    ],
)
def test_parse_acct_rejects_malformed(text: str) -> None:
    with pytest.raises(ParseError):
        parse_acct(text)


@given(USER, HOST, st.booleans(), st.booleans())
def test_parse_acct_round_trips(user: str, host: str, prefix: bool, upper: bool) -> None:
    text = f"{user}@{host}"
    text = text.upper() if upper else text
    acct = parse_acct(("acct:" if prefix else "") + text)
    assert acct == Acct(user.lower(), host.lower())
    assert parse_acct(str(acct)) == acct


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_parse_acct_only_raises_parse_error(text: str) -> None:
    try:
        acct = parse_acct(text)
    except ParseError:
        return
    assert acct.user and acct.host and acct.user == acct.user.lower()


def test_jrd_self_link_is_the_actor_id() -> None:
    jrd = render_jrd(
        acct=Acct("news", "x.org"),
        actor_id="https://x.org/users/news",
        profile_url="https://x.org/@news",
    )
    assert jrd["subject"] == "acct:news@x.org"
    assert {
        "rel": "self",
        "type": "application/activity+json",
        "href": "https://x.org/users/news",
    } in jrd["links"]  # type: ignore[operator]  # list


def test_host_meta_escapes_template() -> None:
    assert 'template="https://x.org/.well-known/webfinger?resource={uri}"' in render_host_meta_xrd(
        "https://x.org"
    )
