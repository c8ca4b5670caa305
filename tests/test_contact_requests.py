"""Named contact requests (issue 14) between alpha, beta and gamma.test:8443 over real HTTP,
and with a Mastodon-shaped peer that speaks only Follow, Accept, Reject and Create{Note}."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from actors import accounts
from actors.local import get_actor
from actors.models import ActorType, ContactBox, ContactRequest, ContactState, FollowState, RoleName
from actors.profile import ProfileChange
from inbox.models import InboxActivity
from outbox.contacts import expire_contact_requests
from outbox.models import Activity as OutActivity
from outbox.models import Delivery, Status
from server import actions
from server.api.contacts import contact_json
from server.worker import expire_contacts_forever
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.fakes import FakeRemote, shared_key
from tests.helpers import run_cli, settle
from tests.server.test_api import PASSWORD, Api
from tests.test_follows import follow_state
from tests.test_mastodon_follows import shape

BASE = "/api/verbund/v1/contact_requests"
DAY = timedelta(days=1)


async def staff_token(inst: Instance, user: str, actor: str, role: RoleName) -> str:
    """A person with `role` on `actor` and a read/write token acting for it."""
    now = inst.services.clock()
    async with inst.sessionmaker() as session:
        target = await get_actor(session, actor)
        person = await accounts.create_user(session, username=user, password=PASSWORD, now=now)
        await accounts.grant_role(session, user=person, actor=target, role=role, now=now)
        issued = await accounts.create_token(
            session, user=person, actor=target, scopes=["read", "write"], now=now
        )
        await session.commit()
    return issued.token


@dataclass
class Net:
    alpha: Instance
    beta: Instance
    gamma: Instance
    owner: str  # tokens on alpha's kv
    editor: str
    moderator: str
    erika: str  # erika's own token on beta

    @property
    def kv(self) -> str:
        return self.alpha.actor_uri("kv")


@pytest.fixture
async def net(start_instance: StartInstance) -> Net:
    alpha = await start_instance("alpha")
    beta = await start_instance("beta", contacts={"per_person_per_day": 2, "message_limit": 40})
    gamma = await start_instance("gamma", domain="gamma.test:8443")
    await alpha.add_actor("kv", display_name="Kreisverband")
    await alpha.add_actor("ov", display_name="Ortsverband")
    await alpha.add_actor("news")
    await beta.add_actor("erika", ActorType.PERSON, display_name="Erika")
    await gamma.add_actor("max", ActorType.PERSON)
    await actions.update_profile(
        beta.services, "erika", ProfileChange(region="DE-BE", interests=["Klima", "Radverkehr"])
    )
    return Net(
        alpha,
        beta,
        gamma,
        owner=await staff_token(alpha, "olga", "kv", RoleName.OWNER),
        editor=await staff_token(alpha, "edith", "kv", RoleName.EDITOR),
        moderator=await staff_token(alpha, "moritz", "kv", RoleName.MODERATOR),
        erika=await staff_token(beta, "erika_m", "erika", RoleName.OWNER),
    )


async def rows(inst: Instance) -> list[tuple[str, str, str]]:
    async with inst.sessionmaker() as session:
        found = await session.scalars(select(ContactRequest).order_by(ContactRequest.id))
        return [(r.box.value, r.state.value, r.message) for r in found]


async def count(inst: Instance, model: type[object]) -> int:
    async with inst.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_request_accepted_with_follow_back_and_editors_cannot_decide(
    net: Net, client: aiohttp.ClientSession
) -> None:
    alpha, beta = net.alpha, net.beta
    erika = beta.actor_uri("erika")
    beta_api, alpha_api = Api(client, beta), Api(client, alpha)
    sent = await beta_api.call(
        "POST", BASE, net.erika, json={"to": "kv@alpha.test", "message": "Wir möchten mitmachen!"}
    )
    assert sent.status == 200, sent.body
    assert isinstance(sent.body, dict) and sent.body["state"] == "pending"
    assert sent.body["box"] == "sent" and sent.body["recipient"] == net.kv
    await settle(alpha, beta)

    # One request, with the message and erika's region and interests; the direct message
    # that accompanied the Follow is not stored as a post as well.
    listed = await alpha_api.call("GET", BASE + "?box=received", net.editor)
    assert listed.status == 200 and isinstance(listed.body, list)
    [request] = listed.body
    assert request["message"] == "Wir möchten mitmachen!" and request["state"] == "pending"
    assert request["sender"] == erika
    assert request["actor"]["acct"] == "erika@beta.test"
    assert request["actor"]["region"]["code"] == "DE-BE"
    assert request["actor"]["interests"] == ["Klima", "Radverkehr"]
    assert await count(alpha, Status) == 0
    async with alpha.sessionmaker() as session:
        kinds = list(await session.scalars(select(InboxActivity.type)))
    assert sorted(kinds) == ["Create", "Follow"]  # both arrived; the Note was dropped
    assert await follow_state(alpha, erika, net.kv) == FollowState.PENDING  # kv is not locked

    # Editors see requests but cannot decide them (nor can the sender side decide).
    path = f"{BASE}/{request['id']}/accept"
    assert (await alpha_api.call("POST", path, net.editor)).status == 403
    assert (await alpha_api.call("POST", f"{BASE}/{request['id']}/decline", net.editor)).status == (
        403
    )
    assert (await alpha_api.call("POST", f"{BASE}/999/accept", net.moderator)).status == 404

    accepted = await alpha_api.call("POST", path, net.moderator, json={"follow_back": True})
    assert accepted.status == 200 and isinstance(accepted.body, dict)
    assert accepted.body["state"] == "accepted" and accepted.body["follow_back"] is True
    await settle(alpha, beta)
    assert await follow_state(beta, erika, net.kv) == FollowState.ACCEPTED
    assert await follow_state(alpha, net.kv, erika) == FollowState.ACCEPTED  # the follow back
    assert await follow_state(beta, net.kv, erika) == FollowState.ACCEPTED
    mine = await beta_api.call("GET", BASE + "?box=sent", net.erika)
    assert isinstance(mine.body, list) and [r["state"] for r in mine.body] == ["accepted"]
    assert (await alpha_api.call("POST", path, net.owner)).status == 409  # decided already
    # Filters by state.
    none = await beta_api.call("GET", BASE + "?state=pending", net.erika)
    assert none.body == []
    bad = await beta_api.call("GET", BASE + "?box=elsewhere", net.erika)
    assert bad.status == 422


def write_config(path: Path, inst: Instance) -> Path:
    """A CLI config for the same database and domain as `inst` (an operator on its host)."""
    database = inst.config.database
    schema = f'schema = "{database.schema}"\n' if database.schema else ""
    path.write_text(
        f"""[instance]
