"""Writing a post in the browser (issue 16): `/compose`.

Markdown text with a preview (the "Preview" button posts the form back and the page
shows the rendered HTML: no JavaScript needed), a content warning, the visibility, the
language, up to four images each with its required description (alt text), and the
actor to post as: the person's own, or an organisation or group whose role allows
publishing (`actors.accounts.can`). Publishing is `outbox.posts.publish`, as for the
API and the CLI; the post records the person who wrote it (`author_user_id`).

Images are checked and stored (`server.media`) as soon as the form is sent, previews
included, so that they need not be chosen again; the form then carries their ids. A
file that is not an accepted image refuses the whole form (422) and stores nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from actors.accounts import Action
from actors.models import Actor, RoleName
from federation.media import MAX_ALT_TEXT, MAX_ATTACHMENTS
from outbox import posts
from outbox.content import render_content
from outbox.models import Status, Visibility
from outbox.queries import LISTED
from server import keys
from server.media import (
    MediaError,
    MediaFile,
    ProcessedImage,
    attachment_of,
    media_folder,
    media_url,
    process_image,
    read_multipart,
    store_image,
    unattached_media,
)
from server.web.errors import with_error_pages
from server.web.forms import check_csrf, require_viewer
from server.web.i18n import translate
from server.web.layout import html_page
from server.web.timeline import acting_actor
from server.web.viewer import Viewer

__all__ = ["LANGUAGE_CHOICES", "add_compose_routes"]

# Languages offered for a post, each named in itself (the reader's own name for it).
LANGUAGE_CHOICES: Final = (
    ("de", "Deutsch"),
    ("en", "English"),
    ("fr", "Français"),
    ("it", "Italiano"),
    ("es", "Español"),
    ("nl", "Nederlands"),
    ("pl", "Polski"),
    ("tr", "Türkçe"),
    ("uk", "Українська"),
    ("ru", "Русский"),
    ("ar", "العربية"),
)


@dataclass
class Slot:
    """One of the form's image places: an image already stored, or an empty file input."""

    index: int
    media: MediaFile | None = None
    alt: str = ""
    url: str = ""


def _page(
    request: web.Request,
    viewer: Viewer,
    *,
    choices: list[tuple[str, str]],
    values: dict[str, str],
    slots: list[Slot],
    status: int = 200,
    error: str = "",
    preview: str | None = None,
) -> web.Response:
    return html_page(
        request,
        "compose.html",
        status=status,
        choices=choices,
        values=values,
        slots=slots,
        error=error,
        preview=preview,
        languages_offered=LANGUAGE_CHOICES,
        max_chars=request.app[keys.CONFIG].instance.max_post_chars,
        max_alt=MAX_ALT_TEXT,
        csrf_token=viewer.csrf_token,
    )


def _choice_list(pairs: list[tuple[Actor, RoleName]]) -> list[tuple[str, str]]:
    """(username, label) of the actors a person may post as."""
    return [(actor.username, actor.display_name or actor.username) for actor, _ in pairs]


async def compose_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    async with request.app[keys.SESSIONMAKER]() as session:
        actor, choices = await acting_actor(
            request, session, viewer.user_id, Action.PUBLISH, request.query.get("actor")
        )
    values = {"actor": actor.username, "visibility": "public", "language": ""}
    return _page(
        request,
        viewer,
        choices=_choice_list(choices),
        values=values,
        slots=[Slot(i) for i in range(1, MAX_ATTACHMENTS + 1)],
    )


def _visibility(value: str) -> Visibility:
    try:
        return posts.parse_visibility(value or "public")
    except posts.NewsError:
        raise web.HTTPBadRequest(text="unknown visibility") from None


