"""Visitors' contact requests as the form, the API and the CLI run them: the rules of
`actors.visitors` plus the mails of `server.mail`, in the order that leaves nothing
half-done.

A submission is stored and counted (committed) before its verification mail goes out;
if the mail server does not take the mail, the row and the counts are withdrawn again,
so the visitor is told to try later and nothing remains. The SMTP conversation holds no
database transaction open. An answer is mailed first and recorded after; a request whose
answer could not be sent stays as it was.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from actors import visitors
from actors.local import ensure_instance_actor, find_actor
from actors.models import Actor, VisitorContact
from actors.uris import LocalUris
from actors.visitors import VisitorError, VisitorInput, VisitorReason
from server.config import MailConfig
from server.mail import MailError, OutgoingMail, send_mail
from server.services import Services

__all__ = [
    "HONEYPOT",
    "REASON_STATUS",
    "ContactForm",
    "answer_contact",
    "check_link",
    "close_contact",
    "contact_form",
    "contact_form_url",
    "list_contacts",
    "submit_contact",
    "verify_contact",
    "verify_url",
]

log = logging.getLogger("verbund.visitors")

# The honeypot's field name: people leave a field they cannot see empty, form bots fill
# anything named like this.
HONEYPOT: Final = "website"

# The HTTP status of each refusal, the same for the HTML form and the JSON API.
REASON_STATUS: Final[dict[VisitorReason, int]] = {
    VisitorReason.NO_FORM: 404,
    VisitorReason.INVALID: 422,
    VisitorReason.BAD_FORM_TOKEN: 400,
    VisitorReason.TOO_FAST: 400,
    VisitorReason.FORM_EXPIRED: 400,
    VisitorReason.ADDRESS_LIMIT: 429,
    VisitorReason.IP_LIMIT: 429,
    VisitorReason.UNKNOWN_LINK: 404,
    VisitorReason.LINK_EXPIRED: 410,
    VisitorReason.NOT_FOUND: 404,
    VisitorReason.NOT_AVAILABLE: 503,
    VisitorReason.MAIL_FAILED: 503,
}

NOT_AVAILABLE = "contact by e-mail is not available on this instance (no mail server configured)"


def contact_form_url(uris: LocalUris, username: str) -> str:
    return uris.profile_page(username) + "/contact"


def verify_url(uris: LocalUris, token: str) -> str:
    return f"{uris.base_url}/contact/verify/{token}"


def _mail(svc: Services) -> MailConfig:
    if svc.config.mail is None:
        raise VisitorError(VisitorReason.NOT_AVAILABLE, NOT_AVAILABLE)
    return svc.config.mail


async def _secret(session: AsyncSession) -> visitors.FormSecret:
    return visitors.form_secret((await ensure_instance_actor(session)).private_key_pem)


async def _form_actor(session: AsyncSession, username: str) -> Actor:
    actor = await find_actor(session, username)
    if actor is None or not visitors.has_form(actor):
        raise VisitorError(VisitorReason.NO_FORM, "this actor takes no contact requests")
    return actor


@dataclass(frozen=True, slots=True)
class ContactForm:
    """What a form page needs: the actor, and a fresh form token (None without mail)."""

    actor: Actor
    form_token: str | None
    reason: str = ""


async def contact_form(svc: Services, username: str) -> ContactForm:
    """The actor's form with a token issued now; VisitorError NO_FORM for people and
    unknown names. Without mail the form carries the reason instead of a token."""
    async with svc.sessionmaker() as session:
        actor = await _form_actor(session, username)
        if svc.config.mail is None:
            return ContactForm(actor, None, NOT_AVAILABLE)
        secret = await _secret(session)
        await session.commit()
    return ContactForm(actor, visitors.issue_form_token(secret, actor.username, svc.clock()))


async def submit_contact(
    svc: Services,
    username: str,
    raw: VisitorInput,
    *,
    form_token: str,
    honeypot: str,
    client_ip: str,
) -> Actor:
    """Check, store and count a submission and mail its verification link; return the
    actor written to.

    A filled honeypot returns as if all went well, storing and sending nothing. Raises
    VisitorError: NOT_AVAILABLE, NO_FORM, the form token's and the input's reasons, the
    limits', MAIL_FAILED (then nothing remains).
    """
    mail = _mail(svc)
    now = svc.clock()
    async with svc.sessionmaker() as session:
        actor = await _form_actor(session, username)
        if honeypot.strip():
            log.info("contact form of %s: honeypot filled, nothing stored", actor.username)
            return actor
        secret = await _secret(session)
        visitors.check_form_token(secret, actor.username, form_token, now, svc.config.visitors)
        submission = visitors.parse_submission(raw)
        row, token = await visitors.submit(
            session,
            actor,
            submission,
            client_ip=client_ip,
            secret=secret,
            policy=svc.config.visitors,
            now=now,
        )
        await session.commit()
    name = actor.display_name or actor.username
    hours = f"{svc.config.visitors.verify_hours:g}"
    body = (
        f"Someone (we hope you) wrote to {name} through its contact form at "
        f"{svc.config.instance.domain}:\n\n{_quoted(submission.message)}\n\n"
        f"To send the message, open this link within {hours} hours and confirm:\n\n"
        f"{verify_url(svc.uris, token)}\n\n"
        "If this was not you, ignore this mail: the message and your address are then "
        "deleted unread.\n"
    )
    try:
        await send_mail(
            mail,
            OutgoingMail(
                to=submission.email,
                subject=f"Please confirm your message to {name}",
                body=body,
                auto=True,
            ),
        )
    except MailError as exc:
        async with svc.sessionmaker() as session:
            await visitors.withdraw(
                session,
                row.id,
                email=submission.email,
                client_ip=client_ip,
                secret=secret,
                now=now,
            )
            await session.commit()
        raise VisitorError(
            VisitorReason.MAIL_FAILED, "the confirmation mail could not be sent; try again later"
        ) from exc
    log.info("visitor request %d for %s awaits verification", row.id, actor.username)
    return actor


def _quoted(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines())


async def check_link(svc: Services, token: str) -> Actor:
    """The actor a verification link's request is for, without opening it: the link's
    page asks the visitor to confirm, because mail scanners open links too. VisitorError
    as `verify_contact`'s."""
    return await _open_link(svc, token, confirm=False)


