"""Avatar and header images of actors a person may edit (issue 16, area A)."""

from __future__ import annotations

import io

import aiohttp
from PIL import Image
from sqlalchemy import func, select

from actors.models import RemoteActor
from server import actions
from server.media import MediaFile
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.helpers import settle
from tests.web.test_compose import HTML, PASSWORD, alpha, jpeg_with_exif, member
from tests.webpages import browser_client, csrf_of, sign_in

__all__ = ["alpha"]  # the fixture, shared with the compose tests

AP = {"Accept": "application/activity+json"}


def image_form(csrf: str, which: str, action: str, data: bytes | None = None) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for name, value in (("csrf_token", csrf), ("actor", "news"), ("which", which)):
        form.add_field(name, value)
    form.add_field("action", action)
    if data is not None:
        form.add_field("file", io.BytesIO(data), filename="x.png", content_type="image/png")
    return form


async def test_avatar_and_header_federate_and_show(
    alpha: Instance,
    start_instance: StartInstance,
    resolver: LoopbackResolver,
    client: aiohttp.ClientSession,
) -> None:
    beta = await start_instance("beta", domain="beta.test:8443")
    await member(beta, "erika")
    await actions.follow(beta.services, "erika", "news@alpha.test")
    await settle(alpha, beta)
    big = io.BytesIO()
    Image.new("RGB", (3000, 1000), (10, 120, 60)).save(big, "PNG")
    async with browser_client(resolver) as browser:
        await sign_in(browser, alpha, "anna", PASSWORD)
        async with browser.get(f"{alpha.base_url}/settings/images?actor=news") as resp:
            assert resp.status == 200
            csrf = csrf_of(await resp.text())
        for which, data in (("avatar", jpeg_with_exif((800, 800))), ("header", big.getvalue())):
            async with browser.post(
                f"{alpha.base_url}/settings/images", data=image_form(csrf, which, "upload", data)
            ) as resp:
                assert resp.status == 200
                assert "Saved." in await resp.text()
        async with client.get(alpha.actor_uri("news"), headers=AP) as resp:
            doc = await resp.json(content_type=None)
        assert doc["icon"]["url"].startswith(f"{alpha.base_url}/media/")
        assert doc["image"]["url"].startswith(f"{alpha.base_url}/media/")
        async with client.get(doc["image"]["url"]) as resp:
            header = Image.open(io.BytesIO(await resp.read()))
        assert header.size == (1500, 500)
        async with client.get(f"{alpha.base_url}/@news", headers=HTML) as resp:
            page = await resp.text()
        assert doc["icon"]["url"] in page and doc["image"]["url"] in page
        await settle(alpha, beta)
        async with beta.sessionmaker() as session:
            remote = await session.scalar(
                select(RemoteActor).where(RemoteActor.uri == alpha.actor_uri("news"))
            )
        assert remote is not None and remote.icon_url == doc["icon"]["url"]
        # Removing the avatar takes it out of the document.
        async with browser.post(
            f"{alpha.base_url}/settings/images", data=image_form(csrf, "avatar", "remove")
        ) as resp:
            assert resp.status == 200
        async with client.get(alpha.actor_uri("news"), headers=AP) as resp:
            doc = await resp.json(content_type=None)
        assert "icon" not in doc and "image" in doc


async def test_images_need_a_role_and_a_real_image(
    alpha: Instance, resolver: LoopbackResolver
) -> None:
    async with browser_client(resolver) as browser:
        csrf = await sign_in(browser, alpha, "bob", PASSWORD)
        async with browser.get(f"{alpha.base_url}/settings/images?actor=news") as resp:
            assert resp.status == 403
        form = image_form(csrf, "avatar", "upload", jpeg_with_exif())
        async with browser.post(f"{alpha.base_url}/settings/images", data=form) as resp:
            assert resp.status == 403
    async with browser_client(resolver) as browser:
        csrf = await sign_in(browser, alpha, "anna", PASSWORD)
        form = image_form(csrf, "avatar", "upload", b"<svg onload=alert(1)></svg>")
        async with browser.post(f"{alpha.base_url}/settings/images", data=form) as resp:
            assert resp.status == 422
        form = image_form("wrong", "avatar", "upload", jpeg_with_exif())
        async with browser.post(f"{alpha.base_url}/settings/images", data=form) as resp:
            assert resp.status == 403
    async with alpha.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(MediaFile)) == 0
