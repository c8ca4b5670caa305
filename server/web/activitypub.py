"""ActivityPub routes: inboxes (POST), collections, and the authorized-fetch gate."""

from __future__ import annotations

import logging

from aiohttp import web

from actors.aliases import ALIAS_PREFIX, alias_by_name, is_live
from actors.relations import count_relations, page_relations
from federation.documents import render_collection, render_collection_page
from federation.fetch import is_activitystreams_media_type
from federation.signatures import SignatureError, VerifiedRequest, verify_request
from inbox.receive import InboxError
from outbox.queries import count_listed, outbox_items
from outbox.timelines import Page
from server import keys
from server.web.errors import not_found, with_error_pages

log = logging.getLogger("verbund.activitypub")
AP_TYPE = "application/activity+json"
PAGE_SIZE = 40
OUTBOX_PAGE_SIZE = 20


def ap_json(doc: object) -> web.Response:
    return web.json_response(doc, content_type=AP_TYPE, headers={"Vary": "Accept"})


def error(status: int, message: str, *, retry_after: int | None = None) -> web.Response:
    headers = None if retry_after is None else {"Retry-After": str(retry_after)}
    return web.json_response({"error": message}, status=status, headers=headers)


async def verify_get(request: web.Request) -> VerifiedRequest:
    """The verified signature of this GET (keys resolved, and cached, as for the inbox);
    raises `SignatureError`. Callers decide what an unsigned GET gets."""
    return await verify_request(
        method=request.method,
        target=request.raw_path,
        headers=request.headers,
        body=None,
        resolver=request.app[keys.DIRECTORY].resolve_key,
        now=request.app[keys.CLOCK](),
        url_scheme=request.app[keys.CONFIG].instance.scheme,
    )


async def signed_get(request: web.Request) -> VerifiedRequest | None:
    """In authorized-fetch mode, the verified signer of this GET; raises 401/403 otherwise.

    Returns None when the mode is off (nothing to check).
    """
    if not request.app[keys.CONFIG].federation.authorized_fetch:
        return None
    try:
        verified = await verify_get(request)
    except SignatureError as exc:
        raise web.HTTPUnauthorized(
            text=f'{{"error":"signature required: {exc.reason.value}"}}',
            content_type="application/json",
        ) from None
    if not request.app[keys.POLICY].allows_url(verified.owner):
        raise web.HTTPForbidden(text='{"error":"domain blocked"}', content_type="application/json")
    request[keys.SIGNER] = verified.key_id
    return verified


def _is_inbox_media_type(value: str) -> bool:
    """ActivityStreams JSON (`is_activitystreams_media_type`) or plain `application/json`."""
    return (
        value == "application/activity+json"  # what nearly every peer sends, as it is
        or is_activitystreams_media_type(value)
        or value.partition(";")[0].strip().lower() == "application/json"
    )


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    """The whole body, however it is framed and however many reads it takes; None past
    `limit` bytes (the rest is left unread). The body deadline is the protocol's
    (`server.runtime`): a late body raises BodyTimeoutError, an HTTPRequestTimeout."""
    content = request.content
    if content.is_eof():  # all of it arrived with the headers, as nearly every body does
        body = content.read_nowait(-1)
        return body if len(body) <= limit else None
    chunks = []
    size = 0
    while chunk := await content.readany():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _alias_recipient(
    request: web.Request, username: str | None
) -> tuple[str | None, str | None]:
    """The one actor an anonymous contact alias's inbox takes activities from (issue 14),
    and whose server's reports (`Flag`, from its instance actor as Mastodon sends them)
    it takes too; (None, None) for everyone else's inbox. An alias already retired takes
    no activity but those reports: its own URI is what it accepts from, which no remote
    activity can claim."""
    if username is None or not username.lower().startswith(ALIAS_PREFIX):
        return None, None
    async with request.app[keys.SESSIONMAKER]() as session:
        alias = await alias_by_name(session, username)
    if alias is None:
        return None, None
    if not is_live(alias) or alias.alias_for_uri is None:
        return request.app[keys.SERVICES].uris.actor(alias.username), alias.alias_for_uri
    return alias.alias_for_uri, alias.alias_for_uri


