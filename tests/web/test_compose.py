"""Compose, images, the home timeline and notifications in the browser (issue 16, area A),
over real HTTP between complete instances."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import aiohttp
import pytest
from PIL import Image
from sqlalchemy import func, select

from actors import accounts
from actors.local import create_actor
from actors.models import Actor, ActorType, RoleName, User
from outbox.models import Status
from server import actions
from server.media import MediaFile, media_folder
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.helpers import settle
from tests.webpages import browser_client, create_person, csrf_of, sign_in

PASSWORD = "a long enough password"
HTML = {"Accept": "text/html"}


async def member(inst: Instance, username: str, roles: dict[str, RoleName] | None = None) -> None:
    """A person with a login and their own person actor (owner), plus roles on others."""
    await create_person(inst, username, PASSWORD)
    async with inst.sessionmaker() as session:
        user = await session.scalar(select(User).where(User.username == username))
        assert user is not None
        now = inst.services.clock()
        own = await create_actor(session, username=username, type_=ActorType.PERSON)
        await accounts.grant_role(session, user=user, actor=own, role=RoleName.OWNER, now=now)
        for name, role in (roles or {}).items():
            actor = await session.scalar(select(Actor).where(Actor.username_key == name))
            assert actor is not None
            await accounts.grant_role(session, user=user, actor=actor, role=role, now=now)
        await session.commit()


def jpeg_with_exif(size: tuple[int, int] = (64, 48)) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Inc."  # Make
    exif[0x8825] = {2: (52.0, 31.0, 0.0)}  # GPSInfo: a latitude
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` by `height` pixels (a decompression bomb)."""
    out = io.BytesIO()
    Image.new("L", (1, 1)).save(out, "PNG")
    data = bytearray(out.getvalue())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def compose_form(csrf: str, **fields: str | bytes) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("csrf_token", csrf)
    for name, value in fields.items():
        if isinstance(value, bytes):
            form.add_field(
                name, io.BytesIO(value), filename=f"{name}.bin", content_type="image/jpeg"
            )
        else:
            form.add_field(name, value)
    return form


async def count(inst: Instance, model: type[Status] | type[MediaFile]) -> int:
    async with inst.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
async def alpha(start_instance: StartInstance) -> Instance:
    inst = await start_instance("alpha")
    await inst.add_actor("news", display_name="Alpha News")
    await member(inst, "anna", {"news": RoleName.EDITOR})
    await member(inst, "bob")
    return inst


