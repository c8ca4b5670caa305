"""Anonymous contact requests (issue 14) between alpha, beta and gamma.test:8443 over real
HTTP: a one-off alias of erika@beta asks kv@alpha; alpha must learn who asked only if kv
accepts."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import String, Text, select

from actors.aliases import ALIAS_DISPLAY_NAME, ALIAS_PREFIX
from actors.base import Base
from actors.local import list_actors
from actors.models import (
    Actor,
    ActorType,
    ContactBox,
    ContactRequest,
    ContactState,
    FollowState,
    RoleName,
)
from actors.profile import ProfileChange
from federation.signatures import sign_request
from inbox.models import InboxActivity
from outbox.contacts import expire_contact_requests
from outbox.models import Activity, Delivery, Status
from server import actions, keys
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.helpers import run_cli, settle
from tests.server.test_api import Api
from tests.test_contact_requests import BASE, staff_token, write_config
from tests.test_follows import follow_state


@dataclass
class Net:
    alpha: Instance
    beta: Instance
    gamma: Instance
    moderator: str  # decides for alpha's kv
    erika: str  # erika's own token on beta

    @property
    def kv(self) -> str:
        return self.alpha.actor_uri("kv")

    @property
    def erika_uri(self) -> str:
        return self.beta.actor_uri("erika")


async def make_net(start_instance: StartInstance, **beta_contacts: object) -> Net:
    """kv@alpha, erika@beta (region and interests), max@gamma; beta's `contacts.*`
    config from `beta_contacts` (its alias's deliveries are sent at once by default)."""
    alpha = await start_instance("alpha")
    beta = await start_instance("beta", contacts={"alias_delay_seconds": 0, **beta_contacts})
    gamma = await start_instance(
        "gamma", domain="gamma.test:8443", contacts={"alias_delay_seconds": 0}
    )
    await alpha.add_actor("kv", display_name="Kreisverband")
    await beta.add_actor("erika", ActorType.PERSON, display_name="Erika Mustermann")
    await gamma.add_actor("max", ActorType.PERSON)
    await actions.update_profile(
        beta.services, "erika", ProfileChange(region="DE-BE", interests=["Klima", "Radverkehr"])
    )
    return Net(
        alpha,
        beta,
        gamma,
        moderator=await staff_token(alpha, "moritz", "kv", RoleName.MODERATOR),
        erika=await staff_token(beta, "erika_m", "erika", RoleName.OWNER),
    )


@pytest.fixture
async def net(start_instance: StartInstance) -> Net:
    # Sent at once here; the hold-back is tested on its own below.
    return await make_net(start_instance)


class Wiretap:
    """A proxy in front of an instance (the resolver sends its host name here) that keeps
    every request the instance receives from anyone — method, path, headers, body — as
    text, so a test can scan all that reached it."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.seen: list[str] = []
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None

    async def start(self) -> int:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port: int = self._runner.addresses[-1][1]
        return port

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = "\n".join(f"{k}: {v}" for k, v in request.headers.items())
        self.seen.append(
            f"{request.method} {request.path_qs}\n{headers}\n\n" + body.decode("utf-8", "replace")
        )
        if self._client is None:
            self._client = aiohttp.ClientSession(auto_decompress=False)
        async with self._client.request(
            request.method,
            f"http://127.0.0.1:{self.upstream}{request.path_qs}",
            headers=request.headers,
            data=body,
            allow_redirects=False,
        ) as resp:
            answer = await resp.read()
            kept = {
                k: v
                for k, v in resp.headers.items()
                if k.lower() not in ("transfer-encoding", "content-length", "connection")
            }
            return web.Response(status=resp.status, body=answer, headers=kept)


@pytest.fixture
async def wiretap(net: Net, resolver: LoopbackResolver) -> AsyncIterator[Wiretap]:
    """Everything alpha (the recipient's instance) receives over HTTP, from now on."""
    tap = Wiretap(net.alpha.port)
    resolver.hosts["alpha.test"] = await tap.start()
    yield tap
    resolver.hosts["alpha.test"] = net.alpha.port
    await tap.stop()


# What must never reach alpha unless kv accepts: erika's URL, username and display name.
def secrets_of(net: Net) -> tuple[str, ...]:
    return (net.erika_uri, "erika", "Mustermann")


async def text_values(inst: Instance) -> list[str]:
    """Every text value in every table of `inst`'s database."""
    found: list[str] = []
    async with inst.sessionmaker() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text)]
            if not columns:
                continue
            for row in await session.execute(select(*columns)):
                found.extend(v for v in row if isinstance(v, str))
    return found


