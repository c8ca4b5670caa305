"""Object types beyond Note, with attachments and custom emoji, from peers on hosts with ports.

Shapes follow what each software sends: PeerTube's `Video` (a `url` list of Links, the
web page as `text/html`, `icon` thumbnails), Mobilizon's `Event` (a banner `Document`,
no content), Pixelfed's `Note` with `Image` attachments (blurhash, width, height), a
bare `Image` and `Audio` (Funkwhale), a `Document`. Each goes over real HTTP, signed, into
a real instance; then the client API and the post partial of the pages show it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from actors.models import ActorType
from server.web.pages import TEMPLATES
from server.web.views import post_view
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.fakes import FakeRemote, shared_key
from tests.helpers import settle
from tests.inbox.test_news_handlers import follow_remote, stored
from tests.server.test_api import Api

AS = "https://www.w3.org/ns/activitystreams"
PUBLIC = f"{AS}#Public"


@pytest.fixture
async def alpha(start_instance: StartInstance) -> Instance:
    inst = await start_instance("alpha")
    await inst.add_actor("erika", ActorType.PERSON)
    return inst


@pytest.fixture
async def peers(resolver: LoopbackResolver) -> AsyncIterator[dict[str, FakeRemote]]:
    fakes = {
        name: FakeRemote(host, shared_key())
        for name, host in {
            "peertube": "peertube.example:9000",
            "mobilizon": "mobilizon.example:4000",
            "pixelfed": "pixelfed.example:8080",
            "funkwhale": "funkwhale.example:5000",
        }.items()
    }
    for fake in fakes.values():
        fake.add_person("org")
        await fake.start(resolver)
    yield fakes
    for fake in fakes.values():
        await fake.stop()


async def deliver(
    alpha: Instance, fake: FakeRemote, client: aiohttp.ClientSession, obj: dict[str, object]
) -> dict[str, Any]:
    """Create(obj) from the fake's `org` (followed by erika); the status as the API shows it."""
    actor = f"{fake.base}/users/org"
    if not any(b.get("type") == "Follow" for _, _, b in fake.received):
        await follow_remote(alpha, fake, client, "erika", actor)
    create: dict[str, object] = {
        "@context": AS,
        "id": f"{obj['id']}#create",
        "type": "Create",
        "actor": actor,
        "to": [PUBLIC],
        "cc": [f"{actor}/followers"],
        "object": {"attributedTo": actor, "to": [PUBLIC], "cc": [f"{actor}/followers"], **obj},
    }
    assert await fake.post(client, alpha.base_url + "/inbox", create) == 202
    await settle(alpha)
    row = await stored(alpha, str(obj["id"]))
    assert row is not None, f"{obj['type']} not stored"
    reply = await Api(client, alpha).call("GET", f"/api/v1/statuses/{row.id}")
    assert reply.status == 200
    assert "javascript:" not in json.dumps(reply.json)
    return reply.json


async def test_peertube_video_shows_title_text_link_and_the_video(
    alpha: Instance, peers: dict[str, FakeRemote], client: aiohttp.ClientSession
) -> None:
    base = peers["peertube"].base
    doc = await deliver(
        alpha,
        peers["peertube"],
        client,
        {
            "id": f"{base}/videos/watch/9c9de5e8",
            "type": "Video",
            "name": "Council meeting, March",
            "content": "<p>Recording of the meeting<script>alert(1)</script></p>",
            "mediaType": "text/markdown",
            "duration": "PT3600S",
            "attributedTo": [
                {"type": "Person", "id": f"{base}/users/org"},
                {"type": "Group", "id": f"{base}/video-channels/council"},
            ],
            "url": [
                {"type": "Link", "mediaType": "text/html", "href": f"{base}/w/9c9de5e8"},
                {"type": "Link", "mediaType": "video/mp4", "href": f"{base}/static/9c9-720.mp4",
                 "width": 1280, "height": 720},
                {"type": "Link", "mediaType": "application/x-bittorrent",
                 "href": f"{base}/lazy-static/torrents/9c9-720.torrent"},
            ],
            "icon": [{"type": "Image", "url": f"{base}/lazy-static/thumbnails/9c9.jpg",
                      "mediaType": "image/jpeg", "width": 280, "height": 157}],
        },
    )  # fmt: skip
    assert doc["content"] == (
        "<p><strong>Council meeting, March</strong></p><p>Recording of the meeting</p>"
        f'<p><a href="{base}/w/9c9de5e8" rel="nofollow noopener" target="_blank">'
        f"{base}/w/9c9de5e8</a></p>"
    )
    assert doc["url"] == f"{base}/w/9c9de5e8"
    assert doc["spoiler_text"] == ""
    [video] = doc["media_attachments"]
    assert video["type"] == "video"
    assert video["url"] == video["remote_url"] == f"{base}/static/9c9-720.mp4"
    assert video["preview_url"] == f"{base}/lazy-static/thumbnails/9c9.jpg"
    assert video["description"] == "Council meeting, March"
    assert video["id"].isdigit()


