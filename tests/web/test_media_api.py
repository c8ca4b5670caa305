"""Mastodon's media upload API and `media_ids[]` on new posts (issue 16, area A)."""

from __future__ import annotations

import io

import aiohttp
from sqlalchemy import func, select

from actors import accounts
from actors.models import Actor, RoleName, User
from outbox.models import Status
from server import actions
from server.media import MediaFile
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.helpers import settle
from tests.web.test_compose import PASSWORD, alpha, compose_form, jpeg_with_exif, member
from tests.webpages import browser_client, sign_in

__all__ = ["alpha"]  # the fixture, shared with the compose tests


async def token(inst: Instance, username: str, actor: str) -> dict[str, str]:
    async with inst.sessionmaker() as session:
        user = await session.scalar(select(User).where(User.username == username))
        target = await session.scalar(select(Actor).where(Actor.username_key == actor))
        assert user is not None and target is not None
        issued = await accounts.create_token(
            session, user=user, actor=target, scopes=["read", "write"], now=inst.services.clock()
        )
        await session.commit()
    return {"Authorization": f"Bearer {issued.token}"}


def upload_form(data: bytes, description: str = "") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("file", io.BytesIO(data), filename="photo.jpg", content_type="image/jpeg")
    if description:
        form.add_field("description", description)
    return form


async def test_upload_describe_and_post_with_media_ids(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    anna = await token(alpha, "anna", "news")
    base = alpha.base_url
    async with client.post(
        f"{base}/api/v2/media", data=upload_form(jpeg_with_exif(), "First"), headers=anna
    ) as resp:
        assert resp.status == 200, await resp.text()
        media = await resp.json()
    assert media["type"] == "image" and media["description"] == "First"
    assert media["meta"]["original"]["size"] == "64x48"
    async with client.put(
        f"{base}/api/v1/media/{media['id']}", data={"description": "A red square"}, headers=anna
    ) as resp:
        assert (await resp.json())["description"] == "A red square"
    # Bob may neither see nor use Anna's upload.
    bob = await token(alpha, "bob", "bob")
    async with client.get(f"{base}/api/v1/media/{media['id']}", headers=bob) as resp:
        assert resp.status == 404
    async with client.post(
        f"{base}/api/v1/statuses", data={"status": "x", "media_ids[]": media["id"]}, headers=bob
    ) as resp:
        assert resp.status == 422
    async with client.post(
        f"{base}/api/v1/statuses",
        data={"status": "With a picture", "media_ids[]": media["id"]},
        headers=anna,
    ) as resp:
        assert resp.status == 200, await resp.text()
        status = await resp.json()
    (attachment,) = status["media_attachments"]
    assert attachment["url"] == media["url"] and attachment["description"] == "A red square"
    # Used once only.
    async with client.post(
        f"{base}/api/v1/statuses",
        data={"status": "Again", "media_ids[]": media["id"]},
        headers=anna,
    ) as resp:
        assert resp.status == 422
    async with client.get(media["url"]) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "image/jpeg"


async def test_hostile_api_uploads_are_refused(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    anna = await token(alpha, "anna", "news")
    for data in (b"<svg onload=alert(1)></svg>", b"GIF89a/*x*/alert(1)", b"not an image"):
        async with client.post(
            f"{alpha.base_url}/api/v1/media", data=upload_form(data), headers=anna
        ) as resp:
            assert resp.status == 422
            assert "error" in await resp.json()
    async with client.post(f"{alpha.base_url}/api/v2/media", data=upload_form(b"")) as resp:
        assert resp.status == 401
    async with alpha.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(MediaFile)) == 0
        assert await session.scalar(select(func.count()).select_from(Status)) == 0


async def test_moderators_may_not_upload(alpha: Instance, client: aiohttp.ClientSession) -> None:
    async with alpha.sessionmaker() as session:
        user = await session.scalar(select(User).where(User.username == "bob"))
        news = await session.scalar(select(Actor).where(Actor.username_key == "news"))
        assert user is not None and news is not None
        await accounts.grant_role(
            session, user=user, actor=news, role=RoleName.MODERATOR, now=alpha.services.clock()
        )
        await session.commit()
    bob = await token(alpha, "bob", "news")
    async with client.post(
        f"{alpha.base_url}/api/v2/media", data=upload_form(jpeg_with_exif()), headers=bob
    ) as resp:
        assert resp.status == 403


async def test_notifications_api_uses_the_same_query(
    alpha: Instance,
    start_instance: StartInstance,
    resolver: LoopbackResolver,
    client: aiohttp.ClientSession,
) -> None:
    beta = await start_instance("beta", domain="beta.test:8443")
    await member(beta, "erika")
    await actions.follow(beta.services, "erika", "news@alpha.test")
    await settle(alpha, beta)
    async with browser_client(resolver) as erika:
        csrf = await sign_in(erika, beta, "erika", PASSWORD)
        form = compose_form(csrf, text="Thanks @anna@alpha.test", action="publish")
        async with erika.post(f"{beta.base_url}/compose", data=form) as resp:
            assert resp.status == 200
    await settle(alpha, beta)
    async with client.get(
        f"{alpha.base_url}/api/v1/notifications", headers=await token(alpha, "anna", "news")
    ) as resp:
        assert resp.status == 200
        (follow,) = await resp.json()
    assert follow["type"] == "follow" and follow["account"]["acct"] == "erika@beta.test:8443"
    assert "status" not in follow
    own = await token(alpha, "anna", "anna")
    async with client.get(f"{alpha.base_url}/api/v1/notifications", headers=own) as resp:
        (mention,) = await resp.json()
    assert mention["type"] == "mention" and "Thanks" in mention["status"]["content"]
    async with client.get(
        f"{alpha.base_url}/api/v1/notifications?exclude_types[]=mention", headers=own
    ) as resp:
        assert await resp.json() == []
    async with client.get(
        f"{alpha.base_url}/api/v1/notifications?max_id={mention['id']}", headers=own
    ) as resp:
        assert await resp.json() == []