async def verify_contact(svc: Services, token: str) -> Actor:
    """Open the request of a verification link; return its actor. VisitorError
    UNKNOWN_LINK or LINK_EXPIRED (an expired request is deleted)."""
    return await _open_link(svc, token, confirm=True)


async def _open_link(svc: Services, token: str, *, confirm: bool) -> Actor:
    async with svc.sessionmaker() as session:
        find = visitors.verify if confirm else visitors.find_link
        try:
            row = await find(session, token, now=svc.clock())
        except VisitorError as exc:
            if exc.reason is VisitorReason.LINK_EXPIRED:
                await session.commit()
            raise
        actor = await session.get(Actor, row.actor_id)
        await session.commit()
    assert actor is not None  # the row's foreign key cascades
    if confirm:
        log.info("visitor request %d for %s verified", row.id, actor.username)
    return actor


async def list_contacts(svc: Services, actor: Actor) -> list[VisitorContact]:
    async with svc.sessionmaker() as session:
        return await visitors.list_open(session, actor.id)


async def answer_contact(
    svc: Services, actor: Actor, contact_id: int, message: str
) -> VisitorContact:
    """Mail staff's answer to the visitor from the instance (From `mail.from`, Reply-To
    `mail.reply_to` if configured), then record it. VisitorError NOT_AVAILABLE,
    NOT_FOUND, INVALID, MAIL_FAILED (then nothing is recorded)."""
    mail = _mail(svc)
    answer = visitors.parse_answer(message)
    async with svc.sessionmaker() as session:
        row = await visitors.find_open(session, actor.id, contact_id)
    assert row.email is not None  # open requests keep their address
    name = actor.display_name or actor.username
    body = (
        f"{answer}\n\n-- \n{name}, {svc.uris.profile_page(actor.username)}\n"
        f"in answer to your message of {row.created_at:%Y-%m-%d}:\n\n{_quoted(row.message)}\n"
    )
    try:
        await send_mail(
            mail,
            OutgoingMail(
                to=row.email,
                subject=f"Re: your message to {name}",
                body=body,
                reply_to=mail.reply_to,
            ),
        )
    except MailError as exc:
        raise VisitorError(
            VisitorReason.MAIL_FAILED, "the answer could not be sent; try again later"
        ) from exc
    async with svc.sessionmaker() as session:
        row = await visitors.find_open(session, actor.id, contact_id)
        visitors.mark_answered(row, svc.clock())
        await session.commit()
    log.info("visitor request %d for %s answered", contact_id, actor.username)
    return row


async def close_contact(svc: Services, actor: Actor, contact_id: int) -> VisitorContact:
    """Close an open request and forget the visitor's address; VisitorError NOT_FOUND."""
    async with svc.sessionmaker() as session:
        row = await visitors.find_open(session, actor.id, contact_id)
        visitors.close(row, svc.clock())
        await session.commit()
    return row
