"""E-mail through the operator's SMTP server (`[mail]`, `server.config.MailConfig`).

Messages are built with the standard library's `email` package under its SMTP policy,
which refuses a header value holding CR or LF: no caller can add a header by what a
visitor typed (`actors.visitors` also refuses such input earlier, with a reason).
Sending is one `aiosmtplib` conversation per message, bounded by `mail.timeout`.
Nothing here logs a password or a message body; failures name the server only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

import aiosmtplib

from server.config import MailConfig

__all__ = ["MailError", "OutgoingMail", "build_message", "send_mail"]

log = logging.getLogger("verbund.mail")


class MailError(Exception):
    """The message could not be handed to the SMTP server; says why, without secrets."""


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """One plain-text mail to one recipient. `auto` marks mails a program wrote
    (RFC 3834 `Auto-Submitted`), so that auto-responders do not answer them."""

    to: str
    subject: str
    body: str
    reply_to: str = ""
    auto: bool = False


def _one_line(text: str) -> str:
    return " ".join(text.split())


def build_message(config: MailConfig, mail: OutgoingMail, *, now_header: str) -> EmailMessage:
    """The message as sent: From `mail.from`, To the recipient only. Raises ValueError
    for a header value the SMTP policy refuses (CR/LF), which callers never pass."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = config.sender
    msg["To"] = mail.to
    msg["Subject"] = _one_line(mail.subject)
    msg["Date"] = now_header
    msg["Message-ID"] = make_msgid(domain=config.sender.rpartition("@")[2])
    if mail.reply_to:
        msg["Reply-To"] = mail.reply_to
    if mail.auto:
        msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(mail.body)
    return msg


async def send_mail(config: MailConfig, mail: OutgoingMail) -> None:
    """Send `mail`; raise MailError when the server cannot be reached or refuses it."""
    try:
        message = build_message(config, mail, now_header=format_datetime(datetime.now(UTC)))
    except ValueError as exc:
        raise MailError(f"cannot build the message: {exc}") from None
    try:
        await aiosmtplib.send(
            message,
            sender=config.sender,
            recipients=[mail.to],
            hostname=config.host,
            port=config.port,
            username=config.username or None,
            password=config.password or None,
            use_tls=config.tls,
            start_tls=config.starttls,
            timeout=config.timeout,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        log.warning("mail to the SMTP server %s:%d failed: %s", config.host, config.port, exc)
        raise MailError(f"the mail server {config.host} did not take the message") from None