async def test_compose_with_image_federates_and_shows(
    alpha: Instance,
    start_instance: StartInstance,
    client: aiohttp.ClientSession,
    resolver: LoopbackResolver,
) -> None:
    beta = await start_instance("beta", domain="beta.test:8443")
    await member(beta, "erika")
    await actions.follow(beta.services, "erika", "news@alpha.test")
    await settle(alpha, beta)
    browser = browser_client(resolver)
    async with browser:
        await sign_in(browser, alpha, "anna", PASSWORD)
        async with browser.get(f"{alpha.base_url}/compose?actor=news") as resp:
            assert resp.status == 200
            page = await resp.text()
        assert 'name="actor"' in page and "Alpha News" in page
        form = compose_form(
            csrf_of(page),
            text="News with a **picture** #garden",
            spoiler="",
            visibility="public",
            language="en",
            file1=jpeg_with_exif(),
            alt1="A red square",
            action="publish",
        )
        form.add_field("actor", "news")
        async with browser.post(
            f"{alpha.base_url}/compose", data=form, allow_redirects=False
        ) as resp:
            assert resp.status == 303, await resp.text()
            post_url = resp.headers["Location"]
        assert post_url.startswith(f"{alpha.base_url}/@news/")
        # The post page shows the image with its alt text, and staff who wrote it.
        async with browser.get(post_url, headers=HTML) as resp:
            page = await resp.text()
        assert 'alt="A red square"' in page and "<strong>picture</strong>" in page
        assert "Written by anna" in page
    # Visitors never see who wrote it.
    async with client.get(post_url, headers=HTML) as resp:
        page = await resp.text()
    assert 'alt="A red square"' in page and "Written by" not in page

    async with alpha.sessionmaker() as session:
        post = await session.scalar(select(Status).where(Status.url == post_url))
        assert post is not None
        stored = (await session.scalars(select(MediaFile))).one()
    assert post.author_user_id is not None and stored.status_id == post.id
    media_url = f"{alpha.base_url}/media/{stored.name}"
    assert post.attachments == [
        {
            "kind": "image",
            "url": media_url,
            "media_type": "image/jpeg",
            "description": "A red square",
            "width": 64,
            "height": 48,
        }
    ]
    # The file: served with long caching and nosniff, and no EXIF left in it.
    async with client.get(media_url) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "image/jpeg"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert "max-age=31536000" in resp.headers["Cache-Control"]
        body = await resp.read()
    served = Image.open(io.BytesIO(body))
    assert served.size == (64, 48) and not served.getexif() and b"SpyCam" not in body
    # The Note federates the attachment as Mastodon sends it.
    async with client.get(post.uri, headers={"Accept": "application/activity+json"}) as resp:
        note = await resp.json(content_type=None)
    assert note["attachment"] == [
        {
            "type": "Document",
            "url": media_url,
            "mediaType": "image/jpeg",
            "name": "A red square",
            "width": 64,
            "height": 48,
        }
    ]
    await settle(alpha, beta)
    async with beta.sessionmaker() as session:
        received = await session.scalar(select(Status).where(Status.uri == post.uri))
    assert received is not None
    assert received.attachments[0]["url"] == media_url
    assert received.attachments[0]["description"] == "A red square"
    # Erika sees it in her home timeline on beta, with the image and its alt text.
    erika = browser_client(resolver)
    async with erika:
        await sign_in(erika, beta, "erika", PASSWORD)
        async with erika.get(f"{beta.base_url}/home") as resp:
            assert resp.status == 200
            home = await resp.text()
    assert "Alpha News" in home and 'alt="A red square"' in home and media_url in home


async def signed_in(
    resolver: LoopbackResolver, inst: Instance, username: str
) -> tuple[aiohttp.ClientSession, str]:
    browser = browser_client(resolver)
    csrf = await sign_in(browser, inst, username, PASSWORD)
    return browser, csrf


async def test_preview_renders_markdown_and_publishes_nothing(
    alpha: Instance, resolver: LoopbackResolver
) -> None:
    browser, csrf = await signed_in(resolver, alpha, "anna")
    async with browser:
        form = compose_form(
            csrf, text="Hello **world**", spoiler="Spoilers", action="preview", file1=b""
        )
        async with browser.post(f"{alpha.base_url}/compose", data=form) as resp:
            assert resp.status == 200
            page = await resp.text()
    assert "<strong>world</strong>" in page and "<summary>Spoilers</summary>" in page
    # The form keeps what was typed.
    assert ">Hello **world**</textarea>" in page and 'value="Spoilers"' in page
    assert await count(alpha, Status) == 0


async def test_preview_keeps_images_and_publish_needs_alt_text(
    alpha: Instance, resolver: LoopbackResolver
) -> None:
    browser, csrf = await signed_in(resolver, alpha, "anna")
    async with browser:
        form = compose_form(csrf, text="A photo", action="preview", file1=jpeg_with_exif())
        async with browser.post(f"{alpha.base_url}/compose", data=form) as resp:
            assert resp.status == 200
            page = await resp.text()
        async with alpha.sessionmaker() as session:
            stored = (await session.scalars(select(MediaFile))).one()
        assert f'name="media1" value="{stored.id}"' in page
        # Publishing without a description is refused; the image stays in the form.
        form = compose_form(csrf, text="A photo", action="publish", media1=str(stored.id))
        async with browser.post(f"{alpha.base_url}/compose", data=form) as resp:
            assert resp.status == 422
            page = await resp.text()
        assert "Every image needs a description" in page
        assert f'name="media1" value="{stored.id}"' in page
        assert await count(alpha, Status) == 0
        form = compose_form(
            csrf, text="A photo", action="publish", media1=str(stored.id), alt1="Red"
        )
        async with browser.post(
            f"{alpha.base_url}/compose", data=form, allow_redirects=False
        ) as resp:
            assert resp.status == 303
        # Bob cannot take Anna's image into a post of his.
        bob, bob_csrf = await signed_in(resolver, alpha, "bob")
        async with bob:
            form = compose_form(
                bob_csrf, text="Mine", action="publish", media1=str(stored.id), alt1="x"
            )
            async with bob.post(f"{alpha.base_url}/compose", data=form) as resp:
                assert resp.status == 403
    async with alpha.sessionmaker() as session:
        posts = list(await session.scalars(select(Status)))
    assert [p.actor_uri for p in posts] == [alpha.actor_uri("anna")]
    assert posts[0].attachments[0]["description"] == "Red"


