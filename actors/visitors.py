"""Contact requests from visitors without an account: an organisation's or group's
contact form, answered by e-mail (issue 14).

Invariants:

- A submission is checked whole before anything is stored: the form token (an HMAC of
  the form's issue time and the actor, keyed by `form_secret`), the input, then the
  per-address and per-IP counts of the day. Every refusal is a `VisitorError` with a
  `VisitorReason`; the caller rolls back, so no row and no count remains.
- Only the sha256 of the verification token is stored, and only until it is used or
  expires. A request reaches staff (`list_open`) only once verified.
- Addresses live as long as the request is open: `close` forgets them, `purge` deletes
  unverified requests after `verify_hours` and every request after `keep_seconds`.
- Counts are rows of `visitor_contact_counts`, incremented with one upsert that returns
  the new count, so several processes share one limit. Keys are HMACs of the address or
  IP under the form secret: a dump shows neither.

Knows nothing of HTTP or SMTP; the callers send the mails and commit. Must not import
`outbox`, `inbox` or `server`.
"""

from __future__ import annotations

import enum
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from actors.accounts import hash_secret
from actors.base import dialect_name
from actors.models import (
    Actor,
    ActorType,
    VisitorContact,
    VisitorContactCount,
    VisitorContactState,
)
from actors.profile import InvalidProfileError, parse_interests
from actors.regions import InvalidRegionError, parse_region_code

__all__ = [
    "FORM_ACTOR_TYPES",
    "MAX_ANSWER",
    "MAX_EMAIL",
    "MAX_MESSAGE",
    "MAX_NAME",
    "FormSecret",
    "VisitorError",
    "VisitorInput",
    "VisitorPolicy",
    "VisitorReason",
    "VisitorSubmission",
    "check_form_token",
    "close",
    "find_open",
    "form_secret",
    "has_form",
    "issue_form_token",
    "list_open",
    "mark_answered",
    "parse_answer",
    "parse_email",
    "parse_submission",
    "purge",
    "submit",
    "verify",
    "withdraw",
]

MAX_MESSAGE = 500  # the issue's limit for a contact message, in characters
MAX_NAME = 100
MAX_ANSWER = 5000  # a staff answer, in characters (instance.max_post_chars' default)
MAX_EMAIL = 254  # RFC 5321's longest forward path, less the angle brackets
FORM_MAX_AGE = timedelta(days=1)  # a form older than this is refused: reload the page
FORM_ACTOR_TYPES = frozenset({ActorType.ORGANIZATION, ActorType.GROUP})
COUNT_KEEP_DAYS = 2  # counts of yesterday still matter at midnight; older ones go

# A pragmatic address shape: one `@`, no spaces, quotes, angle brackets or control
# characters anywhere (so nothing can break out of a header), a dotted domain.
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_ISSUED = re.compile(r"[0-9]{1,12}")  # ASCII digits only (str.isdigit takes "²")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")


class VisitorReason(enum.StrEnum):
    """Why a visitor's submission or link was refused; the API maps each to a status."""

    NO_FORM = "no_form"  # no such actor, or one without a form (people)
    INVALID = "invalid"  # a field that cannot be accepted (the message says which)
    BAD_FORM_TOKEN = "bad_form_token"  # missing, forged, or for another actor
    TOO_FAST = "too_fast"  # sent sooner than min_form_seconds after the form was issued
    FORM_EXPIRED = "form_expired"  # the form is older than a day
    ADDRESS_LIMIT = "address_limit"  # per_address_per_day reached
    IP_LIMIT = "ip_limit"  # per_ip_per_day reached
    UNKNOWN_LINK = "unknown_link"  # no such verification link, or already used
    LINK_EXPIRED = "link_expired"  # a verification link older than verify_hours
    NOT_FOUND = "not_found"  # no open request with that id for the actor
    NOT_AVAILABLE = "not_available"  # the instance has no mail server configured
    MAIL_FAILED = "mail_failed"  # the mail server did not take the message


