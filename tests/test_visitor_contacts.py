"""Visitors without an account contact an organisation by e-mail: real HTTP to the
instance, real SMTP on loopback (an aiosmtpd server), from the form to the answer."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select

from actors import visitors
from actors.local import ensure_instance_actor
from actors.models import ActorType, VisitorContact, VisitorContactCount, VisitorContactState
from server.config import MailConfig
from server.worker import purge_visitor_contacts_forever
from tests.conftest import Instance, StartInstance
from tests.server.test_api import Api, make_people
from tests.server.test_cli import free_port, run, write_config

VISITOR = "visitor@example.org"
LINK = re.compile(r"http://alpha\.test/contact/verify/[A-Za-z0-9_-]+")


# --- a real SMTP server on loopback --------------------------------------------------------


@dataclass
class Received:
    envelope_to: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        body = self.message.get_body()
        assert body is not None
        content = body.get_content()
        assert isinstance(content, str)
        return content

    @property
    def link(self) -> str:
        [link] = LINK.findall(self.text)
        return str(link)


@dataclass
class Inbox:
    """What the SMTP server received, in order (appended from its thread)."""

    port: int = 0  # set once the server listens
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def mails(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def config(self, **overrides: Any) -> MailConfig:
        fields: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "sender": "noreply@alpha.test",
            "starttls": False,
            "reply_to": "kontakt@alpha.test",
            "timeout": 10.0,
            **overrides,
        }
        return MailConfig(**fields)


class _Handler:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = message_from_bytes(content, _class=EmailMessage, policy=default_policy)
        with self.inbox.lock:
            self.inbox.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class _LoopbackController(Controller):
    """aiosmtpd's Controller on port 0: it learns the port the system chose before its
    readiness check connects to it."""

    def _trigger_server(self) -> None:
        server = self.server
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]  # aiosmtpd is unannotated


@pytest.fixture
def smtp() -> Iterator[Inbox]:
    inbox = Inbox()
    controller = _LoopbackController(_Handler(inbox), hostname="127.0.0.1", port=0)
    controller.start()
    inbox.port = int(controller.port)
    yield inbox
    controller.stop()


# --- the instance --------------------------------------------------------------------------


class WallClock:
    """The instance's wall clock, moved by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Site:
    alpha: Instance
    api: Api
    smtp: Inbox
    clock: WallClock
    tokens: dict[str, str]


async def make_site(
    start_instance: StartInstance,
    client: aiohttp.ClientSession,
    smtp: Inbox,
    *,
    mail: bool = True,
    mail_port: int | None = None,
    **visitor_policy: Any,
) -> Site:
    clock = WallClock()
    alpha = await start_instance(
        "alpha",
        mail=smtp.config(port=mail_port or smtp.port) if mail else None,
        visitors={"min_form_seconds": 0, **visitor_policy},
        clock=clock,
        limits={"client_address_header": "X-Forwarded-For"},
    )
    await alpha.add_actor("kv", display_name="Kreisverband")
    await alpha.add_actor("ov", display_name="Ortsverein", type_=ActorType.GROUP)
    await alpha.add_actor("erika", ActorType.PERSON)
    tokens = await make_people(alpha)
    return Site(alpha, Api(client, alpha), smtp, clock, tokens)


@pytest.fixture
async def site(start_instance: StartInstance, client: aiohttp.ClientSession, smtp: Inbox) -> Site:
    return await make_site(start_instance, client, smtp)


async def form_token(site: Site, username: str = "kv") -> str:
    reply = await site.api.call("GET", f"/api/verbund/v1/actors/{username}/contact")
    assert reply.status == 200, reply.body
    token = reply.json["form_token"]
    assert isinstance(token, str)
    return token


async def submit(
    site: Site, username: str = "kv", *, ip: str = "192.0.2.1", **fields: Any
) -> tuple[int, dict[str, Any]]:
    body = {"message": "Hello, can we meet?", "email": VISITOR, **fields}
    if "form_token" not in body:
        body["form_token"] = await form_token(site, username)
    reply = await site.api.call(
        "POST",
        f"/api/verbund/v1/actors/{username}/contact",
        headers={"X-Forwarded-For": ip},
        json=body,
    )
    assert isinstance(reply.body, dict), reply.body
    return reply.status, reply.body