async def test_bad_csrf_and_missing_role_are_refused(
    alpha: Instance, resolver: LoopbackResolver, client: aiohttp.ClientSession
) -> None:
    browser, csrf = await signed_in(resolver, alpha, "bob")
    async with browser:
        form = compose_form("not-the-token", text="Hi", action="publish", file1=jpeg_with_exif())
        async with browser.post(f"{alpha.base_url}/compose", data=form) as resp:
            assert resp.status == 403
            assert "expired" in await resp.text()
        # Bob holds no role on the organisation: neither the form nor posting as it.
        async with browser.get(f"{alpha.base_url}/compose?actor=news", headers=HTML) as resp:
            assert resp.status == 403
        form = compose_form(csrf, text="Hi", action="publish")
        form.add_field("actor", "news")
        async with browser.post(f"{alpha.base_url}/compose", data=form) as resp:
            assert resp.status == 403
            assert "You may not do this" in await resp.text()
    # Visitors are sent to sign in.
    async with client.get(f"{alpha.base_url}/compose", allow_redirects=False) as resp:
        assert resp.status == 303
        assert resp.headers["Location"].startswith("/auth/sign_in?next=")
    assert await count(alpha, Status) == 0 and await count(alpha, MediaFile) == 0


def files_in(folder: Path) -> list[Path]:
    return list(folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize(
    ("kind", "data", "status"),
    [
        ("text", b"just some text, not an image at all", 422),
        (
            "svg",
            b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
            b"<script>alert(1)</script></svg>",
            422,
        ),
        ("html", b"<!DOCTYPE html><script>alert(document.cookie)</script>", 422),
        # A GIF header in front of a script: a GIF/JavaScript polyglot that no decoder reads.
        ("gif-polyglot", b"GIF89a/*\x00\x00*/=1;alert(document.domain);//" + b"\x00" * 64, 422),
        ("png-bomb", png_claiming(60_000, 60_000), 422),
        ("truncated-jpeg", jpeg_with_exif()[:200], 422),
        ("too-big", b"\xff\xd8\xff" + b"\x00" * (10 * 1024 * 1024 + 10), 413),
    ],
)
async def test_hostile_uploads_are_refused_and_nothing_is_stored(
    alpha: Instance, resolver: LoopbackResolver, kind: str, data: bytes, status: int
) -> None:
    browser, csrf = await signed_in(resolver, alpha, "anna")
    async with browser:
        form = compose_form(
            csrf, text="Look", action="publish", file1=data, alt1="x", file2=jpeg_with_exif()
        )
        async with browser.post(f"{alpha.base_url}/compose", data=form, headers=HTML) as resp:
            assert resp.status == status, kind
            page = await resp.text()
    assert "<html" in page  # a page that says why, not a bare error
    assert await count(alpha, Status) == 0 and await count(alpha, MediaFile) == 0
    assert files_in(media_folder(alpha.config)) == []


async def test_polyglot_tail_does_not_survive(alpha: Instance, resolver: LoopbackResolver) -> None:
    """A real JPEG with a page appended is stored as its pixels only."""
    payload = b"<html><script>alert(1)</script></html>"
    browser, csrf = await signed_in(resolver, alpha, "anna")
    async with browser:
        form = compose_form(csrf, text="x", action="preview", file1=jpeg_with_exif() + payload)
        async with browser.post(f"{alpha.base_url}/compose", data=form) as resp:
            assert resp.status == 200
    (stored,) = files_in(media_folder(alpha.config))
    assert payload not in stored.read_bytes() and b"SpyCam" not in stored.read_bytes()


async def test_media_without_a_row_is_not_served(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    folder = media_folder(alpha.config)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "AAAAAAAAAAAAAAAAAAAAAAAA.jpg").write_bytes(jpeg_with_exif())
    for name in ("AAAAAAAAAAAAAAAAAAAAAAAA.jpg", "..%2Fsecret.jpg", "nope"):
        async with client.get(f"{alpha.base_url}/media/{name}") as resp:
            assert resp.status == 404, name


async def test_home_timeline_live_updates_and_paging(
    alpha: Instance, resolver: LoopbackResolver, client: aiohttp.ClientSession
) -> None:
    browser, csrf = await signed_in(resolver, alpha, "anna")
    async with browser:
        async with browser.get(f"{alpha.base_url}/home") as resp:
            page = await resp.text()
        assert 'data-since="0"' in page and "/static/live.js?v=" in page
        script = page.split('<script src="', 1)[1].split('"', 1)[0]
        async with client.get(f"{alpha.base_url}{script}") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/javascript")
            assert "immutable" in resp.headers["Cache-Control"]
        async with browser.get(f"{alpha.base_url}/home/updates?since=0") as resp:
            assert (await resp.json())["count"] == 0
        for n in range(3):
            form = compose_form(
                csrf, text=f"Post number {n}", spoiler="CW" if n == 2 else "", action="publish"
            )
            async with browser.post(
                f"{alpha.base_url}/compose", data=form, allow_redirects=False
            ) as resp:
                assert resp.status == 303
        async with browser.get(f"{alpha.base_url}/home/updates?since=0") as resp:
            update = await resp.json()
        assert update["count"] == 3 and update["announce"] == "3 new posts"
        assert update["html"].index("Post number 2") < update["html"].index("Post number 0")
        assert '<details><summary class="p-summary">CW</summary>' in update["html"]
        async with browser.get(
            f"{alpha.base_url}/home/updates?since={update['newest']}",
            headers={"Accept-Language": "de"},
        ) as resp:
            assert (await resp.json())["count"] == 0
        async with browser.get(f"{alpha.base_url}/home") as resp:
            page = await resp.text()
        assert f'data-since="{update["newest"]}"' in page
        assert page.count('class="timeline-entry"') == 3
        # Someone else's timeline, or a visitor's request, is refused.
        async with browser.get(f"{alpha.base_url}/home?actor=bob") as resp:
            assert resp.status == 403
    async with client.get(f"{alpha.base_url}/home/updates?since=0") as resp:
        assert resp.status == 401


async def test_notifications_list_follows_and_requests(
    alpha: Instance, start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    beta = await start_instance("beta", domain="beta.test:8443")
    await member(beta, "erika")
    await alpha.add_actor("kv", display_name="Kreisverband", manually_approves=True)
    await member(alpha, "carla", {"news": RoleName.MODERATOR, "kv": RoleName.OWNER})
    await actions.follow(beta.services, "erika", "news@alpha.test")
    await actions.follow(beta.services, "erika", "kv@alpha.test")
    await settle(alpha, beta)
    browser, _ = await signed_in(resolver, alpha, "carla")
    async with browser:
        async with browser.get(f"{alpha.base_url}/notifications?actor=news") as resp:
            assert resp.status == 200
            page = await resp.text()
        assert "erika" in page and "followed you." in page
        async with browser.get(f"{alpha.base_url}/notifications?actor=kv") as resp:
            page = await resp.text()
        assert "erika" in page and "asked to follow you." in page
        async with browser.get(f"{alpha.base_url}/notifications") as resp:
            page = await resp.text()
        assert "No notifications yet." in page  # her own person actor, so far
    # Erika mentions Carla from beta, writing on beta's compose page.
    erika, erika_csrf = await signed_in(resolver, beta, "erika")
    async with erika:
        form = compose_form(erika_csrf, text="Hello @carla@alpha.test!", action="publish")
        async with erika.post(f"{beta.base_url}/compose", data=form, allow_redirects=False) as resp:
            assert resp.status == 303
    await settle(alpha, beta)
    browser, _ = await signed_in(resolver, alpha, "carla")
    async with browser, browser.get(f"{alpha.base_url}/notifications") as resp:
        page = await resp.text()
    assert "erika" in page and "mentioned you." in page
    bob, _ = await signed_in(resolver, alpha, "bob")
    async with bob, bob.get(f"{alpha.base_url}/notifications?actor=news") as resp:
        assert resp.status == 403
