"""The rules of visitors' contact requests that need no database: form tokens and input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.visitors import (
    MAX_MESSAGE,
    VisitorError,
    VisitorInput,
    VisitorPolicy,
    VisitorReason,
    check_form_token,
    form_secret,
    issue_form_token,
    parse_answer,
    parse_email,
    parse_submission,
)

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
SECRET = form_secret("-----BEGIN PRIVATE KEY-----\ntest\n-----END PRIVATE KEY-----\n")
POLICY = VisitorPolicy(min_form_seconds=3)


def reason_of(token: str, *, now: datetime, username: str = "kv") -> VisitorReason | None:
    try:
        check_form_token(SECRET, username, token, now, POLICY)
    except VisitorError as exc:
        return exc.reason
    return None


def test_form_token_is_valid_from_min_form_seconds_to_a_day() -> None:
    token = issue_form_token(SECRET, "kv", T0)
    assert reason_of(token, now=T0 + timedelta(seconds=2.9)) is VisitorReason.TOO_FAST
    assert reason_of(token, now=T0 + timedelta(seconds=3)) is None
    assert reason_of(token, now=T0 + timedelta(days=1)) is None
    assert reason_of(token, now=T0 + timedelta(days=1, seconds=1)) is VisitorReason.FORM_EXPIRED


def test_form_token_binds_to_the_actor_ignoring_case_and_to_the_secret() -> None:
    token = issue_form_token(SECRET, "kv", T0)
    later = T0 + timedelta(minutes=1)
    assert reason_of(token, now=later, username="KV") is None
    assert reason_of(token, now=later, username="ov") is VisitorReason.BAD_FORM_TOKEN
    other = issue_form_token(form_secret("another key"), "kv", T0)
    assert reason_of(other, now=later) is VisitorReason.BAD_FORM_TOKEN
    issued, _, mac = token.partition(".")
    # An earlier issue time with the same MAC (to dodge min_form_seconds) is refused.
    assert reason_of(f"{int(issued) - 60}.{mac}", now=T0) is VisitorReason.BAD_FORM_TOKEN


@given(st.text(max_size=60))
@settings(max_examples=200, deadline=None)
def test_check_form_token_only_raises_visitor_error(token: str) -> None:
    try:
        check_form_token(SECRET, "kv", token, T0, POLICY)
    except VisitorError as exc:
        assert exc.reason is VisitorReason.BAD_FORM_TOKEN


@pytest.mark.parametrize(
    "value",
    [
        "",
        "plain",
        "a@b",
        "a b@example.org",
        "a@example.org\r\nBcc: x@example.net",
        "a@example.org\nX: y",
        "a@example.org,b@example.org",
        "<a@example.org>",
        "a..b@example.org",
        "a@exa_mple.org",
        "x" * 65 + "@example.org",
        "a@" + "b" * 250 + ".org",
    ],
)
def test_parse_email_refuses_what_is_no_plain_address(value: str) -> None:
    with pytest.raises(VisitorError) as caught:
        parse_email(value)
    assert caught.value.reason is VisitorReason.INVALID


def test_parse_email_keeps_a_plain_address() -> None:
    assert parse_email("  Eva.Muster+verbund@example.org ") == "Eva.Muster+verbund@example.org"


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_parse_email_only_raises_visitor_error_and_passes_nothing_for_a_header(
    value: str,
) -> None:
    try:
        email = parse_email(value)
    except VisitorError:
        return
    assert not any(ch in email for ch in '\r\n\t ,;<>"\x00')


def test_parse_submission_normalises_and_checks_every_field() -> None:
    got = parse_submission(
        VisitorInput(
            message="  Hello\r\nworld  ",
            email="eva@example.org",
            name=" Eva ",
            region="de-by",
            interests="#Klima, Verkehrswende klima",
        )
    )
    assert got.message == "Hello\nworld"
    assert got.name == "Eva" and got.region_code == "DE-BY"
    assert got.interests == ("Klima", "Verkehrswende")
    assert parse_submission(VisitorInput("x" * MAX_MESSAGE, "e@example.org")).message
    for bad in (
        VisitorInput("x" * (MAX_MESSAGE + 1), "e@example.org"),
        VisitorInput("hi", "e@example.org", name="Eva\nBcc: x"),
        VisitorInput("hi", "e@example.org", name="Eva\u2028x"),
        VisitorInput("hi", "e@example.org", region="XX-1"),
        VisitorInput("hi", "e@example.org", interests=["a b"]),
        VisitorInput("", "e@example.org"),
    ):
        with pytest.raises(VisitorError) as caught:
            parse_submission(bad)
        assert caught.value.reason is VisitorReason.INVALID


@given(
    st.text(max_size=600),
    st.text(max_size=80),
    st.text(max_size=120),
    st.text(max_size=8),
    st.lists(st.text(max_size=20), max_size=5),
)
@settings(max_examples=300, deadline=None)
def test_parse_submission_only_raises_visitor_error(
    message: str, email: str, name: str, region: str, interests: list[str]
) -> None:
    try:
        parse_submission(VisitorInput(message, email, name, region, interests))
    except VisitorError as exc:
        assert exc.reason is VisitorReason.INVALID


def test_parse_answer_limits_and_trims() -> None:
    assert parse_answer(" Thanks!\r\n ") == "Thanks!"
    for bad in ("", "  ", "x" * 5001, "bell\x07"):
        with pytest.raises(VisitorError):
            parse_answer(bad)