async def rows(site: Site) -> list[VisitorContact]:
    async with site.alpha.sessionmaker() as session:
        return list(await session.scalars(select(VisitorContact).order_by(VisitorContact.id)))


async def html(client: aiohttp.ClientSession, url: str, **kw: Any) -> tuple[int, str]:
    method = "POST" if "data" in kw else "GET"
    async with client.request(method, url, headers={"Accept": "text/html"}, **kw) as resp:
        return resp.status, await resp.text()


def hidden_token(page: str) -> str:
    match = re.search(r'name="form_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


# --- the whole way -------------------------------------------------------------------------


async def test_visitor_request_travels_by_smtp_to_staff_and_the_answer_back(
    site: Site, client: aiohttp.ClientSession
) -> None:
    base = site.alpha.base_url
    _, profile = await html(client, f"{base}/@kv")
    assert f'href="{base}/@kv/contact"' in profile
    _, person = await html(client, f"{base}/@erika")
    assert "/contact" not in person
    assert (await html(client, f"{base}/@erika/contact"))[0] == 404

    status, page = await html(client, f"{base}/@kv/contact")
    assert status == 200 and 'name="website"' in page
    status, sent = await html(
        client,
        f"{base}/@kv/contact",
        data={
            "form_token": hidden_token(page),
            "message": "We would like to join\nthe climate group.",
            "email": VISITOR,
            "name": "Eva Muster",
            "region": "de-be",
            "interests": "Klima, Verkehrswende",
            "website": "",
        },
    )
    assert status == 200 and "check your e-mail" in sent

    [verification] = site.smtp.mails()
    assert verification.envelope_to == [VISITOR]
    assert verification.message["To"] == VISITOR
    assert verification.message["From"] == "noreply@alpha.test"
    assert verification.message["Auto-Submitted"] == "auto-generated"
    assert "> We would like to join" in verification.text
    link = verification.link

    # Not verified yet: staff see nothing.
    listed = await site.api.call("GET", "/api/verbund/v1/visitor_contacts", site.tokens["ben"])
    assert listed.status == 200 and listed.body == []
    [row] = await rows(site)
    assert row.state is VisitorContactState.UNVERIFIED
    assert row.token_hash is not None and link.rsplit("/", 1)[1] not in row.token_hash

    # Opening the link (as a mail scanner would) only asks to confirm.
    status, confirm = await html(client, link)
    assert status == 200 and "Confirm your message" in confirm
    assert f'action="{link}"' in confirm and 'method="post"' in confirm
    [row] = await rows(site)
    assert row.state is VisitorContactState.UNVERIFIED
    status, thanks = await html(client, link, data={})
    assert status == 200 and "passed on to Kreisverband" in thanks
    assert (await html(client, link, data={}))[0] == 404  # used once
    assert (await html(client, link))[0] == 404

    # Every role sees it (ben is an editor).
    listed = await site.api.call("GET", "/api/verbund/v1/visitor_contacts", site.tokens["ben"])
    assert listed.status == 200 and isinstance(listed.body, list)
    [shown] = listed.body
    assert shown["email"] == VISITOR and shown["name"] == "Eva Muster"
    assert shown["message"] == "We would like to join\nthe climate group."
    assert shown["region"] == {"code": "DE-BE", "name": "Berlin"}
    assert shown["interests"] == ["Klima", "Verkehrswende"]
    # Another organisation's staff see none of it.
    other = await site.api.call("GET", "/api/verbund/v1/visitor_contacts", site.tokens["otto"])
    assert other.body == []

    path = f"/api/verbund/v1/visitor_contacts/{shown['id']}"
    refused = await site.api.call(
        "POST", path + "/answer", site.tokens["ben"], json={"message": "Hi"}
    )
    assert refused.status == 403
    assert len(site.smtp.mails()) == 1
    foreign = await site.api.call(
        "POST", path + "/answer", site.tokens["otto"], json={"message": "Hi"}
    )
    assert foreign.status in (403, 404)

    answered = await site.api.call(
        "POST",
        path + "/answer",
        site.tokens["mia"],  # a moderator
        json={"message": "Welcome! We meet on Tuesdays."},
    )
    assert answered.status == 200, answered.body
    assert answered.json["answered_at"] is not None
    answer = site.smtp.mails()[-1]
    assert answer.envelope_to == [VISITOR]
    assert answer.message["To"] == VISITOR
    assert answer.message["From"] == "noreply@alpha.test"
    assert answer.message["Reply-To"] == "kontakt@alpha.test"
    assert "Auto-Submitted" not in answer.message
    assert "Welcome! We meet on Tuesdays." in answer.text

    closed = await site.api.call("POST", path + "/close", site.tokens["anna"])
    assert closed.status == 200 and closed.json["email"] is None
    assert closed.json["state"] == "closed"
    [row] = await rows(site)
    assert row.email is None and row.name == ""
    listed = await site.api.call("GET", "/api/verbund/v1/visitor_contacts", site.tokens["ben"])
    assert listed.body == []
    again = await site.api.call("POST", path + "/close", site.tokens["anna"])
    assert again.status == 404 and again.json["reason"] == "not_found"


async def test_operator_lists_answers_and_closes_with_the_cli(site: Site, tmp_path: Path) -> None:
    assert (await submit(site, name="Eva"))[0] == 202
    link = site.smtp.mails()[0].link
    async with aiohttp.ClientSession() as plain:
        url = link.replace("http://alpha.test", f"http://127.0.0.1:{site.alpha.port}")
        async with plain.post(url, headers={"Host": "alpha.test"}) as resp:
            assert resp.status == 200
    [row] = await rows(site)
    config = tmp_path / "verbund.toml"
    write_config(config, site.alpha.config.database)
    with config.open("a", encoding="utf-8") as f:
        f.write(
            f'[mail]\nhost = "127.0.0.1"\nport = {site.smtp.port}\nstarttls = false\n'
            'from = "noreply@alpha.test"\n'
        )
    listed = await asyncio.to_thread(run, "visitors", "list", "kv", "--config", str(config))
    assert listed.returncode == 0, listed.stderr
    assert f"Eva <{VISITOR}>" in listed.stdout and "| Hello, can we meet?" in listed.stdout
    answered = await asyncio.to_thread(
        run, "visitors", "answer", "kv", str(row.id), "--message", "Yes!", "--config", str(config)
    )
    assert answered.returncode == 0, answered.stderr
    assert site.smtp.mails()[-1].message["To"] == VISITOR
    assert site.smtp.mails()[-1].message["Reply-To"] is None  # none configured
    closed = await asyncio.to_thread(
        run, "visitors", "close", "kv", str(row.id), "--config", str(config)
    )
    assert closed.returncode == 0, closed.stderr
    gone = await asyncio.to_thread(
        run, "visitors", "close", "kv", str(row.id), "--config", str(config)
    )
    assert gone.returncode == 1 and gone.stderr.startswith("error: no open visitor request")


# --- refusals ------------------------------------------------------------------------------


async def test_without_mail_the_form_says_contact_is_not_available(
    start_instance: StartInstance, client: aiohttp.ClientSession, smtp: Inbox
) -> None:
    site = await make_site(start_instance, client, smtp, mail=False)
    status, page = await html(client, f"{site.alpha.base_url}/@kv/contact")
    assert status == 200 and "not available" in page and "<form" not in page
    reply = await site.api.call("GET", "/api/verbund/v1/actors/kv/contact")
    assert reply.status == 503 and reply.json["reason"] == "not_available"
    status, body = await submit(site, form_token="1.x")
    assert status == 503 and body["reason"] == "not_available"
    assert "not available" in body["error"]
    person = await site.api.call("GET", "/api/verbund/v1/actors/erika/contact")
    assert person.status == 404 and person.json["reason"] == "no_form"
    assert await rows(site) == [] and smtp.mails() == []


async def test_a_filled_honeypot_is_accepted_silently_and_nothing_happens(
    site: Site, client: aiohttp.ClientSession
) -> None:
    status, body = await submit(site, website="http://spam.example")
    assert status == 202 and body == {"state": "verification_sent"}
    base = site.alpha.base_url
    _, page = await html(client, f"{base}/@kv/contact")
    status, sent = await html(
        client,
        f"{base}/@kv/contact",
        data={"form_token": hidden_token(page), "message": "x", "email": VISITOR, "website": "y"},
    )
    assert status == 200 and "check your e-mail" in sent
    assert await rows(site) == [] and site.smtp.mails() == []
    async with site.alpha.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(VisitorContactCount)) == 0