def leaks(values: list[str], net: Net) -> list[str]:
    return [v for v in values for s in secrets_of(net) if s.lower() in v.lower()]


async def alias_of_erika(net: Net) -> Actor:
    async with net.beta.sessionmaker() as session:
        return (await session.scalars(select(Actor).where(Actor.is_alias.is_(True)))).one()


async def send_anonymously(net: Net, client: aiohttp.ClientSession, disclose: list[str]) -> str:
    sent = await Api(client, net.beta).call(
        "POST",
        BASE,
        net.erika,
        json={
            "to": "kv@alpha.test",
            "message": "Ich würde gern mitarbeiten.",
            "anonymous": True,
            "disclose": disclose,
        },
    )
    assert sent.status == 200, sent.body
    assert isinstance(sent.body, dict) and sent.body["state"] == "pending"
    assert sent.body["box"] == "sent" and sent.body["recipient"] == net.kv
    await settle(net.alpha, net.beta)
    listed = await Api(client, net.alpha).call("GET", BASE + "?box=received", net.moderator)
    assert isinstance(listed.body, list)
    [request] = listed.body
    assert request["message"] == "Ich würde gern mitarbeiten."
    assert request["sender"].startswith(net.beta.actor_uri(ALIAS_PREFIX))
    assert request["actor"]["display_name"] == ALIAS_DISPLAY_NAME
    return str(request["id"])


async def test_alias_is_unlisted_and_discloses_only_what_was_chosen(
    net: Net, client: aiohttp.ClientSession
) -> None:
    request_id = await send_anonymously(net, client, ["region"])
    assert request_id
    alias = await alias_of_erika(net)
    assert alias.username.startswith(ALIAS_PREFIX) and len(alias.username) == 15
    assert alias.region_code == "DE-BE" and alias.interests == []
    async with net.beta.sessionmaker() as session:
        assert [a.username for a in await list_actors(session)] == ["erika"]
    # Its actor document is a plain Person that names nothing of erika.
    async with client.get(
        net.beta.actor_uri(alias.username), headers={"Accept": "application/activity+json"}
    ) as resp:
        assert resp.status == 200
        doc = await resp.text()
    assert '"Person"' in doc and "DE-BE" in doc
    assert [s for s in secrets_of(net) if s.lower() in doc.lower()] == []
    # The requester sees the request among its own.
    views = await actions.list_contacts(net.beta.services, "erika", box=ContactBox.SENT)
    assert [(v.other_handle, v.request.state) for v in views] == [("kv@alpha.test", "pending")]