async def test_mobilizon_event_without_content_shows_its_name_and_link(
    alpha: Instance, peers: dict[str, FakeRemote], client: aiohttp.ClientSession
) -> None:
    base = peers["mobilizon"].base
    event_id = f"{base}/events/5b1c"
    doc = await deliver(
        alpha,
        peers["mobilizon"],
        client,
        {
            "id": event_id,
            "type": "Event",
            "name": "Summer fair <3",
            "content": "",
            "startTime": "2027-06-01T10:00:00Z",
            "url": event_id,
            "attachment": [
                {"type": "Document", "mediaType": "image/jpeg", "name": "Banner",
                 "url": f"{base}/media/banner.jpg"},
                {"type": "PropertyValue", "name": "mz:ticket", "value": "free"},
            ],
        },
    )  # fmt: skip
    assert doc["content"] == (
        "<p>Summer fair &lt;3</p>"
        f'<p><a href="{event_id}" rel="nofollow noopener" target="_blank">{event_id}</a></p>'
    )
    [banner] = doc["media_attachments"]
    assert (banner["type"], banner["url"], banner["description"]) == (
        "image",
        f"{base}/media/banner.jpg",
        "Banner",
    )
    assert banner["blurhash"] is None and banner["meta"] == {}


async def test_pixelfed_images_with_alt_blurhash_size_and_emoji_and_no_javascript(
    alpha: Instance, peers: dict[str, FakeRemote], client: aiohttp.ClientSession
) -> None:
    base = peers["pixelfed"].base
    post_id = f"{base}/p/org/77"
    doc = await deliver(
        alpha,
        peers["pixelfed"],
        client,
        {
            "id": post_id,
            "type": "Note",
            "content": "<p>Spring is here :blobcat: :evil:</p>",
            "url": post_id,
            "attachment": [
                {"type": "Image", "mediaType": "image/jpeg", "url": f"{base}/storage/m/1.jpg",
                 "name": "A cherry tree in bloom", "blurhash": "U9Fh~{ay00WB", "width": 1080,
                 "height": 720},
                {"type": "Image", "mediaType": "image/png", "url": "javascript:alert(1)",
                 "name": "evil"},
                {"type": "Document", "mediaType": "image/png",
                 "url": {"type": "Link", "href": "data:image/png;base64,AAAA"}},
                {"type": "Document", "mediaType": "application/pdf",
                 "url": {"type": "Link", "href": f"{base}/storage/m/flyer.pdf"}},
            ],
            "tag": [
                {"type": "Emoji", "name": ":blobcat:",
                 "icon": {"type": "Image", "url": f"{base}/emoji/blobcat.png"}},
                {"type": "Emoji", "name": ":evil:", "icon": {"url": "javascript:alert(1)"}},
            ],
        },
    )  # fmt: skip
    image, flyer = doc["media_attachments"]
    assert image == {
        "id": image["id"],
        "type": "image",
        "url": f"{base}/storage/m/1.jpg",
        "preview_url": f"{base}/storage/m/1.jpg",
        "remote_url": f"{base}/storage/m/1.jpg",
        "preview_remote_url": None,
        "text_url": None,
        "meta": {
            "original": {"width": 1080, "height": 720, "size": "1080x720", "aspect": 1.5},
            "small": {"width": 1080, "height": 720, "size": "1080x720", "aspect": 1.5},
        },
        "description": "A cherry tree in bloom",
        "blurhash": "U9Fh~{ay00WB",
    }
    assert (flyer["type"], flyer["url"], flyer["description"]) == (
        "unknown",
        f"{base}/storage/m/flyer.pdf",
        None,
    )
    assert image["id"] != flyer["id"]
    assert doc["emojis"] == [
        {
            "shortcode": "blobcat",
            "url": f"{base}/emoji/blobcat.png",
            "static_url": f"{base}/emoji/blobcat.png",
            "visible_in_picker": False,
        }
    ]

    # The post partial of our pages: the image inline with its alt text, the PDF as a
    # link, the emoji as an image; nothing that is not http(s).
    row = await stored(alpha, post_id)
    assert row is not None
    macros = alpha.app[TEMPLATES].get("en").get_template("news_macros.html").module
    author = {"profile_url": f"{base}/users/org", "display_name": "Org", "username": "org"}
    html = str(macros.entry(post_view(row), author))  # type: ignore[attr-defined]  # jinja macro
    assert f'<img class="u-photo" src="{base}/storage/m/1.jpg" alt="A cherry tree in bloom"' in html
    assert f'<a href="{base}/storage/m/flyer.pdf" rel="nofollow noopener">unknown file</a>' in html
    assert f'<img class="emoji" src="{base}/emoji/blobcat.png" alt=":blobcat:"' in html
    assert ":evil:" in html and "javascript:" not in html and "data:" not in html