async def inbox_post(request: web.Request) -> web.Response:
    """Size (declared) → media type → recipient → body (bounded) → `InboxReceiver`.

    Everything that needs only the headers is refused before the body is read. A type
    that is declared and is not JSON gets 415; a missing Content-Type is read as JSON, as
    Mastodon's inbox reads any body (every sender we know sends `application/activity+json`,
    but a peer that omits the header must not lose its deliveries).
    """
    config = request.app[keys.CONFIG]
    limit = config.federation.max_inbox_bytes
    declared = request.content_length  # a property that parses the header each time
    if declared is not None and declared > limit:
        return error(413, f"body larger than {limit} bytes")
    content_type = request.headers.get("Content-Type")
    if content_type is not None and not _is_inbox_media_type(content_type):
        return error(415, "Content-Type must be application/activity+json or application/ld+json")
    recipient: str | None = None
    only_from: str | None = None  # see `_alias_recipient`
    flags_from: str | None = None
    username = request.match_info.get("username")
    if username is not None:  # a personal inbox (the shared one is what most peers use)
        entry = await request.app[keys.DOCUMENTS].get(username)
        if entry is None:
            return error(404, "no such actor")
        recipient = entry.view.id
        only_from, flags_from = await _alias_recipient(request, username)
    try:
        body = await _read_body(request, limit)
    except web.HTTPRequestTimeout as exc:
        response = error(408, exc.text or "request body too slow")
        response.force_close()
        return response
    if body is None:
        return error(413, f"body larger than {limit} bytes")
    try:
        signer = await request.app[keys.INBOX].receive(
            method="POST",
            target=request.raw_path,
            headers=request.headers,
            body=body,
            recipient_uri=recipient,
            only_from=only_from,
            flags_from=flags_from,
        )
    except InboxError as exc:
        if exc.status >= 500:
            log.warning("inbox refused with %s: %s", exc.status, exc)
        return error(exc.status, str(exc), retry_after=exc.retry_after)
    # Stored: the signature verified and its key's owner is the activity's actor.
    request[keys.SIGNER] = signer  # for the access log
    return web.Response(status=202)


async def _collection(request: web.Request, *, followers: bool) -> web.Response:
    await signed_get(request)
    docs = request.app[keys.DOCUMENTS]
    entry = await docs.get(request.match_info["username"])
    if entry is None:
        return not_found(request, "no such actor")
    actor_uri = entry.view.id
    collection_id = f"{actor_uri}/{'followers' if followers else 'following'}"
    async with request.app[keys.SESSIONMAKER]() as session:
        total = await count_relations(session, actor_uri, followers=followers)
        hidden = entry.hide_collections
        page_arg = request.query.get("page")
        if page_arg is None or hidden:
            return ap_json(
                render_collection(
                    collection_id, total=total, first=None if hidden else f"{collection_id}?page=1"
                )
            )
        try:
            page = max(1, int(page_arg))
        except ValueError:
            return error(400, "page must be a number")
        items = await page_relations(
            session, actor_uri, followers=followers, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
    return ap_json(
        render_collection_page(
            f"{collection_id}?page={page}",
            part_of=collection_id,
            items=list(items),
            total=total,
            next_page=f"{collection_id}?page={page + 1}" if page * PAGE_SIZE < total else None,
            prev_page=f"{collection_id}?page={page - 1}" if page > 1 else None,
        )
    )


async def followers(request: web.Request) -> web.Response:
    return await _collection(request, followers=True)


async def following(request: web.Request) -> web.Response:
    return await _collection(request, followers=False)


async def outbox(request: web.Request) -> web.Response:
    """Public and unlisted posts (Create) and boosts (Announce), newest first, paged by
    `max_id`/`min_id` as Mastodon does (`?page=true`)."""
    await signed_get(request)
    entry = await request.app[keys.DOCUMENTS].get(request.match_info["username"])
    if entry is None:
        return not_found(request, "no such actor")
    actor_uri = entry.view.id
    outbox_id = request.app[keys.URIS].outbox(actor_uri)
    try:
        max_id = int(request.query["max_id"]) if "max_id" in request.query else None
        min_id = int(request.query["min_id"]) if "min_id" in request.query else None
    except ValueError:
        return error(400, "max_id and min_id must be numbers")
    async with request.app[keys.SESSIONMAKER]() as session:
        total = await count_listed(session, actor_uri)
        if "page" not in request.query:
            first = f"{outbox_id}?page=true"
            return ap_json(render_collection(outbox_id, total=total, first=first))
        items = await outbox_items(
            session, actor_uri, Page(max_id=max_id, min_id=min_id, limit=OUTBOX_PAGE_SIZE)
        )
    query = "&".join(
        f"{k}={v}" for k, v in (("max_id", max_id), ("min_id", min_id)) if v is not None
    )
    ids = [row.id for row, _ in items]
    return ap_json(
        render_collection_page(
            f"{outbox_id}?{query + '&' if query else ''}page=true",
            part_of=outbox_id,
            items=[doc for _, doc in items],
            total=total,
            next_page=f"{outbox_id}?max_id={ids[-1]}&page=true" if ids else None,
            prev_page=f"{outbox_id}?min_id={ids[0]}&page=true" if ids else None,
        )
    )


def add_activitypub_routes(app: web.Application) -> None:
    app.router.add_post("/inbox", inbox_post)
    # The instance actor's own inbox, as its document names it (relays answer there).
    app.router.add_post("/actor/inbox", inbox_post)
    app.router.add_post("/users/{username}/inbox", inbox_post)
    app.router.add_get("/users/{username}/followers", with_error_pages(followers))
    app.router.add_get("/users/{username}/following", with_error_pages(following))
    app.router.add_get("/users/{username}/outbox", with_error_pages(outbox))
