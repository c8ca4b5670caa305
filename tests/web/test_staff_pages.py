"""The staff pages of organisations and groups (issue 16) over real HTTP, two instances
where federation matters: alpha's locked organisation kv (owner olga, moderator mona,
editor eddi; paul holds no role) and beta.test:8443's erika, max and association bv.

A remote follow request approved or declined on the page reaches beta as Accept or
Reject; an organisation link offered from beta is confirmed on alpha's page; an anonymous
contact request is accepted on the page; roles are granted, changed and revoked, the
last owner never. Wrong roles, missing CSRF tokens and visitors change nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from sqlalchemy import func, select

from actors import accounts
from actors.contacts import is_blocked
from actors.local import get_actor
from actors.models import (
    ActorType,
    ContactBox,
    ContactState,
    Follow,
    FollowState,
    LinkState,
    OrgLink,
    RelayMode,
    RoleName,
    VisitorContact,
    VisitorContactState,
)
from outbox.posts import Draft
from server import actions, links
from tests import test_visitor_contacts
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.helpers import settle
from tests.test_follows import follow_state
from tests.test_news_federation import post as news_post
from tests.test_visitor_contacts import Inbox
from tests.webpages import browser_client, create_person, csrf_of, sign_in

PASSWORD = "a long passphrase for staff"
smtp = test_visitor_contacts.smtp  # the loopback SMTP server fixture


@dataclass
class Net:
    alpha: Instance
    beta: Instance
    resolver: LoopbackResolver

    def kv(self) -> str:
        return self.alpha.actor_uri("kv")


async def grant(inst: Instance, username: str, actor: str, role: RoleName | None) -> None:
    """A person `username` with `role` on `actor` (none: no role at all)."""
    await create_person(inst, username, PASSWORD)
    if role is None:
        return
    async with inst.sessionmaker() as session:
        user = await accounts.get_user(session, username)
        target = await get_actor(session, actor)
        await accounts.grant_role(
            session, user=user, actor=target, role=role, now=inst.services.clock()
        )
        await session.commit()


@pytest.fixture
async def net(start_instance: StartInstance, resolver: LoopbackResolver) -> Net:
    alpha = await start_instance("alpha")
    beta = await start_instance(
        "beta", domain="beta.test:8443", contacts={"alias_delay_seconds": 0}
    )
    await alpha.add_actor("kv", display_name="Kreisverband", manually_approves=True)
    await alpha.add_actor("klima", ActorType.GROUP, display_name="AG Klima")
    await beta.add_actor("erika", ActorType.PERSON, display_name="Erika Mustermann")
    await beta.add_actor("max", ActorType.PERSON)
    await beta.add_actor("bv", display_name="Bundesverband")
    await grant(alpha, "olga", "kv", RoleName.OWNER)
    await grant(alpha, "mona", "kv", RoleName.MODERATOR)
    await grant(alpha, "eddi", "kv", RoleName.EDITOR)
    await grant(alpha, "paul", "kv", None)
    return Net(alpha, beta, resolver)


@pytest.fixture
async def browser(net: Net) -> AsyncIterator[aiohttp.ClientSession]:
    async with browser_client(net.resolver) as session:
        yield session


async def get(browser: aiohttp.ClientSession, url: str, status: int = 200) -> str:
    async with browser.get(url, allow_redirects=False) as resp:
        page = await resp.text()
        assert resp.status == status, page
        return page


async def post(
    browser: aiohttp.ClientSession, url: str, form: dict[str, str], status: int = 303
) -> tuple[str, str]:
    """POST a form; the page (or the redirect's Location) and the body."""
    async with browser.post(url, data=form, allow_redirects=False) as resp:
        page = await resp.text()
        assert resp.status == status, page
        return resp.headers.get("Location", ""), page


async def pending_follows(net: Net) -> int:
    async with net.alpha.sessionmaker() as session:
        n = await session.scalar(
            select(func.count())
            .select_from(Follow)
            .where(Follow.followed_uri == net.kv(), Follow.state == FollowState.PENDING)
        )
    return int(n or 0)


def request_ids(page: str, base: str) -> list[str]:
    return re.findall(re.escape(base) + r"/(\d+)/approve", page)


async def test_follow_requests_approved_and_declined_reach_the_remote_side(
    net: Net, browser: aiohttp.ClientSession
) -> None:
    alpha, beta = net.alpha, net.beta
    await actions.follow(beta.services, "erika", "kv@alpha.test")
    await actions.follow(beta.services, "max", "kv@alpha.test")
    await settle(alpha, beta)
    erika, max_ = beta.actor_uri("erika"), beta.actor_uri("max")
    assert await follow_state(beta, erika, net.kv()) == FollowState.PENDING

    csrf = await sign_in(browser, alpha, "mona", PASSWORD)
    overview = await get(browser, f"{alpha.base_url}/manage")
    assert "Kreisverband" in overview and "Follow requests waiting: 2" in overview
    base = f"{alpha.base_url}/manage/kv/follow_requests"
    page = await get(browser, base)
    assert "erika@beta.test:8443" in page and "max@beta.test:8443" in page
    by_handle = dict(re.findall(r"<h2>([^<]+)</h2>.*?/follow_requests/(\d+)/approve", page, re.S))
    where, _ = await post(
        browser, f"{base}/{by_handle['erika@beta.test:8443']}/approve", {"csrf_token": csrf}
    )
    assert where == "/manage/kv/follow_requests?done=approved"
    assert "The follow request was approved." in await get(browser, alpha.base_url + where)
    await post(browser, f"{base}/{by_handle['max@beta.test:8443']}/decline", {"csrf_token": csrf})
    await settle(alpha, beta)
    assert await follow_state(beta, erika, net.kv()) == FollowState.ACCEPTED
    assert await follow_state(beta, max_, net.kv()) is None  # the Reject arrived
    assert await follow_state(alpha, erika, net.kv()) == FollowState.ACCEPTED
    assert "No follow request waits." in await get(browser, base)

    # Deciding again: the page says why, nothing changes.
    _, page = await post(
        browser,
        f"{base}/{by_handle['erika@beta.test:8443']}/decline",
        {"csrf_token": csrf},
        status=409,
    )
    assert 'role="alert"' in page
    assert await follow_state(alpha, erika, net.kv()) == FollowState.ACCEPTED


async def test_wrong_role_bad_csrf_and_visitors_change_nothing(
    net: Net, browser: aiohttp.ClientSession
) -> None:
    alpha, beta = net.alpha, net.beta
    await actions.follow(beta.services, "erika", "kv@alpha.test")
    await settle(alpha, beta)
    [request] = await actions.list_requests(alpha.services, "kv")
    approve = f"{alpha.base_url}/manage/kv/follow_requests/{request.id}/approve"

    # A visitor is sent to sign in, for pages and forms alike.
    async with browser_client(net.resolver) as visitor:
        where, _ = await post(visitor, approve, {"csrf_token": "x"})
        assert where.startswith("/auth/sign_in?next=")
        async with visitor.get(f"{alpha.base_url}/manage/kv/roles", allow_redirects=False) as resp:
            assert resp.status == 303
    # An editor may not decide follow requests; paul holds no role at all.
    csrf = await sign_in(browser, alpha, "eddi", PASSWORD)
    _, page = await post(browser, approve, {"csrf_token": csrf}, status=403)
    assert "does not allow this" in page
    await get(browser, f"{alpha.base_url}/manage/kv/follow_requests", status=403)
    assert "/follow_requests" not in await get(browser, f"{alpha.base_url}/manage/kv")
    _, page = await post(
        browser,
        f"{alpha.base_url}/manage/kv/roles",
        {"csrf_token": csrf, "username": "eddi", "role": "owner"},
        status=403,
    )
    async with browser_client(net.resolver) as other:
        csrf_paul = await sign_in(other, alpha, "paul", PASSWORD)
        assert "You hold no role" in await get(other, f"{alpha.base_url}/manage")
        await get(other, f"{alpha.base_url}/manage/kv", status=403)
        await get(other, f"{alpha.base_url}/manage/kv/contacts", status=403)
        await post(other, approve, {"csrf_token": csrf_paul}, status=403)
        await get(other, f"{alpha.base_url}/manage/nobody", status=404)
    # The owner's form without the session's token, or with another session's.
    async with browser_client(net.resolver) as owner:
        await sign_in(owner, alpha, "olga", PASSWORD)
        await post(owner, approve, {}, status=403)
        await post(owner, approve, {"csrf_token": csrf}, status=403)
        await post(
            owner,
            f"{alpha.base_url}/manage/kv/roles",
            {"csrf_token": "forged", "username": "paul", "role": "owner"},
            status=403,
        )
    assert await pending_follows(net) == 1
    async with alpha.sessionmaker() as session:
        paul = await accounts.get_user(session, "paul")
        eddi = await accounts.get_user(session, "eddi")
        kv = await get_actor(session, "kv")
        assert await accounts.role_of(session, paul.id, kv.id) is None
        assert await accounts.role_of(session, eddi.id, kv.id) == RoleName.EDITOR


async def test_roles_granted_changed_revoked_and_the_last_owner_stays(
    net: Net, browser: aiohttp.ClientSession
) -> None:
    alpha = net.alpha
    base = f"{alpha.base_url}/manage/kv/roles"
    csrf = await sign_in(browser, alpha, "olga", PASSWORD)
    page = await get(browser, base)
    assert all(name in page for name in ("olga", "mona", "eddi")) and "paul" not in page

    where, _ = await post(browser, base, {"csrf_token": csrf, "username": "Paul", "role": "editor"})
    assert where.endswith("?done=granted")
    assert "The role was granted." in await get(browser, alpha.base_url + where)
    where, _ = await post(
        browser, base, {"csrf_token": csrf, "username": "paul", "role": "moderator"}
    )
    assert where.endswith("?done=changed")
    _, page = await post(
        browser, base, {"csrf_token": csrf, "username": "nobody", "role": "editor"}, status=422
    )
    assert "no user named" in page
    _, page = await post(
        browser, base, {"csrf_token": csrf, "username": "paul", "role": "king"}, status=422
    )

    # The last owner can neither be demoted nor removed; the page says why.
    _, page = await post(
        browser, base, {"csrf_token": csrf, "username": "olga", "role": "editor"}, status=409
    )
    assert "olga is the last owner of kv" in page
    _, page = await post(browser, f"{base}/olga/revoke", {"csrf_token": csrf}, status=409)
    assert "olga is the last owner of kv" in page
    # Once paul is an owner too, olga may step down.
    await post(browser, base, {"csrf_token": csrf, "username": "paul", "role": "owner"})
    where, _ = await post(browser, f"{base}/eddi/revoke", {"csrf_token": csrf})
    assert where.endswith("?done=revoked")
    await post(browser, f"{base}/eddi/revoke", {"csrf_token": csrf}, status=404)
    # Hostile names (NUL, which PostgreSQL refuses) are nobody.
    await post(browser, f"{base}/%00olga/revoke", {"csrf_token": csrf}, status=404)
    await post(
        browser, base, {"csrf_token": csrf, "username": "pa\x00ul", "role": "owner"}, status=303
    )
    _, page = await post(
        browser, base, {"csrf_token": csrf, "username": "<b>x</b>", "role": "owner"}, status=422
    )
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page

    async with alpha.sessionmaker() as session:
        kv = await get_actor(session, "kv")
        roles = {v.username: v.role for v in await accounts.list_roles(session, actor_id=kv.id)}
    assert roles == {"olga": RoleName.OWNER, "mona": RoleName.MODERATOR, "paul": RoleName.OWNER}
    # A moderator sees the staff, but no forms to change it.
    async with browser_client(net.resolver) as mona:
        await sign_in(mona, alpha, "mona", PASSWORD)
        page = await get(mona, base)
        assert "paul" in page and "Grant a role" not in page


async def test_an_organisation_link_offered_from_beta_is_confirmed_on_the_page(
    net: Net, browser: aiohttp.ClientSession
) -> None:
    alpha, beta = net.alpha, net.beta
    await links.offer(beta.services, "bv", "branch", "kv@alpha.test")
    await settle(alpha, beta)
    csrf = await sign_in(browser, alpha, "olga", PASSWORD)
    assert "Link offers waiting: 1" in await get(browser, f"{alpha.base_url}/manage")
    base = f"{alpha.base_url}/manage/kv/links"
    page = await get(browser, base)
    assert "bv@beta.test:8443" in page and "Parent organisation" in page
    [link_id] = re.findall(r"/manage/kv/links/(\d+)/accept", page)

    # An editor may offer links but not confirm them.
    async with browser_client(net.resolver) as eddi:
        csrf_eddi = await sign_in(eddi, alpha, "eddi", PASSWORD)
        await post(eddi, f"{base}/{link_id}/accept", {"csrf_token": csrf_eddi}, status=403)
    where, _ = await post(browser, f"{base}/{link_id}/accept", {"csrf_token": csrf})
    assert where.endswith("?done=accepted")
    await settle(alpha, beta)
    async with beta.sessionmaker() as session:
        [row] = await session.scalars(select(OrgLink))
    assert row.state == LinkState.CONFIRMED
    page = await get(browser, base)
    assert "No offer waits." in page and "Confirmed links" in page
    assert "bv@beta.test:8443" in page
    # bv's side chooses the relayed news of its branch kv (it publishes: an owner).
    [beta_view] = await links.list_links(beta.services, "bv")
    await links.set_relay(beta.services, "bv", str(beta_view.link.id), "tags:klima")
    # Offering with an unknown handle says why and records nothing.
    _, page = await post(
        browser, base, {"csrf_token": csrf, "to": "nobody@alpha.test", "kind": "partner"}, 422
    )
    assert 'role="alert"' in page
    assert len(await links.list_links(alpha.services, "kv", pending=True)) == 0


async def test_relayed_news_of_a_branch_are_chosen_on_the_page(
    net: Net, browser: aiohttp.ClientSession
) -> None:
    alpha, beta = net.alpha, net.beta
    # kv offers beta's bv to be its branch; bv confirms.
    await beta.add_actor("ov", display_name="Ortsverband")
    csrf = await sign_in(browser, alpha, "olga", PASSWORD)
    base = f"{alpha.base_url}/manage/kv/links"
    where, _ = await post(
        browser, base, {"csrf_token": csrf, "to": "ov@beta.test:8443", "kind": "branch"}
    )
    assert where.endswith("?done=offered")
    await settle(alpha, beta)
    [offer] = await links.list_links(beta.services, "ov", pending=True)
    await links.decide_link(beta.services, "ov", str(offer.link.id), accept=True)
    await settle(alpha, beta)
    page = await get(browser, base)
    [link_id] = re.findall(r"/manage/kv/links/(\d+)/relay", page)
    await post(
        browser,
        f"{base}/{link_id}/relay",
        {"csrf_token": csrf, "relay": "tags", "tags": "#Klima, Rad"},
    )
    [view] = await links.list_links(alpha.services, "kv")
    assert view.link.relay == RelayMode.TAGS and view.link.relay_tags == ["klima", "rad"]
    await settle(alpha, beta)
    assert await follow_state(alpha, net.kv(), beta.actor_uri("ov")) == FollowState.ACCEPTED
    # A moderator does not publish, so cannot relay; ending is theirs.
    async with browser_client(net.resolver) as mona:
        csrf_mona = await sign_in(mona, alpha, "mona", PASSWORD)
        await post(mona, f"{base}/{link_id}/relay", {"csrf_token": csrf_mona, "relay": "all"}, 403)
        where, _ = await post(mona, f"{base}/{link_id}/end", {"csrf_token": csrf_mona})
        assert where.endswith("?done=ended")
    await settle(alpha, beta)
    async with beta.sessionmaker() as session:
        [row] = await session.scalars(select(OrgLink))
    assert row.state == LinkState.ENDED


async def test_an_anonymous_contact_request_is_accepted_on_the_page(
    net: Net, browser: aiohttp.ClientSession
) -> None:
    alpha, beta = net.alpha, net.beta
    await actions.send_contact(
        beta.services, "erika", "kv@alpha.test", "Wir möchten mitmachen.", anonymous=True
    )
    await settle(alpha, beta)
    csrf = await sign_in(browser, alpha, "mona", PASSWORD)
    assert "Contact requests waiting: 1" in await get(browser, f"{alpha.base_url}/manage")
    base = f"{alpha.base_url}/manage/kv/contacts"
    page = await get(browser, base)
    assert "Anonymous request" in page and "Wir möchten mitmachen." in page
    assert "Erika" not in page
    [request_id] = re.findall(r"/manage/kv/contacts/(\d+)\"", page)
    thread = await get(browser, f"{base}/{request_id}")
    assert "you learn who they are only if you accept" in thread

    # A reply before deciding travels into the thread on both sides.
    where, _ = await post(
        browser, f"{base}/{request_id}/reply", {"csrf_token": csrf, "message": "Gern! Wer?"}
    )
    assert where.endswith("?done=replied")
    await post(browser, f"{base}/{request_id}/reply", {"csrf_token": csrf, "message": " "}, 422)
    await settle(alpha, beta)
    [sent] = await actions.list_contacts(beta.services, "erika", box=ContactBox.SENT)
    assert [m.text for m in sent.messages] == ["Gern! Wer?"]

    # An editor sees the request but may not decide it.
    async with browser_client(net.resolver) as eddi:
        csrf_eddi = await sign_in(eddi, alpha, "eddi", PASSWORD)
        assert "Accept" not in await get(eddi, f"{base}/{request_id}")
        await post(eddi, f"{base}/{request_id}/accept", {"csrf_token": csrf_eddi}, status=403)

    where, _ = await post(
        browser, f"{base}/{request_id}/accept", {"csrf_token": csrf, "follow_back": "1"}
    )
    assert where.endswith("?done=accepted")
    await settle(alpha, beta)
    [sent] = await actions.list_contacts(beta.services, "erika", box=ContactBox.SENT)
    assert sent.request.state == ContactState.ACCEPTED
    _, page = await post(browser, f"{base}/{request_id}/decline", {"csrf_token": csrf}, 409)
    assert 'role="alert"' in page
    decided = await get(browser, f"{base}?show=decided")
    assert "Accepted" in decided
    assert "No contact request waits." in await get(browser, base)
    await get(browser, f"{base}/999999", status=404)


async def test_a_contact_request_blocked_and_reported_on_the_page(
    net: Net, browser: aiohttp.ClientSession
) -> None:
    alpha, beta = net.alpha, net.beta
    await actions.send_contact(beta.services, "max", "kv@alpha.test", "Kaufen Sie jetzt!")
    await settle(alpha, beta)
    csrf = await sign_in(browser, alpha, "olga", PASSWORD)
    [received] = await actions.list_contacts(alpha.services, "kv", box=ContactBox.RECEIVED)
    base = f"{alpha.base_url}/manage/kv/contacts/{received.request.id}"
    assert "max@beta.test:8443" in await get(browser, base)
    where, _ = await post(
        browser, f"{base}/report", {"csrf_token": csrf, "comment": "Werbung", "decline": "1"}
    )
    assert where.endswith("?done=reported")
    where, _ = await post(browser, f"{base}/block", {"csrf_token": csrf})
    assert where.endswith("?done=blocked")
    await settle(alpha, beta)
    [sent] = await actions.list_contacts(beta.services, "max", box=ContactBox.SENT)
    assert sent.request.state == ContactState.DECLINED
    async with alpha.sessionmaker() as session:
        assert await is_blocked(session, blocker_uri=net.kv(), blocked_uri=beta.actor_uri("max"))
    assert "Declined" in await get(browser, f"{alpha.base_url}/manage/kv/contacts?show=decided")


async def test_the_group_page_removes_members_and_switches_members_only(
    net: Net, browser: aiohttp.ClientSession
) -> None:
    alpha, beta = net.alpha, net.beta
    await grant(alpha, "gabi", "klima", RoleName.OWNER)
    await actions.follow(beta.services, "erika", "klima@alpha.test")
    await actions.follow(beta.services, "max", "klima@alpha.test")
    await settle(alpha, beta)
    csrf = await sign_in(browser, alpha, "gabi", PASSWORD)
    base = f"{alpha.base_url}/manage/klima/group"
    page = await get(browser, base)
    assert "erika@beta.test:8443" in page and "max@beta.test:8443" in page
    assert "/users/klima/feed.rss" in page
    where, _ = await post(
        browser,
        f"{base}/members/remove",
        {"csrf_token": csrf, "member": beta.actor_uri("max")},
    )
    assert where.endswith("?done=removed")
    await settle(alpha, beta)
    assert await follow_state(beta, beta.actor_uri("max"), alpha.actor_uri("klima")) is None
    assert "max@beta.test:8443" not in await get(browser, base)
    # erika's post to the group is shared; the page takes it out again.
    await news_post(beta, "erika", Draft(text="@klima@alpha.test Treffen am Dienstag"))
    await settle(alpha, beta)
    page = await get(browser, base)
    assert "Treffen am Dienstag" in page
    [post_id] = re.findall(r"/manage/klima/group/posts/(\d+)/remove", page)
    where, _ = await post(browser, f"{base}/posts/{post_id}/remove", {"csrf_token": csrf})
    assert where.endswith("?done=post_removed")
    assert "The group has shared no post yet." in await get(browser, base)
    await post(browser, f"{base}/posts/{post_id}/remove", {"csrf_token": csrf}, status=422)
    await settle(alpha, beta)
    where, _ = await post(browser, f"{base}/settings", {"csrf_token": csrf, "members_only": "1"})
    assert where.endswith("?done=members_only")
    async with alpha.sessionmaker() as session:
        klima = await get_actor(session, "klima")
        assert klima.members_only and klima.manually_approves
    # kv is no group; olga holds no role on klima.
    async with browser_client(net.resolver) as olga:
        csrf_olga = await sign_in(olga, alpha, "olga", PASSWORD)
        await get(olga, f"{alpha.base_url}/manage/kv/group", status=404)
        await post(
            olga, f"{base}/settings", {"csrf_token": csrf_olga, "members_only": "0"}, status=403
        )
    page = await get(browser, f"{alpha.base_url}/manage/klima")
    assert 'href="/manage/klima/group"' in page


async def test_pages_read_in_german(net: Net, browser: aiohttp.ClientSession) -> None:
    alpha = net.alpha
    await sign_in(browser, alpha, "olga", PASSWORD)
    async with browser.get(
        f"{alpha.base_url}/manage/kv/roles", headers={"Accept-Language": "de"}
    ) as resp:
        page = await resp.text()
    assert resp.status == 200
    assert "Rolle vergeben" in page
    assert csrf_of(page)


async def test_visitor_messages_are_answered_by_mail_and_closed(
    start_instance: StartInstance, resolver: LoopbackResolver, smtp: Inbox
) -> None:
    alpha = await start_instance("alpha", mail=smtp.config())
    await alpha.add_actor("kv", display_name="Kreisverband")
    await grant(alpha, "mona", "kv", RoleName.MODERATOR)
    await grant(alpha, "eddi", "kv", RoleName.EDITOR)
    now = alpha.services.clock()
    async with alpha.sessionmaker() as session:
        kv = await get_actor(session, "kv")
        row = VisitorContact(
            actor_id=kv.id,
            state=VisitorContactState.OPEN,
            email="besucher@example.org",
            name="Bea Sucher",
            message="Wann trefft ihr euch?",
            region_code="DE-BY",
            interests=["Radverkehr"],
            token_hash=None,
            verify_expires_at=None,
            created_at=now,
            verified_at=now,
        )
        session.add(row)
        await session.commit()
        contact_id = row.id
    base = f"{alpha.base_url}/manage/kv/visitors"
    async with browser_client(resolver) as eddi:
        csrf = await sign_in(eddi, alpha, "eddi", PASSWORD)
        page = await get(eddi, base)
        assert "Bea Sucher" in page and "Send answer" not in page
        await post(eddi, f"{base}/{contact_id}/close", {"csrf_token": csrf}, status=403)
    async with browser_client(resolver) as mona:
        csrf = await sign_in(mona, alpha, "mona", PASSWORD)
        assert "Messages by e-mail waiting: 1" in await get(mona, f"{alpha.base_url}/manage")
        page = await get(mona, base)
        assert "Wann trefft ihr euch?" in page and "Bavaria" in page
        _, page = await post(
            mona, f"{base}/{contact_id}/answer", {"csrf_token": csrf, "message": " "}, 422
        )
        assert 'role="alert"' in page
        where, _ = await post(
            mona,
            f"{base}/{contact_id}/answer",
            {"csrf_token": csrf, "message": "Jeden Dienstag um 19 Uhr."},
        )
        assert where.endswith("?done=answered")
        [mail] = smtp.mails()
        assert mail.envelope_to == ["besucher@example.org"]
        assert "Jeden Dienstag um 19 Uhr." in mail.text
        where, _ = await post(mona, f"{base}/{contact_id}/close", {"csrf_token": csrf})
        assert "No message waits." in await get(mona, alpha.base_url + where)
        await post(mona, f"{base}/{contact_id}/close", {"csrf_token": csrf}, status=404)
    async with alpha.sessionmaker() as session:
        closed = await session.get(VisitorContact, contact_id)
        assert closed is not None
        assert closed.state == VisitorContactState.CLOSED and closed.email is None
