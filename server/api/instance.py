"""Instance information (v1 and v2), and stubs clients call while onboarding.

Mastodon.py reads our API level from the v1 `version`: "4.3.0 (compatible;
Verbund x.y.z)" is the pattern Pleroma and GoToSocial use; `api_versions.mastodon`
stays 1 until grouped notifications exist (Phanpy switches at 2).
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy import func, select

from actors.local import count_actors
from actors.models import RemoteActor
from outbox import polls
from outbox.models import Status
from server import keys
from server.api.common import Json, Routes, json_response, require_user
from server.instance_settings import InstanceSettings
from server.web.discovery import software_version

MASTODON_API_LEVEL = "4.3.0"
# A one-pixel grey PNG: clients load `…/missing.png` when an actor has no avatar or header.
MISSING_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR42mM4ceYKAATIAmmdpLYXAAAAAElFTkSuQmCC"
)


def version_string() -> str:
    return f"{MASTODON_API_LEVEL} (compatible; Verbund {software_version()})"


def _streaming(base_url: str) -> str:
    # Mastodon.py refuses an https:// streaming URL; ws:// only on development instances.
    return ("wss" if base_url.startswith("https:") else "ws") + base_url[base_url.index(":") :]


def _configuration(max_characters: int) -> dict[str, Json]:
    return {
        "accounts": {"max_featured_tags": 0, "max_pinned_statuses": 0},
        "statuses": {
            "max_characters": max_characters,
            "max_media_attachments": 0,
            "characters_reserved_per_url": 23,
        },
        "media_attachments": {
            "supported_mime_types": [],
            "image_size_limit": 0,
            "image_matrix_limit": 0,
            "video_size_limit": 0,
            "video_frame_rate_limit": 0,
            "video_matrix_limit": 0,
        },
        "polls": {
            "max_options": polls.MAX_OPTIONS,
            "max_characters_per_option": polls.MAX_OPTION_CHARS,
            "min_expiration": int(polls.MIN_EXPIRATION.total_seconds()),
            "max_expiration": int(polls.MAX_EXPIRATION.total_seconds()),
        },
    }


async def _stats(request: web.Request) -> tuple[int, int, int]:
    async with request.app[keys.SESSIONMAKER]() as session:
        users = await count_actors(session)
        statuses = await session.scalar(
            select(func.count())
            .select_from(Status)
            .where(Status.local_actor_id.is_not(None), Status.deleted_at.is_(None))
        )
        domains = await session.scalar(select(func.count(func.distinct(RemoteActor.domain))))
    return users, int(statuses or 0), int(domains or 0)


async def _settings(request: web.Request) -> InstanceSettings:
    """The instance settings now (the admin pages change them at run time)."""
    return await request.app[keys.SETTINGS].get(request.app[keys.SESSIONMAKER])


def _rules(settings: InstanceSettings) -> list[Json]:
    return [{"id": str(n), "text": text} for n, text in enumerate(settings.rule_list, 1)]


async def instance_v1(request: web.Request) -> web.Response:
    config = request.app[keys.CONFIG]
    base = config.instance.base_url
    settings = await _settings(request)
    users, statuses, domains = await _stats(request)
    return json_response(
        {
            "uri": config.instance.domain,
            "title": settings.name,
            "short_description": settings.description,
            "description": settings.description,
            "email": settings.contact_email,
            "version": version_string(),
            "urls": {"streaming_api": _streaming(base)},
            "stats": {"user_count": users, "status_count": statuses, "domain_count": domains},
            "thumbnail": None,
            "languages": [settings.default_language] if settings.default_language else [],
            "registrations": settings.registration_mode == "approval",
            "approval_required": settings.registration_mode == "approval",
            "invites_enabled": settings.registration_mode == "invite-only",
            "max_toot_chars": config.instance.max_post_chars,  # Pleroma's, read by many apps
            "configuration": _configuration(config.instance.max_post_chars),
            "contact_account": None,
            "rules": _rules(settings),
        }
    )


async def instance_v2(request: web.Request) -> web.Response:
    config = request.app[keys.CONFIG]
    base = config.instance.base_url
    settings = await _settings(request)
    users, _, _ = await _stats(request)
    configuration: Json = {
        "urls": {
            "streaming": _streaming(base),
            "status": None,
            "about": f"{base}/",
            "privacy_policy": None,
            "terms_of_service": None,
        },
        **_configuration(config.instance.max_post_chars),
        "translation": {"enabled": False},
    }
    return json_response(
        {
            "domain": config.instance.domain,
            "title": settings.name,
            "version": version_string(),
            "source_url": "https://github.com/verbund/verbund",
            "description": settings.description,
            "usage": {"users": {"active_month": users}},
            "thumbnail": {"url": f"{base}/headers/original/missing.png"},
            "icon": [],
            "languages": [settings.default_language] if settings.default_language else [],
            "configuration": configuration,
            "registrations": {
                "enabled": settings.registration_mode == "approval",
                "approval_required": settings.registration_mode == "approval",
                "message": None,
                "url": None,
            },
            "api_versions": {"mastodon": 1},
            "contact": {"email": settings.contact_email, "account": None},
            "rules": _rules(settings),
        }
    )


async def rules(request: web.Request) -> web.Response:
    return json_response(_rules(await _settings(request)))


async def custom_emojis(request: web.Request) -> web.Response:
    return json_response([])


def _stub(body: object) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Answers a user endpoint whose feature does not exist yet, so onboarding clients go on."""

    async def handler(request: web.Request) -> web.Response:
        await require_user(request)
        return json_response(body)

    return handler


async def preferences(request: web.Request) -> web.Response:
    await require_user(request, "read:accounts")
    return json_response(
        {
            "posting:default:visibility": "public",
            "posting:default:sensitive": False,
            "posting:default:language": None,
            "reading:expand:media": "default",
            "reading:expand:spoilers": False,
        }
    )


async def missing_image(request: web.Request) -> web.Response:
    return web.Response(
        body=MISSING_PNG,
        content_type="image/png",
        headers={"Cache-Control": "public, max-age=86400", "Access-Control-Allow-Origin": "*"},
    )


def add_routes(app: web.Application) -> None:
    r = Routes(app)
    # Mastodon.py asks with a trailing slash.
    for path in ("/api/v1/instance", "/api/v1/instance/"):
        r.get(path, instance_v1)
    for path in ("/api/v2/instance", "/api/v2/instance/"):
        r.get(path, instance_v2)
    r.get("/api/v1/instance/rules", rules)
    r.get("/api/v1/custom_emojis", custom_emojis)
    r.get("/api/v1/preferences", preferences)
    r.get("/api/v1/lists", _stub([]))
    r.get("/api/v2/filters", _stub([]))
    r.get("/api/v1/filters", _stub([]))
    r.get("/api/v1/markers", _stub({}))
    app.router.add_get("/avatars/original/missing.png", missing_image)
    app.router.add_get("/headers/original/missing.png", missing_image)
