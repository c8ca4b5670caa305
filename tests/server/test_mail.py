"""The `[mail]` and `[visitors]` config sections and the messages `server.mail` builds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from actors.visitors import VisitorPolicy
from server.config import ConfigError, MailConfig, parse_config
from server.mail import OutgoingMail, build_message

BASE: dict[str, Any] = {"instance": {"domain": "social.example.org"}}


def with_mail(**mail: Any) -> dict[str, Any]:
    return {**BASE, "mail": mail}


def test_without_mail_host_no_mail_is_sent() -> None:
    assert parse_config(BASE).mail is None
    assert parse_config(with_mail()).mail is None
    assert parse_config(BASE).visitors == VisitorPolicy()


def test_mail_section_is_read_with_its_defaults() -> None:
    mail = parse_config(with_mail(host="smtp.example.org", **{"from": "noreply@example.org"})).mail
    assert mail == MailConfig(host="smtp.example.org", sender="noreply@example.org")
    assert mail.port == 587 and mail.starttls and not mail.tls


def test_mail_password_file_is_read_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "smtp.secret").write_text("s3cret\n", encoding="utf-8")
    data = with_mail(host="smtp.example.org", password_file="smtp.secret")
    data["mail"]["from"] = "noreply@example.org"
    mail = parse_config(data, path=tmp_path / "verbund.toml").mail
    assert mail is not None and mail.password == "s3cret"


@pytest.mark.parametrize(
    ("mail", "named"),
    [
        ({"port": 25}, "mail.port is set but mail.host"),
        ({"host": "smtp.example.org"}, "mail.from is required"),
        ({"host": "smtp.example.org", "from": "a@b.org\r\nBcc: x@y.org"}, "mail.from"),
        ({"host": "smtp.example.org", "from": "a@b.org", "reply_to": "x y"}, "mail.reply_to"),
        ({"host": "smtp.example.org", "from": "a@b.org", "tls": True}, "mail.starttls and"),
        (
            {"host": "smtp.example.org", "from": "a@b.org", "password": "x", "password_file": "f"},
            "mail.password and mail.password_file",
        ),
        ({"host": "smtp.example.org", "from": "a@b.org", "pasword": "x"}, "unknown key mail."),
        ({"host": "not a host", "from": "a@b.org"}, "mail.host"),
        ({"host": "smtp.example.org", "from": "a@b.org", "port": 0}, "mail.port"),
    ],
)
def test_mail_config_errors_name_the_key(mail: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(with_mail(**mail))
    assert named in str(caught.value)


def test_visitors_section_is_validated() -> None:
    policy = parse_config({**BASE, "visitors": {"per_ip_per_day": 0, "verify_hours": 2}}).visitors
    assert policy.per_ip_per_day == 0 and policy.verify_hours == 2
    with pytest.raises(ConfigError, match=r"visitors\.keep_seconds"):
        parse_config({**BASE, "visitors": {"keep_seconds": 1}})
    with pytest.raises(ConfigError, match=r"unknown key visitors\.per_day"):
        parse_config({**BASE, "visitors": {"per_day": 1}})


CONFIG = MailConfig(host="smtp.example.org", sender="noreply@example.org")


def test_message_has_from_to_subject_and_no_reply_to_unless_given() -> None:
    msg = build_message(
        CONFIG,
        OutgoingMail("eva@example.org", "Hello\r\n there", "Body", auto=True),
        now_header="Thu, 03 Dec 2026 12:00:00 +0000",
    )
    assert msg["From"] == "noreply@example.org" and msg["To"] == "eva@example.org"
    assert msg["Subject"] == "Hello there"
    assert msg["Reply-To"] is None and msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"].endswith("@example.org>")
    answer = build_message(
        CONFIG,
        OutgoingMail("eva@example.org", "Re", "Body", reply_to="team@example.org"),
        now_header="Thu, 03 Dec 2026 12:00:00 +0000",
    )
    assert answer["Reply-To"] == "team@example.org" and answer["Auto-Submitted"] is None


def test_message_refuses_a_recipient_that_would_add_a_header() -> None:
    with pytest.raises(ValueError):
        build_message(
            CONFIG,
            OutgoingMail("eva@example.org\r\nBcc: x@example.net", "S", "B"),
            now_header="Thu, 03 Dec 2026 12:00:00 +0000",
        )