domain = "{inst.config.instance.domain}"
scheme = "http"
[database]
url = "{database.url}"
{schema}[federation]
allow_private_addresses = true
""",
        encoding="utf-8",
    )
    return path


async def test_request_declined_and_accepted_without_follow_back_from_the_cli(
    net: Net, tmp_path: Path
) -> None:
    alpha, gamma = net.alpha, net.gamma
    max_ = gamma.actor_uri("max")
    await actions.send_contact(gamma.services, "max", "kv@alpha.test", "Hallo aus Gamma")
    await actions.send_contact(gamma.services, "max", "ov@alpha.test", "Hallo, Ortsverband")
    await settle(alpha, gamma)
    config = str(write_config(tmp_path / "alpha.toml", alpha))

    async def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(run_cli, "contact", *args, "--config", config)

    listed = await cli("list", "kv", "--received")
    assert listed.returncode == 0, listed.stderr
    assert "max@gamma.test:8443" in listed.stdout and "“Hallo aus Gamma”" in listed.stdout
    everyone = await cli("list", "--received")  # no ACTOR: every actor with requests
    assert everyone.returncode == 0, everyone.stderr
    assert "== kv" in everyone.stdout and "== ov" in everyone.stdout
    assert "“Hallo, Ortsverband”" in everyone.stdout
    [kv_request] = await actions.list_contacts(alpha.services, "kv", box=ContactBox.RECEIVED)
    [ov_request] = await actions.list_contacts(alpha.services, "ov", box=ContactBox.RECEIVED)

    declined = await cli("decline", "kv", str(kv_request.request.id))
    assert declined.returncode == 0, declined.stderr
    assert "declined contact request" in declined.stdout
    again = await cli("decline", "kv", str(kv_request.request.id))
    assert again.returncode == 1 and again.stderr.startswith("error: contact request")
    wrong = await cli("accept", "kv", str(ov_request.request.id))
    assert wrong.returncode == 1 and "no contact request" in wrong.stderr
    ok = await cli("accept", "ov", str(ov_request.request.id), "--no-follow-back")
    assert ok.returncode == 0, ok.stderr
    await settle(alpha, gamma)

    states = {
        v.other_handle: v.request.state
        for v in await actions.list_contacts(gamma.services, "max", box=ContactBox.SENT)
    }
    assert states == {"kv@alpha.test": ContactState.DECLINED, "ov@alpha.test": "accepted"}
    assert await follow_state(gamma, max_, net.kv) is None
    assert await follow_state(alpha, max_, net.kv) is None
    assert await follow_state(gamma, max_, alpha.actor_uri("ov")) == FollowState.ACCEPTED
    assert await follow_state(alpha, alpha.actor_uri("ov"), max_) is None  # no follow back
    sent = await cli("send", "kv", "max@gamma.test:8443", "--message", "")
    assert sent.returncode == 1 and sent.stderr == "error: a contact request needs a message\n"


async def test_requests_expire_and_the_sender_is_told(net: Net) -> None:
    alpha, beta, gamma = net.alpha, net.beta, net.gamma
    await actions.send_contact(beta.services, "erika", "kv@alpha.test", "Kontakt?")
    await actions.send_contact(gamma.services, "max", "kv@alpha.test", "Auch Kontakt?")
    await settle(alpha, beta, gamma)
    svc = alpha.services
    month = timedelta(seconds=svc.config.contacts.expire_after)

    async def expire(inst: Instance, age: timedelta) -> int:
        """Make every pending request `age` old, then run one round of expiry (deliveries
        are queued for now: the stepped workers send them)."""
        now = inst.services.clock()
        async with inst.sessionmaker() as session:
            for row in await session.scalars(
                select(ContactRequest).where(ContactRequest.state == ContactState.PENDING)
            ):
                row.created_at = now - age
            n = await expire_contact_requests(
                session,
                now=now,
                expire_after=month,
                uris=inst.services.uris,
                policy=inst.services.policy,
            )
            await session.commit()
        return n

    assert await expire(alpha, month - DAY) == 0  # not yet
    assert await expire(alpha, month + DAY) == 2
    assert await expire(alpha, month + DAY) == 0
    await settle(alpha, beta, gamma)
    assert await rows(alpha) == [
        ("received", "expired", "Kontakt?"),
        ("received", "expired", "Auch Kontakt?"),
    ]
    # The Reject said why; its direct message is not shown as a post on Verbund.
    assert await rows(beta) == [("sent", "expired", "Kontakt?")]
    assert await rows(gamma) == [("sent", "expired", "Auch Kontakt?")]
    assert await count(beta, Status) == 0
    assert await follow_state(beta, beta.actor_uri("erika"), net.kv) is None

    # A sender whose request is never answered sees it expire on its own side.
    await actions.send_contact(beta.services, "erika", "ov@alpha.test", "Hallo Ortsverband")
    assert await expire(beta, month + DAY) == 1
    assert (await rows(beta))[-1] == ("sent", "expired", "Hallo Ortsverband")


async def test_limits_refuse_with_a_reason_and_leave_nothing(
    net: Net, client: aiohttp.ClientSession
) -> None:
    beta = net.beta
    api = Api(client, beta)
    too_long = await api.call(
        "POST", BASE, net.erika, json={"to": "kv@alpha.test", "message": "x" * 41}
    )
    assert too_long.status == 422 and isinstance(too_long.body, dict)
    assert too_long.body["error_description"] == "too_long"
    assert "at most 40" in str(too_long.body["error"])
    ok = await api.call("POST", BASE, net.erika, json={"to": "kv@alpha.test", "message": "Hallo"})
    assert ok.status == 200
    before = (await count(beta, ContactRequest), await count(beta, Delivery))
    twice = await api.call("POST", BASE, net.erika, json={"to": "kv@alpha.test", "message": "Hi"})
    assert twice.status == 422 and isinstance(twice.body, dict)
    assert twice.body["error_description"] == "duplicate"
    ok = await api.call("POST", BASE, net.erika, json={"to": "ov@alpha.test", "message": "Hallo"})
    assert ok.status == 200
    before = (await count(beta, ContactRequest), await count(beta, Delivery))
    third = await api.call("POST", BASE, net.erika, json={"to": "news@alpha.test", "message": "Hi"})
    assert third.status == 429 and isinstance(third.body, dict)
    assert third.body["error_description"] == "rate_limited"
    assert (await count(beta, ContactRequest), await count(beta, Delivery)) == before
    assert await follow_state(beta, beta.actor_uri("erika"), net.alpha.actor_uri("news")) is None
    # A day later the person may send again.
    a_day_ago = beta.services.clock() - DAY - timedelta(minutes=1)
    async with beta.sessionmaker() as session:
        for row in await session.scalars(select(ContactRequest)):
            row.created_at = a_day_ago
        await session.commit()
    ok = await api.call("POST", BASE, net.erika, json={"to": "news@alpha.test", "message": "Hi"})
    assert ok.status == 200


async def test_blocked_sender_is_refused(net: Net, client: aiohttp.ClientSession) -> None:
    alpha, gamma = net.alpha, net.gamma
    api = Api(client, alpha)
    max_ = gamma.actor_uri("max")
    await actions.send_contact(gamma.services, "max", "kv@alpha.test", "Erste Anfrage")
    await settle(alpha, gamma)
    listed = (await api.call("GET", BASE, net.owner)).body
    assert isinstance(listed, list)
    [request] = listed
    assert (await api.call("POST", f"{BASE}/{request['id']}/block", net.editor)).status == 403
    blocked = await api.call("POST", f"{BASE}/{request['id']}/block", net.owner)
    assert blocked.status == 200 and isinstance(blocked.body, dict)
    assert blocked.body["state"] == "declined"
    await settle(alpha, gamma)
    assert [r[1] for r in await rows(gamma)] == ["declined"]

    # The next request arrives (202) but is ignored: no second request, no follow.
    await actions.send_contact(gamma.services, "max", "kv@alpha.test", "Zweite Anfrage")
    await settle(alpha, gamma)
    assert [r[2] for r in await rows(alpha)] == ["Erste Anfrage"]
    assert await follow_state(alpha, max_, net.kv) is None

    # Between two local actors the refusal is immediate, with its reason.
    news_token = await staff_token(alpha, "nora", "news", RoleName.EDITOR)
    first = await api.call("POST", BASE, news_token, json={"to": "kv@alpha.test", "message": "Hi"})
    assert first.status == 200
    await settle(alpha)
    received = await actions.list_contacts(alpha.services, "kv", box=ContactBox.RECEIVED)
    from_news = next(v for v in received if v.other_uri == alpha.actor_uri("news"))
    assert from_news.other_handle == "news@alpha.test" and from_news.request.message == "Hi"
    await actions.decide_contact(
        alpha.services, "kv", str(from_news.request.id), accept=False, block=True
    )
    await settle(alpha)
    refused = await api.call(
        "POST", BASE, news_token, json={"to": "kv@alpha.test", "message": "Noch mal"}
    )
    assert refused.status == 422 and isinstance(refused.body, dict)
    assert refused.body["error_description"] == "blocked"
    sent = await actions.list_contacts(alpha.services, "news", box=ContactBox.SENT)
    assert [v.request.state for v in sent] == [ContactState.DECLINED]


@pytest.fixture
async def mastodon(resolver: LoopbackResolver) -> AsyncIterator[FakeRemote]:
    fake = FakeRemote("mastodon.example", shared_key())
    fake.add_person("bob")
    await fake.start(resolver)
    yield fake
    await fake.stop()


async def test_mastodon_peer_gets_a_follow_request_and_a_direct_message(
    net: Net, mastodon: FakeRemote, client: aiohttp.ClientSession
) -> None:
    alpha = net.alpha
    bob = f"{mastodon.base}/users/bob"
    view = await actions.send_contact(alpha.services, "kv", bob, "Hallo Bob,\n\nwie geht's?")
    assert view.other_handle == "bob@mastodon.example"
    await settle(alpha)
    follow, create = mastodon.posts_to("/users/bob/inbox")
    assert follow["type"] == "Follow" and follow["object"] == bob
    assert follow["content"] == "Hallo Bob,\n\nwie geht's?" == follow["contactMessage"]
    assert create["type"] == "Create" and create["to"] == [bob]
    note = create["object"]
    assert isinstance(note, dict) and note["type"] == "Note" and note["to"] == [bob]
    assert note["cc"] == [] and note["contactRequest"] == follow["id"]
    assert note["tag"] == [{"type": "Mention", "href": bob, "name": "@bob@mastodon.example"}]
    assert "wie geht&#x27;s?" in str(note["content"])

    values = {"remote": bob, "remote_base": mastodon.base, "local": net.kv}
    accept = shape("accept_embedded", **values, follow_id=str(follow["id"]))
    assert await mastodon.post(client, alpha.base_url + "/users/kv/inbox", accept) == 202
    await settle(alpha)
    [sent] = await actions.list_contacts(alpha.services, "kv", box=ContactBox.SENT)
    assert sent.request.state == ContactState.ACCEPTED
    assert await follow_state(alpha, net.kv, bob) == FollowState.ACCEPTED


async def test_mastodon_follow_with_content_becomes_a_request(
    net: Net, mastodon: FakeRemote, client: aiohttp.ClientSession
) -> None:
    alpha = net.alpha
    bob = f"{mastodon.base}/users/bob"
    values = {"remote": bob, "remote_base": mastodon.base, "local": net.kv}
    follow = {**shape("follow", **values), "content": "Darf ich folgen?"}
    assert await mastodon.post(client, alpha.base_url + "/inbox", follow) == 202
    await settle(alpha)
    assert mastodon.posts_to("/users/bob/inbox") == []  # not accepted before staff decide
    [request] = await actions.list_contacts(alpha.services, "kv", box=ContactBox.RECEIVED)
    assert contact_json(request)["message"] == "Darf ich folgen?"
    assert request.other_handle == "bob@mastodon.example"
    await actions.decide_contact(
        alpha.services, "kv", str(request.request.id), accept=True, follow_back=False
    )
    await settle(alpha)
    [reply] = mastodon.posts_to("/users/bob/inbox")
    assert reply["type"] == "Accept" and reply["actor"] == net.kv
    assert reply["object"] == {k: v for k, v in follow.items() if k != "@context"}
    assert await follow_state(alpha, bob, net.kv) == FollowState.ACCEPTED


async def test_deciding_the_follow_request_decides_the_contact_request(net: Net) -> None:
    alpha, gamma = net.alpha, net.gamma
    await actions.send_contact(gamma.services, "max", "kv@alpha.test", "Hallo")
    await actions.send_contact(gamma.services, "max", "ov@alpha.test", "Hallo")
    await settle(alpha, gamma)
    # The Follow also waits among the follow requests; deciding it there decides both.
    [pending] = await actions.list_requests(alpha.services, "kv")
    assert pending.message == "Hallo"
    await actions.decide_request(alpha.services, "kv", "max@gamma.test:8443", approve=True)
    await actions.decide_request(alpha.services, "ov", "max@gamma.test:8443", approve=False)
    await settle(alpha, gamma)
    assert [r[1] for r in await rows(alpha)] == ["accepted", "declined"]
    assert [r[1] for r in await rows(gamma)] == ["accepted", "declined"]


async def test_the_worker_expires_requests_beside_the_poll_closer(net: Net, tmp_path: Path) -> None:
    alpha, beta = net.alpha, net.beta
    await actions.send_contact(beta.services, "erika", "kv@alpha.test", "Kontakt?")
    await actions.send_contact(beta.services, "erika", "ov@alpha.test", "Kontakt?")
    await settle(alpha, beta)
    month = timedelta(seconds=alpha.config.contacts.expire_after)
    async with alpha.sessionmaker() as session:
        for row in await session.scalars(select(ContactRequest)):
            row.created_at -= month + DAY
        await session.commit()
    # ov's request is blocked (and so declined) from the CLI first; kv's expires.
    config = str(write_config(tmp_path / "alpha.toml", alpha))
    [ov] = await actions.list_contacts(alpha.services, "ov")
    blocked = await asyncio.to_thread(
        run_cli, "contact", "block", "ov", str(ov.request.id), "--config", config
    )
    assert blocked.returncode == 0 and blocked.stdout.startswith("blocked contact request")
    stop, wake = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        expire_contacts_forever(
            alpha.sessionmaker, alpha.services.clock, stop, wake, config=alpha.config, interval=60
        )
    )
    await asyncio.wait_for(wake.wait(), 10)
    stop.set()
    await task
    await settle(alpha, beta)
    assert [r[1] for r in await rows(alpha)] == ["expired", "declined"]
    assert [r[1] for r in await rows(beta)] == ["expired", "declined"]


async def test_a_withdrawn_request_is_no_longer_pending(
    net: Net, client: aiohttp.ClientSession
) -> None:
    alpha, gamma = net.alpha, net.gamma
    await actions.send_contact(gamma.services, "max", "kv@alpha.test", "Hallo")
    await settle(alpha, gamma)
    await actions.unfollow(gamma.services, "max", "kv@alpha.test")  # Undo of the Follow
    await settle(alpha, gamma)
    api = Api(client, alpha)
    assert (await api.call("GET", BASE + "?state=pending", net.owner)).body == []
    listed = await api.call("GET", BASE + "?state=withdrawn", net.owner)
    assert isinstance(listed.body, list) and [r["state"] for r in listed.body] == ["withdrawn"]
    rid = listed.body[0]["id"]
    for action in ("accept", "decline"):
        refused = await api.call("POST", f"{BASE}/{rid}/{action}", net.moderator)
        assert refused.status == 409 and isinstance(refused.body, dict)
        assert "withdrawn" in str(refused.body["error"])
    replied = await api.call(
        "POST", f"{BASE}/{rid}/reply", net.moderator, json={"message": "Schade"}
    )
    assert replied.status == 409
    # Blocking still works on it; nothing was sent to gamma.
    assert (await api.call("POST", f"{BASE}/{rid}/block", net.moderator)).status == 200
    await settle(alpha, gamma)
    async with gamma.sessionmaker() as session:
        types = list(await session.scalars(select(InboxActivity.type)))
    assert "Accept" not in types and "Reject" not in types


async def test_two_moderators_deciding_at_once_send_one_answer(
    net: Net, client: aiohttp.ClientSession
) -> None:
    """Deciding is a compare-and-set: of an accept and a decline sent together (and of
    two accepts), one wins and the other gets 409; the sender gets one answer."""
    alpha, gamma = net.alpha, net.gamma
    await alpha.add_actor("lv", display_name="Landesverband")
    lv_owner = await staff_token(alpha, "lotte", "lv", RoleName.OWNER)
    lv_moderator = await staff_token(alpha, "mia", "lv", RoleName.MODERATOR)
    for name in ("kv", "lv"):
        await actions.send_contact(gamma.services, "max", f"{name}@alpha.test", "Hallo")
    await settle(alpha, gamma)
    api = Api(client, alpha)
    for (first, second), actions_ in (
        ((net.owner, net.moderator), ("accept", "decline")),
        ((lv_owner, lv_moderator), ("accept", "accept")),
    ):
        listed = (await api.call("GET", BASE, first)).body
        assert isinstance(listed, list) and len(listed) == 1
        request = listed[0]
        assert isinstance(request, dict)
        path = f"{BASE}/{request['id']}/"
        answers = await asyncio.gather(
            api.call("POST", path + actions_[0], first, json={"follow_back": False}),
            api.call("POST", path + actions_[1], second, json={"follow_back": False}),
        )
        assert sorted(a.status for a in answers) == [200, 409], answers
        [loser] = [a for a in answers if a.status == 409]
        assert isinstance(loser.body, dict) and "already" in str(loser.body["error"])
    await settle(alpha, gamma)
    async with alpha.sessionmaker() as session:
        sent = list(
            await session.scalars(
                select(OutActivity.type).where(OutActivity.type.in_(("Accept", "Reject")))
            )
        )
    assert len(sent) == 2  # one answer per request
    states = sorted(r[1] for r in await rows(gamma))
    assert states in (["accepted", "accepted"], ["accepted", "declined"])