async def test_form_tokens_too_fast_too_old_forged_or_for_another_actor_are_refused(
    start_instance: StartInstance, client: aiohttp.ClientSession, smtp: Inbox
) -> None:
    site = await make_site(start_instance, client, smtp, min_form_seconds=3)
    token = await form_token(site)
    status, body = await submit(site, form_token=token)
    assert status == 400 and body["reason"] == "too_fast"
    # The HTML form says so too, and keeps what was typed.
    status, page = await html(
        client,
        f"{site.alpha.base_url}/@kv/contact",
        data={"form_token": token, "message": "Hello there", "email": VISITOR},
    )
    assert status == 400 and "too quickly" in page and "Hello there" in page
    site.clock.advance(seconds=3)
    assert (await submit(site, form_token=token))[0] == 202
    assert len(await rows(site)) == 1 and len(site.smtp.mails()) == 1

    ov_token = await form_token(site, "ov")
    site.clock.advance(seconds=5)
    status, body = await submit(site, form_token=ov_token)
    assert status == 400 and body["reason"] == "bad_form_token"
    for forged in ("", "abc", ov_token.split(".")[0] + ".00", "9" * 40 + ".x"):
        status, body = await submit(site, form_token=forged)
        assert status == 400 and body["reason"] == "bad_form_token", forged
    async with site.alpha.sessionmaker() as session:
        secret = visitors.form_secret((await ensure_instance_actor(session)).private_key_pem)
    old = visitors.issue_form_token(secret, "kv", site.clock.now - timedelta(days=1, seconds=1))
    status, body = await submit(site, form_token=old)
    assert status == 400 and body["reason"] == "form_expired"
    assert len(await rows(site)) == 1 and len(site.smtp.mails()) == 1


