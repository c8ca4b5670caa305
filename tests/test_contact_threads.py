"""Replies before deciding (issue 14): the direct messages between the two sides of a
pending contact request form its thread, named and anonymous, between alpha, beta and
gamma.test:8443 over real HTTP, and with a Mastodon-shaped recipient."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from actors.local import get_actor
from actors.models import ContactBox, ContactMessage, Follow, RoleName
from outbox.models import Status
from server import actions, contact_actions
from tests.conftest import Instance, StartInstance
from tests.fakes import FakeRemote
from tests.helpers import run_cli, settle
from tests.server.test_api import Api
from tests.test_anonymous_contacts import Net, alias_of_erika, make_net, send_anonymously
from tests.test_contact_requests import BASE, staff_token, write_config
from tests.test_contact_requests import mastodon as mastodon_peer

mastodon = mastodon_peer  # the Mastodon-shaped fake peer's fixture, shared


@pytest.fixture
async def net(start_instance: StartInstance) -> Net:
    return await make_net(start_instance, message_limit=60)


def thread(body: object) -> list[tuple[str, str]]:
    assert isinstance(body, dict)
    messages = body["messages"]
    assert isinstance(messages, list)
    return [(m["direction"], m["text"]) for m in messages]


async def statuses_of(inst: Instance, actor_uri: str) -> list[str]:
    async with inst.sessionmaker() as session:
        found = await session.scalars(select(Status.content).where(Status.actor_uri == actor_uri))
        return [c or "" for c in found]


async def test_named_request_thread_on_both_sides_and_no_reply_once_decided(
    net: Net, client: aiohttp.ClientSession, tmp_path: Path
) -> None:
    alpha, beta = net.alpha, net.beta
    sent = await Api(client, beta).call(
        "POST", BASE, net.erika, json={"to": "kv@alpha.test", "message": "Hallo KV"}
    )
    assert sent.status == 200, sent.body
    assert isinstance(sent.body, dict) and sent.body["messages"] == []
    await settle(alpha, beta)
    [received] = await actions.list_contacts(alpha.services, "kv", box=ContactBox.RECEIVED)
    rid = received.request.id
    answered = await Api(client, alpha).call(
        "POST", f"{BASE}/{rid}/reply", net.moderator, json={"message": "Worum geht es?"}
    )
    assert answered.status == 200, answered.body
    assert thread(answered.body) == [("out", "Worum geht es?")]
    await settle(alpha, beta)
    # Erika answers from the CLI; her request's thread holds both messages.
    config = str(write_config(tmp_path / "beta.toml", beta))
    sid = str(sent.body["id"])
    done = await asyncio.to_thread(
        run_cli, "contact", "reply", "erika", sid, "--message", "Ums Radfahren.", "--config", config
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("replied to kv@alpha.test")
    await settle(alpha, beta)
    mine = await Api(client, beta).call("GET", f"{BASE}/{sid}", net.erika)
    assert mine.status == 200
    assert thread(mine.body) == [("in", "Worum geht es?"), ("out", "Ums Radfahren.")]
    theirs = await Api(client, alpha).call("GET", f"{BASE}/{rid}", net.moderator)
    assert thread(theirs.body) == [("out", "Worum geht es?"), ("in", "Ums Radfahren.")]
    listed = await Api(client, alpha).call("GET", BASE, net.moderator)
    assert isinstance(listed.body, list) and thread(listed.body[0]) == thread(theirs.body)
    # Between named actors each message is also an ordinary direct message.
    assert any("Ums Radfahren." in c for c in await statuses_of(alpha, beta.actor_uri("erika")))
    shown = await asyncio.to_thread(run_cli, "contact", "show", "erika", sid, "--config", config)
    assert shown.returncode == 0 and "<- " in shown.stdout and "Worum geht es?" in shown.stdout

    # Too long: refused with the limit; someone else's request: 404.
    long = await Api(client, beta).call(
        "POST", f"{BASE}/{sid}/reply", net.erika, json={"message": "x" * 61}
    )
    assert long.status == 422 and isinstance(long.body, dict)
    assert long.body["error_description"] == "too_long"
    stranger = await staff_token(beta, "sven", "erika", RoleName.EDITOR)
    assert (await Api(client, beta).call("GET", f"{BASE}/{int(sid) + 99}", stranger)).status == 404

    # Decided: replies are refused with 409 on both sides.
    await actions.decide_contact(alpha.services, "kv", str(rid), accept=False)
    await settle(alpha, beta)
    late = await Api(client, alpha).call(
        "POST", f"{BASE}/{rid}/reply", net.moderator, json={"message": "Doch noch?"}
    )
    assert late.status == 409 and isinstance(late.body, dict)
    assert "declined" in str(late.body["error"])
    again = await asyncio.to_thread(
        run_cli, "contact", "reply", "erika", sid, "--message", "Schade", "--config", config
    )
    assert again.returncode == 1 and again.stderr.startswith("error: ")
    assert "declined" in again.stderr


async def test_anonymous_thread_goes_through_the_alias_and_is_no_status_of_it(
    net: Net, client: aiohttp.ClientSession
) -> None:
    alpha, beta = net.alpha, net.beta
    rid = await send_anonymously(net, client, [])
    alias = await alias_of_erika(net)
    alias_uri = beta.actor_uri(alias.username)
    asked = await Api(client, alpha).call(
        "POST", f"{BASE}/{rid}/reply", net.moderator, json={"message": "Wer sind Sie?"}
    )
    assert asked.status == 200, asked.body
    await settle(alpha, beta)
    [mine] = await actions.list_contacts(beta.services, "erika", box=ContactBox.SENT)
    assert [(m.direction, m.text) for m in mine.messages] == [("in", "Wer sind Sie?")]
    assert await statuses_of(beta, net.kv) == []  # kept in the thread only
    answered = await Api(client, beta).call(
        "POST", f"{BASE}/{mine.request.id}/reply", net.erika, json={"message": "Bald mehr."}
    )
    assert answered.status == 200, answered.body
    await settle(alpha, beta)
    theirs = await Api(client, alpha).call("GET", f"{BASE}/{rid}", net.moderator)
    assert thread(theirs.body) == [("out", "Wer sind Sie?"), ("in", "Bald mehr.")]
    # Alpha got it from the alias, which named nothing else.
    [dm] = [c for c in await statuses_of(alpha, alias_uri) if "Bald mehr." in c]
    assert "erika" not in dm.lower()
    async with alpha.sessionmaker() as session:
        reply = await session.scalar(select(Status).where(Status.actor_uri == alias_uri))
    assert reply is not None and reply.in_reply_to_uri is None
    assert reply.uri.startswith(alias_uri + "/")


async def test_a_mastodon_recipient_replies_to_the_alias(
    net: Net, mastodon: FakeRemote, client: aiohttp.ClientSession
) -> None:
    beta = net.beta
    bob = f"{mastodon.base}/users/bob"
    view = await actions.send_contact(beta.services, "erika", bob, "Hallo Bob", anonymous=True)
    await settle(beta)
    follow, create = mastodon.posts_to("/users/bob/inbox")
    alias_uri = str(follow["actor"])
    note = create["object"]
    assert isinstance(note, dict)
    # Mastodon answers a direct message: a plain Create{Note}, in reply to it, to the
    # alias alone, no cc, its mention first.
    status = f"{mastodon.base}/users/bob/statuses/{uuid.uuid4().int % 10**18}"
    answer: dict[str, object] = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": status + "/activity",
        "type": "Create",
        "actor": bob,
        "to": [alias_uri],
        "object": {
            "id": status,
            "type": "Note",
            "attributedTo": bob,
            "to": [alias_uri],
            "inReplyTo": note["id"],
            "content": f'<p><span class="h-card"><a href="{alias_uri}" class="u-url mention">'
            "@<span>anon</span></a></span> Gern, worum geht es?</p>",
            "tag": [{"type": "Mention", "href": alias_uri}],
        },
    }
    assert await mastodon.post(client, alias_uri + "/inbox", answer) == 202
    await settle(beta)
    shown = await contact_actions.contact_view(beta.services, "erika", str(view.request.id))
    assert [(m.direction, m.text) for m in shown.messages] == [("in", "Gern, worum geht es?")]
    assert await statuses_of(beta, bob) == []
    await contact_actions.reply_contact(beta.services, "erika", str(view.request.id), "Radwege")
    await settle(beta)
    *_, sent = mastodon.posts_to("/users/bob/inbox")
    assert sent["type"] == "Create" and sent["actor"] == alias_uri
    sent_note = sent["object"]
    assert isinstance(sent_note, dict) and "inReplyTo" not in sent_note
    assert "Radwege" in str(sent_note["content"]) and sent_note["to"] == [bob]
    async with beta.sessionmaker() as session:
        kept = list(await session.scalars(select(ContactMessage.direction)))
    assert kept == ["in", "out"]


async def test_the_shared_inbox_drops_what_others_address_to_an_alias(
    net: Net, client: aiohttp.ClientSession
) -> None:
    """Through beta's shared inbox (which the alias's own 403 does not cover) a message or
    a Follow to the alias from anyone but kv is accepted (202) and dropped; kv's message
    through the shared inbox joins the thread as through the alias's inbox."""
    alpha, beta, gamma = net.alpha, net.beta, net.gamma
    await send_anonymously(net, client, [])
    alias = await alias_of_erika(net)
    alias_uri = beta.actor_uri(alias.username)
    shared = beta.base_url + "/inbox"

    async def post_as(inst: Instance, name: str, doc: dict[str, object]) -> int:
        async with inst.sessionmaker() as session:
            pem = (await get_actor(session, name)).private_key_pem
        actor = inst.actor_uri(name)
        body = {"@context": "https://www.w3.org/ns/activitystreams", "actor": actor, **doc}
        return await FakeRemote("unused.example", pem).post(
            client, shared, body, key_id=f"{actor}#main-key"
        )

    def direct(inst: Instance, name: str, text: str) -> dict[str, object]:
        note = f"{inst.actor_uri(name)}/notes/{uuid.uuid4().hex}"
        return {
            "id": note + "/activity",
            "type": "Create",
            "to": [alias_uri],
            "object": {
                "id": note,
                "type": "Note",
                "attributedTo": inst.actor_uri(name),
                "to": [alias_uri],
                "content": f"<p>{text}</p>",
            },
        }

    assert await post_as(gamma, "max", direct(gamma, "max", "Hallo Alias")) == 202
    follow: dict[str, object] = {
        "id": f"{gamma.actor_uri('max')}#follows/1",
        "type": "Follow",
        "object": alias_uri,
    }
    assert await post_as(gamma, "max", follow) == 202
    assert await post_as(alpha, "kv", direct(alpha, "kv", "Noch eine Frage")) == 202
    await settle(alpha, beta, gamma)
    [mine] = await actions.list_contacts(beta.services, "erika", box=ContactBox.SENT)
    assert [m.text for m in mine.messages] == ["Noch eine Frage"]
    async with beta.sessionmaker() as session:
        statuses = list(await session.scalars(select(Status.content)))
        follows = list(
            await session.scalars(select(Follow).where(Follow.followed_uri == alias_uri))
        )
    assert [c for c in statuses if c and "Hallo Alias" in c] == []
    assert follows == []