async def test_accepted_anonymous_request_reveals_the_real_actor(
    net: Net, client: aiohttp.ClientSession, wiretap: Wiretap
) -> None:
    alpha, beta = net.alpha, net.beta
    request_id = await send_anonymously(net, client, ["region", "interests"])
    alias = await alias_of_erika(net)
    assert alias.interests == ["Klima", "Radverkehr"]
    accepted = await Api(client, alpha).call(
        "POST", f"{BASE}/{request_id}/accept", net.moderator, json={"follow_back": False}
    )
    assert accepted.status == 200, accepted.body
    await settle(alpha, beta)
    # The reveal: a direct message from the alias that names erika's handle and URL.
    async with alpha.sessionmaker() as session:
        statuses = list(await session.scalars(select(Status)))
    [reveal] = [s for s in statuses if "erika@beta.test" in (s.content or "")]
    assert net.erika_uri in (reveal.content or "")
    assert reveal.actor_uri == beta.actor_uri(alias.username)
    # Erika follows kv with a plain Follow (kv is not locked: accepted).
    assert await follow_state(beta, net.erika_uri, net.kv) == FollowState.ACCEPTED
    assert await follow_state(alpha, net.erika_uri, net.kv) == FollowState.ACCEPTED
    views = await actions.list_contacts(beta.services, "erika", box=ContactBox.SENT)
    assert [v.request.state for v in views] == [ContactState.ACCEPTED]
    # On alpha the request itself still names only the alias.
    async with alpha.sessionmaker() as session:
        [row] = await session.scalars(select(ContactRequest))
    assert leaks([row.sender_uri, row.message], net) == []
    # Over the wire, erika reached alpha in the reveal (from the alias) and in her own
    # Follow after it, and in nothing sent before the decision.
    named = [t for t in wiretap.seen if leaks([t], net)]
    kinds = sorted(json.loads(t.split("\n\n", 1)[1])["type"] for t in named)
    assert kinds == ["Create", "Follow"], named
    first = wiretap.seen.index(named[0])
    assert all(not leaks([t], net) for t in wiretap.seen[:first])
    reveal_body = json.loads(named[0].split("\n\n", 1)[1])
    assert reveal_body["actor"] == beta.actor_uri(alias.username)


async def test_declined_anonymous_request_deletes_the_alias_and_reveals_nothing(
    net: Net, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture, wiretap: Wiretap
) -> None:
    caplog.set_level(logging.DEBUG)
    alpha, beta = net.alpha, net.beta
    request_id = await send_anonymously(net, client, [])
    alias = await alias_of_erika(net)
    alias_uri = beta.actor_uri(alias.username)
    # A reply each way before the decision: kv asks the alias, erika answers through it.
    asked = await Api(client, alpha).call(
        "POST", f"{BASE}/{request_id}/reply", net.moderator, json={"message": "Wer fragt?"}
    )
    assert asked.status == 200, asked.body
    await settle(alpha, beta)
    [sent] = await actions.list_contacts(beta.services, "erika", box=ContactBox.SENT)
    answered = await Api(client, beta).call(
        "POST", f"{BASE}/{sent.request.id}/reply", net.erika, json={"message": "Eine Nachbarin."}
    )
    assert answered.status == 200, answered.body
    await settle(alpha, beta)
    [shown] = await actions.list_contacts(alpha.services, "kv", box=ContactBox.RECEIVED)
    assert [m.text for m in shown.messages] == ["Wer fragt?", "Eine Nachbarin."]
    declined = await Api(client, alpha).call("POST", f"{BASE}/{request_id}/decline", net.moderator)
    assert declined.status == 200, declined.body
    await settle(alpha, beta)

    # The alias's Delete reached alpha, which forgot the alias.
    async with alpha.sessionmaker() as session:
        deletes = list(
            await session.scalars(select(InboxActivity).where(InboxActivity.type == "Delete"))
        )
    assert [d.actor_uri for d in deletes] == [alias_uri]
    # The alias is retired; erika sees her request declined.
    alias = await alias_of_erika(net)
    assert alias.alias_retired_at is not None
    # Its actor document and WebFinger answer 410 Gone, so peers drop it (once the
    # document cache, up to 10 s, has let go of it).
    beta.app[keys.DOCUMENTS].invalidate()
    async with client.get(alias_uri, headers={"Accept": "application/activity+json"}) as resp:
        assert resp.status == 410
    finger = f"{beta.base_url}/.well-known/webfinger?resource=acct:{alias.username}@beta.test"
    async with client.get(finger) as resp:
        assert resp.status == 410
    async with client.get(beta.actor_uri("erika"), headers={"Accept": "application/json"}) as r:
        assert r.status == 200
    views = await actions.list_contacts(beta.services, "erika", box=ContactBox.SENT)
    assert [v.request.state for v in views] == [ContactState.DECLINED]
    assert views[0].request.sender_uri == net.erika_uri

    # Nothing on alpha names erika: no table, no received body; nor any log line about
    # what alpha received (all instances log into one process here, so the lines that
    # name an inbox activity are the ones to check).
    values = await text_values(alpha)
    assert any(alias_uri in v for v in values)  # the scan does see what alpha stored
    assert leaks(values, net) == []
    received = [r.getMessage() for r in caplog.records if r.name.startswith("verbund.inbox")]
    assert leaks(received, net) == []
    # Nor any HTTP request that reached alpha, from beta's deliveries to its fetches:
    # the inbox POSTs of the alias's Follow, direct message and Delete, with every header.
    assert any(t.startswith("POST /users/kv/inbox") for t in wiretap.seen), wiretap.seen
    assert any(alias_uri in t for t in wiretap.seen)
    assert leaks(wiretap.seen, net) == []


