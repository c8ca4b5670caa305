"""`/follows` over real HTTP across two instances (issue 16): following a remote actor
by handle (WebFinger, then Follow) on an instance whose domain carries a port, unfollowing,
approving and declining follow requests of a locked person, removing a follower;
another person's requests and hostile forms refused with nothing changed."""

from __future__ import annotations

from sqlalchemy import select

from actors.models import ActorType, Follow, FollowState
from server import actions
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.helpers import settle
from tests.web.member import PASSWORD, member, page, post
from tests.webpages import browser_client, sign_in


async def follow_rows(inst: Instance) -> list[tuple[str, str, str]]:
    async with inst.sessionmaker() as session:
        rows = await session.scalars(select(Follow).order_by(Follow.id))
        return [(f.follower_uri, f.followed_uri, f.state.value) for f in rows]


async def test_follow_a_remote_actor_by_handle_and_unfollow(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha = await start_instance("alpha")
    beta = await start_instance("beta", domain="beta.test:8443")
    await beta.add_actor("news", display_name="Beta News")
    await beta.add_actor("closed", manually_approves=True)
    await member(alpha, "anna")
    url = f"{alpha.base_url}/follows"
    async with browser_client(resolver) as browser:
        csrf = await sign_in(browser, alpha, "anna", PASSWORD)
        text = await page(browser, url)
        assert "Follow someone" in text and "Not following anyone yet." in text
        location, _ = await post(
            browser, f"{url}/follow", {"csrf_token": csrf, "handle": "@news@beta.test:8443"}
        )
        assert location == "/follows?done=followed&handle=news@beta.test:8443"
        await settle(alpha, beta)
        text = await page(browser, f"{alpha.base_url}{location}")
        assert "You now follow news@beta.test:8443." in text
        assert ">Beta News</a>" in text and "@news@beta.test:8443" in text
        news = beta.actor_uri("news")
        assert (alpha.actor_uri("anna"), news, "accepted") in await follow_rows(alpha)
        assert (alpha.actor_uri("anna"), news, "accepted") in await follow_rows(beta)
        # A locked actor: pending until approved, shown under "Requests you sent".
        location, _ = await post(
            browser, f"{url}/follow", {"csrf_token": csrf, "handle": "closed@beta.test:8443"}
        )
        assert "done=requested" in location
        await settle(alpha, beta)
        text = await page(browser, url)
        assert "Requests you sent" in text and "closed@beta.test:8443" in text
        # An unknown handle or nonsense: 422 with the reason, nothing recorded.
        _, text = await post(
            browser, f"{url}/follow", {"csrf_token": csrf, "handle": "nobody@beta.test:8443"}, 422
        )
        assert 'role="alert"' in text and 'value="nobody@beta.test:8443"' in text
        await post(browser, f"{url}/follow", {"csrf_token": csrf, "handle": "not a handle"}, 422)
        # CSRF: 403, nothing sent.
        await post(browser, f"{url}/unfollow", {"csrf_token": "x", "uri": news}, 403)
        # Unfollowing someone not followed: 404.
        await post(
            browser, f"{url}/unfollow", {"csrf_token": csrf, "uri": beta.actor_uri("x")}, 404
        )
        location, _ = await post(browser, f"{url}/unfollow", {"csrf_token": csrf, "uri": news})
        assert location == "/follows?done=unfollowed"
        await settle(alpha, beta)
        assert [r for r in await follow_rows(beta) if r[1] == news] == []
        assert [r for r in await follow_rows(alpha) if r[1] == news] == []


async def test_a_locked_person_approves_declines_and_removes_followers(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha = await start_instance("alpha")
    beta = await start_instance("beta", domain="beta.test:8443")
    await member(alpha, "anna", locked=True)
    await member(alpha, "mallory")
    for name in ("bert", "carl"):
        await beta.add_actor(name, ActorType.PERSON, display_name=name.title())
        await actions.follow(beta.services, name, "anna@alpha.test")
    await settle(alpha, beta)
    requests = await actions.list_requests(alpha.services, "anna")
    ids = {r.handle: r.id for r in requests}
    assert set(ids) == {"bert@beta.test:8443", "carl@beta.test:8443"}
    url = f"{alpha.base_url}/follows"
    async with browser_client(resolver) as browser:
        csrf = await sign_in(browser, alpha, "mallory", PASSWORD)
        # Another person cannot decide anna's requests: 404, nothing changed.
        bert = ids["bert@beta.test:8443"]
        await post(browser, f"{url}/requests/{bert}/approve", {"csrf_token": csrf}, 404)
        await post(
            browser, f"{url}/requests/{bert}/approve", {"csrf_token": csrf, "actor": "anna"}, 404
        )
        text = await page(browser, f"{url}?actor=anna", status=404)
        assert "bert" not in text
    async with browser_client(resolver) as browser:
        csrf = await sign_in(browser, alpha, "anna", PASSWORD)
        text = await page(browser, url)
        assert "Follow requests received" in text and "@bert@beta.test:8443" in text
        await post(browser, f"{url}/requests/{bert}/approve", {"csrf_token": "x"}, 403)
        location, _ = await post(browser, f"{url}/requests/{bert}/approve", {"csrf_token": csrf})
        assert "done=approved" in location
        carl = ids["carl@beta.test:8443"]
        location, _ = await post(browser, f"{url}/requests/{carl}/decline", {"csrf_token": csrf})
        assert "done=declined" in location
        await settle(alpha, beta)
        anna = alpha.actor_uri("anna")
        assert await follow_rows(beta) == [(beta.actor_uri("bert"), anna, "accepted")]
        text = await page(browser, url)
        assert "No follow requests are waiting." in text and "Followers (1)" in text
        # Remove bert again (Reject of the accepted Follow).
        await post(
            browser, f"{url}/remove", {"csrf_token": csrf, "uri": beta.actor_uri("carl")}, 404
        )
        await post(browser, f"{url}/remove", {"csrf_token": csrf, "uri": beta.actor_uri("bert")})
        await settle(alpha, beta)
        assert await follow_rows(beta) == []
        assert [r for r in await follow_rows(alpha) if r[2] == FollowState.ACCEPTED] == []