async def test_limits_per_address_and_per_ip_are_counted_in_the_database(
    start_instance: StartInstance, client: aiohttp.ClientSession, smtp: Inbox
) -> None:
    site = await make_site(start_instance, client, smtp, per_address_per_day=2, per_ip_per_day=3)
    assert (await submit(site, ip="192.0.2.1"))[0] == 202
    assert (await submit(site, ip="192.0.2.2", email=VISITOR.upper()))[0] == 202
    status, body = await submit(site, ip="192.0.2.3")
    assert status == 429 and body["reason"] == "address_limit"
    assert (await submit(site, ip="192.0.2.9", email="a@example.org"))[0] == 202
    assert (await submit(site, ip="192.0.2.9", email="b@example.org"))[0] == 202
    assert (await submit(site, ip="192.0.2.9", email="c@example.org"))[0] == 202
    status, body = await submit(site, ip="192.0.2.9", email="d@example.org")
    assert status == 429 and body["reason"] == "ip_limit"
    assert len(await rows(site)) == 5 and len(site.smtp.mails()) == 5
    async with site.alpha.sessionmaker() as session:
        counts = list(await session.scalars(select(VisitorContactCount)))
    # Refused attempts count nothing; no address or IP is stored in the clear.
    assert sorted(c.count for c in counts if c.scope == "address") == [1, 1, 1, 2]
    assert sorted(c.count for c in counts if c.scope == "ip") == [1, 1, 3]
    assert all(re.fullmatch("[0-9a-f]{64}", c.key_hash) for c in counts)
    # Another day, another count.
    site.clock.advance(days=1)
    assert (await submit(site, ip="192.0.2.1"))[0] == 202