async def test_aliases_cannot_post_follow_or_ask_anyone_else(
    net: Net, client: aiohttp.ClientSession, tmp_path: Path
) -> None:
    await send_anonymously(net, client, [])
    alias = (await alias_of_erika(net)).username
    with pytest.raises(actions.ActionError, match="anonymous contact alias"):
        await actions.follow(net.beta.services, alias, "max@gamma.test:8443")
    with pytest.raises(actions.ContactRefusedError, match="anonymous contact alias"):
        await actions.send_contact(net.beta.services, alias, "max@gamma.test:8443", "Hallo")
    post = tmp_path / "post.md"
    post.write_text("Öffentlich!", encoding="utf-8")
    config = str(write_config(tmp_path / "beta.toml", net.beta))
    done = await asyncio.to_thread(run_cli, "post", alias, "--file", str(post), "--config", config)
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "cannot post" in done.stderr
    # A disclosure other than region and interests is refused, nothing created.
    with pytest.raises(actions.ContactRefusedError, match="cannot disclose"):
        await actions.send_contact(
            net.beta.services,
            "erika",
            "max@gamma.test:8443",
            "Hi",
            anonymous=True,
            disclose=["name"],
        )


async def signed_post(
    client: aiohttp.ClientSession, sender: Instance, name: str, inbox: str, object_uri: str
) -> int:
    """POST a signed Like of `object_uri` from `sender`'s actor `name` to `inbox`."""
    async with sender.sessionmaker() as session:
        key = (await session.scalars(select(Actor).where(Actor.username == name))).one()
    actor = sender.actor_uri(name)
    body = json.dumps(
        {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{actor}#likes/{uuid.uuid4().hex}",
            "type": "Like",
            "actor": actor,
            "object": object_uri,
        }
    ).encode()
    headers = sign_request(
        method="POST",
        url=inbox,
        headers={"Content-Type": "application/activity+json"},
        body=body,
        key_id=f"{actor}#main-key",
        private_key_pem=key.private_key_pem,
        now=datetime.now(UTC),
    )
    async with client.post(inbox, data=body, headers=headers) as resp:
        return resp.status


async def test_alias_inbox_takes_activities_from_its_recipient_only(
    net: Net, client: aiohttp.ClientSession
) -> None:
    await send_anonymously(net, client, [])
    alias_uri = net.beta.actor_uri((await alias_of_erika(net)).username)
    inbox = alias_uri + "/inbox"
    assert await signed_post(client, net.gamma, "max", inbox, alias_uri) == 403
    assert await signed_post(client, net.alpha, "kv", inbox, alias_uri) == 202
    async with net.beta.sessionmaker() as session:
        likes = list(
            await session.scalars(
                select(InboxActivity.actor_uri).where(InboxActivity.type == "Like")
            )
        )
    assert likes == [net.kv]  # the refused one was not stored