async def compose_post(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    config = request.app[keys.CONFIG]
    form = await read_multipart(
        request, max_file_bytes=config.media.max_bytes, max_files=MAX_ATTACHMENTS
    )
    check_csrf(viewer, {"csrf_token": form.get("csrf_token")})
    values = {
        key: form.get(key)
        for key in ("actor", "text", "spoiler", "visibility", "language", "action")
    }
    visibility = _visibility(values["visibility"])
    language = values["language"].strip()
    if language and language not in dict(LANGUAGE_CHOICES):
        raise web.HTTPBadRequest(text="unknown language")
    # Which stored images stay, which files are new (slot i: media{i}, file{i}, alt{i}).
    kept_ids: dict[int, int] = {}
    for i in range(1, MAX_ATTACHMENTS + 1):
        raw = form.get(f"media{i}")
        if raw and not form.get(f"drop{i}"):
            if not raw.isdigit() or len(raw) > 19:
                raise web.HTTPBadRequest(text="This form could not be read.")
            kept_ids[i] = int(raw)
    if len(set(kept_ids.values())) != len(kept_ids):
        raise web.HTTPBadRequest(text="This form could not be read.")
    new_files: dict[int, bytes] = {}
    for upload in form.uploads:
        name = upload.field
        if not name.startswith("file") or not name[4:].isdigit():
            raise web.HTTPBadRequest(text="This form could not be read.")
        index = int(name[4:])
        if not 1 <= index <= MAX_ATTACHMENTS or index in new_files:
            raise web.HTTPBadRequest(text="This form could not be read.")
        new_files[index] = upload.data
    uris = request.app[keys.URIS]
    sessionmaker = request.app[keys.SESSIONMAKER]
    async with sessionmaker() as session:
        actor, choices = await acting_actor(
            request, session, viewer.user_id, Action.PUBLISH, values["actor"]
        )
        kept = await unattached_media(session, viewer.user_id, list(kept_ids.values()))
        if len(kept) != len(kept_ids):
            raise web.HTTPForbidden(text=translate(request, "That image is not yours to use."))
    choice_list = _choice_list(choices)
    values["actor"] = actor.username

    def slots_now(error_slots: dict[int, MediaFile]) -> list[Slot]:
        return [
            Slot(
                i,
                media=error_slots.get(i),
                alt=form.get(f"alt{i}")[:MAX_ALT_TEXT],
                url=media_url(uris.base_url, error_slots[i].name) if i in error_slots else "",
            )
            for i in range(1, MAX_ATTACHMENTS + 1)
        ]

    slot_media = {i: kept[mid] for i, mid in kept_ids.items()}
    # Every new file is checked before anything is stored.
    processed: dict[int, ProcessedImage] = {}
    for index, data in sorted(new_files.items()):
        if index in slot_media:
            raise web.HTTPBadRequest(text="This form could not be read.")
        try:
            processed[index] = await asyncio.to_thread(
                process_image, data, max_pixels=config.media.max_pixels
            )
        except MediaError as exc:
            return _page(
                request,
                viewer,
                choices=choice_list,
                values=values,
                slots=slots_now(slot_media),
                status=422,
                error=translate(request, str(exc)),
            )
    folder = media_folder(config)
    async with sessionmaker() as session:
        for index, image in processed.items():
            stored_row = await store_image(
                session,
                folder,
                image,
                user_id=viewer.user_id,
                actor_id=actor.id,
                description=form.get(f"alt{index}"),
                now=request.app[keys.CLOCK](),
            )
            slot_media[index] = stored_row
        for index, kept_row in slot_media.items():
            stored = await session.get(MediaFile, kept_row.id)
            assert stored is not None
            stored.description = form.get(f"alt{index}").strip()[:MAX_ALT_TEXT]
            slot_media[index] = stored
        await session.commit()
    slots = slots_now(slot_media)

    def again(status: int, error: str = "", preview: str | None = None) -> web.Response:
        return _page(
            request,
            viewer,
            choices=choice_list,
            values=values,
            slots=slots,
            status=status,
            error=error,
            preview=preview,
        )

    try:
        text = posts.post_text(values["text"], max_chars=config.instance.max_post_chars)
    except posts.NewsError:
        return again(
            422,
            translate(
                request,
                "The text is longer than %(max)s characters.",
                max=config.instance.max_post_chars,
            ),
        )
    if values["action"] == "preview":
        rendered = render_content(text, base_url=uris.base_url, mentions={})
        return again(200, preview=rendered.content)
    if not text.strip():
        return again(422, translate(request, "Please write something first."))
    if any(not slot.alt.strip() for slot in slots if slot.media is not None):
        return again(422, translate(request, "Every image needs a description (alt text)."))
    ctx = request.app[keys.SERVICES].publish_context(request.app[keys.OUTBOX_WAKE].set)
    draft = posts.Draft(
        text=text,
        summary=values["spoiler"].strip() or None,
        visibility=visibility,
        language=language or None,
        attachments=tuple(
            attachment_of(slot.media, uris.base_url) for slot in slots if slot.media is not None
        ),
    )
    mentions = await ctx.resolve_mentions(text)  # network work, before the transaction
    async with sessionmaker() as session:
        actor, _ = await acting_actor(
            request, session, viewer.user_id, Action.PUBLISH, actor.username
        )
        media_ids = [slot.media.id for slot in slots if slot.media is not None]
        media = await unattached_media(session, viewer.user_id, media_ids)
        if len(media) != len(media_ids):
            return again(409, translate(request, "An image of this post was used elsewhere."))
        try:
            post: Status = await posts.publish(
                session,
                ctx,
                actor=actor,
                draft=draft,
                mentions=mentions,
                author_user_id=viewer.user_id,
            )
        except posts.NewsError as exc:
            return again(422, str(exc))
        for item in media.values():
            item.status_id = post.id
            item.actor_id = actor.id
        await session.commit()
    ctx.wake()
    if post.visibility in LISTED and post.url:
        raise web.HTTPSeeOther(post.url)
    raise web.HTTPSeeOther(f"/home?actor={actor.username}")


def add_compose_routes(app: web.Application) -> None:
    app.router.add_get("/compose", with_error_pages(compose_page))
    app.router.add_post("/compose", with_error_pages(compose_post))