async def test_expired_links_and_old_requests_are_deleted(
    site: Site, client: aiohttp.ClientSession
) -> None:
    assert (await submit(site))[0] == 202
    link = site.smtp.mails()[0].link
    site.clock.advance(hours=48, seconds=1)
    status, page = await html(client, link, data={})
    assert status == 410 and "expired" in page
    assert await rows(site) == []
    assert (await html(client, f"{site.alpha.base_url}/contact/verify/nonsense"))[0] == 404

    # The worker's purge: an unverified request after verify_hours, any after keep_seconds.
    assert (await submit(site, email="late@example.org"))[0] == 202
    assert (await submit(site, email="kept@example.org"))[0] == 202
    kept_link = site.smtp.mails()[-1].link
    assert (await html(client, kept_link, data={}))[0] == 200
    site.clock.advance(hours=49)
    await purge_once(site)
    assert [r.email for r in await rows(site)] == ["kept@example.org"]
    site.clock.advance(days=30)
    await purge_once(site)
    assert await rows(site) == []


async def purge_once(site: Site) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(
        purge_visitor_contacts_forever(
            site.alpha.sessionmaker, site.clock, stop, policy=site.alpha.config.visitors
        )
    )
    await asyncio.sleep(0.2)
    stop.set()
    await task


async def test_hostile_input_is_refused_and_leaves_nothing(
    site: Site, client: aiohttp.ClientSession
) -> None:
    hostile: list[tuple[dict[str, Any], str]] = [
        ({"name": "Eve\r\nBcc: victim@example.net"}, "name"),
        ({"email": "eve@example.org\r\nBcc: victim@example.net"}, "e-mail"),
        ({"email": "eve@example.org\nSubject: hi"}, "e-mail"),
        ({"email": "eve@example.org, victim@example.net"}, "e-mail"),
        ({"email": "Eve <eve@example.org>"}, "e-mail"),
        ({"email": "eve@localhost"}, "e-mail"),
        ({"message": "x" * 501}, "longer than 500"),
        ({"message": "   "}, "message"),
        ({"message": "bell\x07"}, "control"),
        ({"region": "ZZ"}, "region"),
        ({"region": "DE-XX"}, "region"),
        ({"interests": ["<script>"]}, "interest"),
    ]
    for fields, word in hostile:
        status, body = await submit(site, **fields)
        assert status == 422 and body["reason"] == "invalid", fields
        assert word in body["error"], (fields, body)
    async with client.post(
        f"{site.alpha.base_url}/@kv/contact",
        data={"message": "x" * 100_000, "email": VISITOR, "form_token": "1.x"},
        headers={"Accept": "text/html"},
    ) as resp:
        assert resp.status == 413
    assert await rows(site) == [] and site.smtp.mails() == []
    async with site.alpha.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(VisitorContactCount)) == 0

    # What is fine passes, and the HTML of the staff's listing is the API's JSON: no markup
    # from visitors ever reaches a page.
    status, _ = await submit(site, name="<b>Eve</b>", message="<script>alert(1)</script>")
    assert status == 202
    [mail] = site.smtp.mails()
    assert mail.message["To"] == VISITOR and mail.message["Bcc"] is None


async def test_a_mail_server_that_is_down_leaves_nothing(
    start_instance: StartInstance, client: aiohttp.ClientSession, smtp: Inbox
) -> None:
    site = await make_site(start_instance, client, smtp, mail_port=free_port())
    token = await form_token(site)
    status, body = await submit(site, form_token=token)
    assert status == 503 and body["reason"] == "mail_failed"
    assert await rows(site) == []
    async with site.alpha.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(VisitorContactCount)) == 0
    assert smtp.mails() == []