async def test_expired_anonymous_request_deletes_the_alias(
    net: Net, client: aiohttp.ClientSession
) -> None:
    await send_anonymously(net, client, [])
    alias_uri = net.beta.actor_uri((await alias_of_erika(net)).username)
    svc = net.beta.services
    now = svc.clock()
    after = timedelta(seconds=svc.config.contacts.expire_after)
    async with net.beta.sessionmaker() as session:
        for row in await session.scalars(select(ContactRequest)):
            row.created_at = now - after - timedelta(days=1)
        expired = await expire_contact_requests(
            session, now=now, expire_after=after, uris=svc.uris, policy=svc.policy
        )
        await session.commit()
    assert expired == 1
    await settle(net.alpha, net.beta)
    assert (await alias_of_erika(net)).alias_retired_at is not None
    async with net.alpha.sessionmaker() as session:
        query = select(InboxActivity.actor_uri).where(InboxActivity.type == "Delete")
        assert list(await session.scalars(query)) == [alias_uri]
    views = await actions.list_contacts(svc, "erika", box=ContactBox.SENT)
    assert [v.request.state for v in views] == [ContactState.EXPIRED]
    assert leaks(await text_values(net.alpha), net) == []


async def test_an_alias_first_deliveries_wait_a_random_time(
    start_instance: StartInstance, client: aiohttp.ClientSession
) -> None:
    """Its Follow and message are held back (up to `contacts.alias_delay_seconds`), so
    their arrival does not line up with what the real actor does at the same moment."""
    alpha = await start_instance("alpha")
    beta = await start_instance("beta", contacts={"alias_delay_seconds": 600})
    await alpha.add_actor("kv", display_name="Kreisverband")
    await beta.add_actor("erika", ActorType.PERSON, display_name="Erika Mustermann")
    erika = await staff_token(beta, "erika_m", "erika", RoleName.OWNER)
    before = datetime.now(UTC)
    sent = await Api(client, beta).call(
        "POST",
        BASE,
        erika,
        json={"to": "kv@alpha.test", "message": "Hallo", "anonymous": True},
    )
    assert sent.status == 200, sent.body
    async with beta.sessionmaker() as session:
        rows = (
            await session.execute(
                select(Activity.type, Delivery.next_attempt_at).join(
                    Delivery, Delivery.activity_id == Activity.id
                )
            )
        ).all()
    assert sorted(t for t, _ in rows) == ["Create", "Follow"]
    due = {when for _, when in rows}
    assert len(due) == 1  # the two go together, at one random time
    [when] = due
    assert before <= when <= before + timedelta(seconds=601)
    if when > datetime.now(UTC) + timedelta(seconds=5):  # all but a 1-in-120 draw
        await settle(alpha, beta)  # not due yet: nothing reached alpha
        async with alpha.sessionmaker() as session:
            assert list(await session.scalars(select(InboxActivity))) == []


