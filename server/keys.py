"""Typed application-state keys (aiohttp AppKey), one place for all of them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from aiohttp import ClientSession, web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from actors.documents import ActorDocuments
from actors.remote import RemoteDirectory
from actors.uris import LocalUris
from federation.policy import FederationPolicy
from inbox.process import InboxProcessor
from inbox.receive import InboxReceiver
from server.config import Config
from server.instance_settings import SettingsCache
from server.ratelimit import RateLimits
from server.services import Services

CONFIG = web.AppKey("config", Config)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONMAKER = web.AppKey("sessionmaker", async_sessionmaker[AsyncSession])
DOCUMENTS = web.AppKey("documents", ActorDocuments)
HTTP_CLIENT = web.AppKey("http_client", ClientSession)
DIRECTORY = web.AppKey("directory", RemoteDirectory)
INBOX = web.AppKey("inbox", InboxReceiver)
PROCESSOR = web.AppKey("processor", InboxProcessor)
CLOCK = web.AppKey[Callable[[], datetime]]("clock")
OUTBOX_WAKE = web.AppKey("outbox_wake", asyncio.Event)
SERVICES = web.AppKey("services", Services)
# Per request: who signed it (the key id, whose owner the route verified), for the access log.
SIGNER = web.RequestKey("signer", str)
LIMITS = web.AppKey("limits", RateLimits)
# Built once from the config (`server.services`): every local URL, and the domain blocks.
URIS = web.AppKey("uris", LocalUris)
POLICY = web.AppKey("policy", FederationPolicy)
# The instance settings changed at run time (the admin pages), read again every few seconds.
SETTINGS = web.AppKey("instance_settings", SettingsCache)