async def test_image_audio_and_document_objects_are_kept_with_their_media(
    alpha: Instance, peers: dict[str, FakeRemote], client: aiohttp.ClientSession
) -> None:
    base = peers["funkwhale"].base
    image = await deliver(
        alpha,
        peers["funkwhale"],
        client,
        {
            "id": f"{base}/photos/1",
            "type": "Image",
            "name": "Sunset over the harbour",
            "url": [{"type": "Link", "mediaType": "image/jpeg", "href": f"{base}/media/sun.jpg"}],
        },
    )
    assert image["content"].startswith("<p>Sunset over the harbour</p>")
    assert [(m["type"], m["url"], m["description"]) for m in image["media_attachments"]] == [
        ("image", f"{base}/media/sun.jpg", "Sunset over the harbour")
    ]
    audio = await deliver(
        alpha,
        peers["funkwhale"],
        client,
        {
            "id": f"{base}/federation/music/uploads/42",
            "type": "Audio",
            "name": "Episode 1: the budget",
            "summary": "Our podcast",
            "url": [
                {"type": "Link", "mediaType": "text/html", "href": f"{base}/library/tracks/42"},
                {"type": "Link", "mediaType": "audio/ogg", "href": f"{base}/api/v1/listen/42"},
                {"type": "Link", "mediaType": "audio/ogg", "href": "javascript:alert(1)"},
            ],
        },
    )
    assert audio["content"] == (
        "<p>Episode 1: the budget</p><p>Our podcast</p>"
        f'<p><a href="{base}/library/tracks/42" rel="nofollow noopener" target="_blank">'
        f"{base}/library/tracks/42</a></p>"
    )
    assert [(m["type"], m["url"]) for m in audio["media_attachments"]] == [
        ("audio", f"{base}/api/v1/listen/42")
    ]
    document = await deliver(
        alpha,
        peers["funkwhale"],
        client,
        {
            "id": f"{base}/docs/minutes",
            "type": "Document",
            "name": "Minutes",
            "content": "<p>The minutes of the general meeting</p>",
            "attachment": [{"type": "Document", "mediaType": "application/pdf",
                            "url": f"{base}/docs/minutes.pdf", "name": "Minutes (PDF)"}],
        },
    )  # fmt: skip
    assert document["content"] == (
        "<p><strong>Minutes</strong></p><p>The minutes of the general meeting</p>"
    )
    assert [(m["type"], m["description"]) for m in document["media_attachments"]] == [
        ("unknown", "Minutes (PDF)")
    ]