async def test_blocking_an_alias_refuses_further_anonymous_requests_from_its_server(
    net: Net, client: aiohttp.ClientSession
) -> None:
    alpha, beta, gamma = net.alpha, net.beta, net.gamma
    request_id = await send_anonymously(net, client, [])
    blocked = await Api(client, alpha).call("POST", f"{BASE}/{request_id}/block", net.moderator)
    assert blocked.status == 200
    await settle(alpha, beta)
    await beta.add_actor("otto", ActorType.PERSON)

    # Anonymous again, from erika and from otto on beta: rejected at once, nothing shown.
    for name in ("erika", "otto"):
        await actions.send_contact(beta.services, name, "kv@alpha.test", "Nochmal", anonymous=True)
    await settle(alpha, beta)
    received = await actions.list_contacts(alpha.services, "kv", box=ContactBox.RECEIVED)
    assert [v.request.state for v in received] == [ContactState.DECLINED]
    for name in ("erika", "otto"):
        sent = await actions.list_contacts(beta.services, name, box=ContactBox.SENT)
        assert sent[0].request.state == ContactState.DECLINED
    async with beta.sessionmaker() as session:
        aliases = list(await session.scalars(select(Actor).where(Actor.is_alias.is_(True))))
    assert len(aliases) == 3 and all(a.alias_retired_at is not None for a in aliases)

    # Named requests from beta still arrive, and anonymous ones from another server.
    await actions.send_contact(beta.services, "otto", "kv@alpha.test", "Ich bin Otto")
    await actions.send_contact(
        gamma.services, "max", "kv@alpha.test", "Anonym von gamma", anonymous=True
    )
    await settle(alpha, beta, gamma)
    received = await actions.list_contacts(alpha.services, "kv", box=ContactBox.RECEIVED)
    pending = sorted(v.request.message for v in received if v.request.state == "pending")
    assert pending == ["Anonym von gamma", "Ich bin Otto"]
    anonymous = {v.request.message: v.request.is_anonymous for v in received}
    assert anonymous == {
        "Ich würde gern mitarbeiten.": True,
        "Ich bin Otto": False,
        "Anonym von gamma": True,
    }


async def release_deliveries(inst: Instance) -> None:
    """Make every held-back delivery of `inst` due now (the test need not wait)."""
    async with inst.sessionmaker() as session:
        for row in await session.scalars(select(Delivery)):
            row.next_attempt_at = min(row.next_attempt_at, datetime.now(UTC))
        await session.commit()


async def test_the_reveal_and_the_delete_wait_a_random_time_too(
    start_instance: StartInstance, client: aiohttp.ClientSession
) -> None:
    """The inbox processor queues them when the Accept or Reject arrives, held back up to
    `contacts.alias_delay_seconds` like the alias's first deliveries."""
    alpha = await start_instance("alpha")
    beta = await start_instance("beta", contacts={"alias_delay_seconds": 600})
    for name in ("kv", "ov"):
        await alpha.add_actor(name)
    await beta.add_actor("erika", ActorType.PERSON, display_name="Erika Mustermann")
    for name in ("kv", "ov"):
        await actions.send_contact(
            beta.services, "erika", f"{name}@alpha.test", "Hallo", anonymous=True
        )
    await release_deliveries(beta)
    await settle(alpha, beta)
    received = await actions.list_contacts(alpha.services, "kv") + await actions.list_contacts(
        alpha.services, "ov"
    )
    assert len(received) == 2
    for view, accept in zip(received, (True, False), strict=True):
        name = alpha.services.uris.username_of(view.request.recipient_uri) or ""
        await actions.decide_contact(
            alpha.services, name, str(view.request.id), accept=accept, follow_back=False
        )
    before = datetime.now(UTC)
    await settle(alpha, beta)
    async with beta.sessionmaker() as session:
        rows = (
            await session.execute(
                select(Activity.type, Delivery.next_attempt_at, Delivery.state).join(
                    Delivery, Delivery.activity_id == Activity.id
                )
            )
        ).all()
    held = {t: when for t, when, state in rows if state == "pending"}
    answers = [(t, when) for t, when, _ in rows if when >= before]
    # The reveal's note and erika's Follow (together), and the alias's Delete.
    assert sorted(t for t, _ in answers) == ["Create", "Delete", "Follow"], rows
    assert all(when <= before + timedelta(seconds=601) for _, when in answers)
    # Two independent draws of 0-600 s: both under 2 s about once in 90000 runs.
    assert max(when for _, when in answers) > before + timedelta(seconds=2)
    if all(when > datetime.now(UTC) + timedelta(seconds=5) for _, when in answers):
        assert set(held) == {"Create", "Delete", "Follow"}  # none reached alpha yet
    await release_deliveries(beta)
    await settle(alpha, beta)
    async with alpha.sessionmaker() as session:
        types = list(await session.scalars(select(InboxActivity.type)))
    assert types.count("Delete") == 1 and types.count("Follow") == 3