class VisitorError(Exception):
    """A refusal: `reason` for programs, the message for people."""

    def __init__(self, reason: VisitorReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class VisitorPolicy:
    """The `[visitors]` config section: limits of the form and how long what is kept."""

    per_address_per_day: int = 3
    per_ip_per_day: int = 10
    min_form_seconds: float = 3
    keep_seconds: float = 30 * 86_400
    verify_hours: float = 48


# --- the form token ------------------------------------------------------------------------

FormSecret = bytes


def form_secret(instance_private_key_pem: str) -> FormSecret:
    """The key of form tokens and count hashes, derived from the instance actor's private
    key: stable across processes and restarts, never stored or sent."""
    return hmac.new(
        instance_private_key_pem.encode("utf-8"), b"verbund visitor contact form v1", "sha256"
    ).digest()


def _form_mac(secret: FormSecret, username: str, issued: int) -> str:
    text = f"{username.lower()}|{issued}".encode()
    return hmac.new(secret, text, "sha256").hexdigest()[:32]


def issue_form_token(secret: FormSecret, username: str, now: datetime) -> str:
    """`ISSUED.MAC`: the form's issue time (Unix seconds) and an HMAC binding it to the
    actor, so a token cannot be forged, aged, or reused on another actor's form."""
    issued = int(now.timestamp())
    return f"{issued}.{_form_mac(secret, username, issued)}"


def check_form_token(
    secret: FormSecret, username: str, token: str, now: datetime, policy: VisitorPolicy
) -> None:
    """Raise VisitorError (BAD_FORM_TOKEN, TOO_FAST, FORM_EXPIRED) unless `token` was
    issued for `username`'s form between a day and `min_form_seconds` ago."""
    issued_text, _, mac = token.strip().partition(".")
    if not _ISSUED.fullmatch(issued_text):
        raise VisitorError(VisitorReason.BAD_FORM_TOKEN, "the form token is missing or malformed")
    issued = int(issued_text)
    if not hmac.compare_digest(mac, _form_mac(secret, username, issued)):
        raise VisitorError(VisitorReason.BAD_FORM_TOKEN, "the form token is not valid here")
    age = now.timestamp() - issued
    if age < policy.min_form_seconds:
        raise VisitorError(
            VisitorReason.TOO_FAST, "the form was sent too quickly; please wait a moment"
        )
    if age > FORM_MAX_AGE.total_seconds():
        raise VisitorError(
            VisitorReason.FORM_EXPIRED, "the form is too old; please reload the page"
        )


# --- input ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VisitorInput:
    """What the form or the JSON API sent, unchecked. `interests` may be one string of
    names separated by commas or spaces (the HTML form) or a list (JSON)."""

    message: str
    email: str
    name: str = ""
    region: str = ""
    interests: str | Sequence[str] = ""


@dataclass(frozen=True, slots=True)
class VisitorSubmission:
    """A checked submission: `email` is safe in a header, `name` has no control
    characters, `region_code` is ISO, `interests` are hashtag names."""

    message: str
    email: str
    name: str
    region_code: str | None
    interests: tuple[str, ...]


def _invalid(message: str) -> VisitorError:
    return VisitorError(VisitorReason.INVALID, message)


def parse_email(value: str) -> str:
    """A plain address (`someone@example.org`), or VisitorError INVALID: nothing that
    could add a header or a second recipient (CR, LF, commas, angle brackets) passes."""
    email = value.strip()
    if not email:
        raise _invalid("an e-mail address is required")
    if len(email) > MAX_EMAIL or not _EMAIL.fullmatch(email) or ".." in email:
        raise _invalid("the e-mail address is not valid")
    return email


def parse_submission(raw: VisitorInput) -> VisitorSubmission:
    """Check every field; raise VisitorError INVALID naming the first bad one."""
    message = raw.message.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not message:
        raise _invalid("a message is required")
    if len(message) > MAX_MESSAGE:
        raise _invalid(f"the message is longer than {MAX_MESSAGE} characters")
    if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", message):
        raise _invalid("the message contains control characters")
    email = parse_email(raw.email)
    name = raw.name.strip()
    if _CONTROL.search(name):
        raise _invalid("the name must be one line of text")
    if len(name) > MAX_NAME:
        raise _invalid(f"the name is longer than {MAX_NAME} characters")
    region_code = None
    if raw.region.strip():
        try:
            region_code = parse_region_code(raw.region)
        except InvalidRegionError as exc:
            raise _invalid(f"region: {exc}") from None
    names = re.split(r"[\s,]+", raw.interests) if isinstance(raw.interests, str) else raw.interests
    try:
        interests = parse_interests(list(names))
    except InvalidProfileError as exc:
        raise _invalid(str(exc)) from None
    return VisitorSubmission(message, email, name, region_code, tuple(interests))


def parse_answer(text: str) -> str:
    """A staff answer: not empty, at most MAX_ANSWER characters, no control characters
    but line breaks and tabs; VisitorError INVALID otherwise."""
    answer = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not answer:
        raise _invalid("the answer is empty")
    if len(answer) > MAX_ANSWER:
        raise _invalid(f"the answer is longer than {MAX_ANSWER} characters")
    if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", answer):
        raise _invalid("the answer contains control characters")
    return answer


# --- storing and deciding ------------------------------------------------------------------


def has_form(actor: Actor) -> bool:
    """Organisations and groups take visitors' requests; people and the instance do not."""
    return actor.type in FORM_ACTOR_TYPES and not actor.is_instance


def _key_hash(secret: FormSecret, scope: str, value: str) -> str:
    return hmac.new(secret, f"{scope}|{value.lower()}".encode(), "sha256").hexdigest()


async def _count(
    session: AsyncSession, secret: FormSecret, scope: str, value: str, day: str, delta: int
) -> int:
    """Add `delta` to today's count of `value` and return the new count (one statement)."""
    values = {"scope": scope, "key_hash": _key_hash(secret, scope, value), "day": day}
    insert = postgresql.insert if dialect_name(session) == "postgresql" else sqlite.insert
    table = VisitorContactCount.__table__
    stmt = (
        insert(table)  # type: ignore[arg-type]  # a Table is a valid insert target
        .values(**values, count=max(delta, 0))
        .on_conflict_do_update(
            index_elements=["scope", "key_hash", "day"],
            set_={"count": table.c.count + delta},
        )
        .returning(table.c.count)
    )
    count: int = (await session.execute(stmt)).scalar_one()
    return count


def _day(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%d")


async def submit(
    session: AsyncSession,
    actor: Actor,
    submission: VisitorSubmission,
    *,
    client_ip: str,
    secret: FormSecret,
    policy: VisitorPolicy,
    now: datetime,
) -> tuple[VisitorContact, str]:
    """Count the submission and store it unverified; return the row and the verification
    token to mail (its hash is all that is kept). Raises VisitorError NO_FORM,
    ADDRESS_LIMIT or IP_LIMIT; the caller then rolls back, so the counts stay as they were."""
    if not has_form(actor):
        raise VisitorError(VisitorReason.NO_FORM, "this actor takes no contact requests")
    day = _day(now)
    if await _count(session, secret, "address", submission.email, day, 1) > (
        policy.per_address_per_day
    ):
        raise VisitorError(
            VisitorReason.ADDRESS_LIMIT,
            "too many contact requests from this address today; please try again tomorrow",
        )
    if await _count(session, secret, "ip", client_ip, day, 1) > policy.per_ip_per_day:
        raise VisitorError(
            VisitorReason.IP_LIMIT,
            "too many contact requests from this network today; please try again tomorrow",
        )
    token = secrets.token_urlsafe(32)
    row = VisitorContact(
        actor_id=actor.id,
        state=VisitorContactState.UNVERIFIED,
        email=submission.email,
        name=submission.name,
        message=submission.message,
        region_code=submission.region_code,
        interests=list(submission.interests),
        token_hash=hash_secret(token),
        verify_expires_at=now + timedelta(hours=policy.verify_hours),
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row, token


async def withdraw(
    session: AsyncSession,
    contact_id: int,
    *,
    email: str,
    client_ip: str,
    secret: FormSecret,
    now: datetime,
) -> None:
    """Undo a committed `submit` whose verification mail could not be sent: the row goes
    and the day's counts drop back, so a failed attempt leaves nothing."""
    await session.execute(delete(VisitorContact).where(VisitorContact.id == contact_id))
    day = _day(now)
    await _count(session, secret, "address", email, day, -1)
    await _count(session, secret, "ip", client_ip, day, -1)
    await session.execute(delete(VisitorContactCount).where(VisitorContactCount.count <= 0))


async def find_link(session: AsyncSession, token: str, *, now: datetime) -> VisitorContact:
    """The unverified request whose link carries `token`, unchanged; raise VisitorError
    UNKNOWN_LINK, or LINK_EXPIRED (the request is then deleted, the caller commits)."""
    row = await session.scalar(
        select(VisitorContact).where(
            VisitorContact.token_hash == hash_secret(token),
            VisitorContact.state == VisitorContactState.UNVERIFIED,
        )
    )
    if row is None:
        raise VisitorError(VisitorReason.UNKNOWN_LINK, "this link is unknown or already used")
    if row.verify_expires_at is None or row.verify_expires_at <= now:
        await session.delete(row)
        raise VisitorError(
            VisitorReason.LINK_EXPIRED, "this link has expired; please send the form again"
        )
    return row


async def verify(session: AsyncSession, token: str, *, now: datetime) -> VisitorContact:
    """Open the request whose link carries `token` (errors as `find_link`'s)."""
    row = await find_link(session, token, now=now)
    row.state = VisitorContactState.OPEN
    row.verified_at = now
    row.token_hash = None
    row.verify_expires_at = None
    return row


async def list_open(session: AsyncSession, actor_id: int) -> list[VisitorContact]:
    """The actor's verified, not yet closed requests, oldest first."""
    rows = await session.scalars(
        select(VisitorContact)
        .where(
            VisitorContact.actor_id == actor_id,
            VisitorContact.state == VisitorContactState.OPEN,
        )
        .order_by(VisitorContact.id)
    )
    return list(rows)


async def find_open(session: AsyncSession, actor_id: int, contact_id: int) -> VisitorContact:
    """One open request of the actor, or VisitorError NOT_FOUND (also for another actor's)."""
    row = await session.get(VisitorContact, contact_id)
    if row is None or row.actor_id != actor_id or row.state != VisitorContactState.OPEN:
        raise VisitorError(VisitorReason.NOT_FOUND, f"no open visitor request {contact_id}")
    return row


def mark_answered(row: VisitorContact, now: datetime) -> None:
    row.answered_at = now


def close(row: VisitorContact, now: datetime) -> None:
    """Close the request and forget who sent it (address and name)."""
    row.state = VisitorContactState.CLOSED
    row.closed_at = now
    row.email = None
    row.name = ""


async def purge(session: AsyncSession, *, now: datetime, policy: VisitorPolicy) -> int:
    """Delete unverified requests whose link expired, every request older than
    `keep_seconds`, and counts of past days; return how many requests went."""
    kept_since = now - timedelta(seconds=policy.keep_seconds)
    result = await session.execute(
        delete(VisitorContact).where(
            or_(
                (VisitorContact.state == VisitorContactState.UNVERIFIED)
                & (VisitorContact.verify_expires_at <= now),
                VisitorContact.created_at <= kept_since,
            )
        )
    )
    oldest_day = _day(now - timedelta(days=COUNT_KEEP_DAYS))
    await session.execute(delete(VisitorContactCount).where(VisitorContactCount.day < oldest_day))
    removed: int = getattr(result, "rowcount", 0) or 0
    return removed
