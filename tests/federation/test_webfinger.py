"""acct: parsing (property-tested) and JRD shapes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.errors import ParseError
from federation.webfinger import (
    Acct,
    acct_domain,
    parse_acct,
    render_host_meta_xrd,
    render_jrd,
)

USER = st.from_regex(r"\A[A-Za-z0-9_]([A-Za-z0-9_.-]{0,20}[A-Za-z0-9_])?\Z")
LABEL = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?\Z")
HOST = st.lists(LABEL, min_size=1, max_size=4).map(".".join)
PORT = st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("acct:news@party.example", Acct("news", "party.example")),
        ("ACCT:News@Party.Example", Acct("news", "party.example")),
        ("@news@party.example", Acct("news", "party.example")),
        ("news@party.example", Acct("news", "party.example")),
        ("acct%3Anews%40party.example", Acct("news", "party.example")),
        ("acct:wg.climate-berlin@x.org", Acct("wg.climate-berlin", "x.org")),
        ("acct:alice@localhost:3000", Acct("alice", "localhost:3000")),
        ("@Alice@Beta.Test:8443", Acct("alice", "beta.test:8443")),
        ("alice@127.0.0.1:7001", Acct("alice", "127.0.0.1:7001")),
        ("acct%3Aalice%40localhost%3A3000", Acct("alice", "localhost:3000")),
        ("news@x.org:443", Acct("news", "x.org:443")),
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
        "news@x.org:",
        "news@x.org:0",
        "news@x.org:08080",
        "news@x.org:65536",
        "news@x.org:+80",
        "news@x.org:80:80",
        "news@:8080",
        ".news@x.org",
        "x" * 700,
    ],
)
def test_parse_acct_rejects_malformed(text: str) -> None:
    with pytest.raises(ParseError):
        parse_acct(text)


@given(USER, HOST, PORT, st.booleans(), st.booleans())
def test_parse_acct_round_trips(user: str, host: str, port: str, prefix: bool, upper: bool) -> None:
    text = f"{user}@{host}{port}"
    text = text.upper() if upper else text
    acct = parse_acct(("acct:" if prefix else "") + text)
    assert acct == Acct(user.lower(), host.lower() + port)
    assert parse_acct(str(acct)) == acct


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_parse_acct_only_raises_parse_error(text: str) -> None:
    try:
        acct = parse_acct(text)
    except ParseError:
        return
    assert acct.user and acct.host and acct.user == acct.user.lower()


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://x.org/users/news", "x.org"),
        ("https://X.Org:443/users/news", "x.org"),
        ("http://localhost:80/users/a", "localhost"),
        ("http://localhost:3000/users/a", "localhost:3000"),
        ("https://beta.test:8443/users/news", "beta.test:8443"),
        ("http://127.0.0.1:7001/actor", "127.0.0.1:7001"),
        ("https://x.org:80/users/a", "x.org:80"),
        ("http://[::1]:8080/users/a", "[::1]:8080"),
        ("https://x.org:99999/users/a", ""),
        ("not a url", ""),
    ],
)
def test_acct_domain_keeps_a_non_default_port(url: str, domain: str) -> None:
    assert acct_domain(url) == domain


@given(st.text(max_size=80))
def test_acct_domain_never_raises(text: str) -> None:
    assert isinstance(acct_domain(text), str)


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
