"""Typed application-state keys (aiohttp AppKey), one place for all of them."""

from __future__ import annotations

from aiohttp import ClientSession, web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from actors.documents import ActorDocuments
from server.config import Config

CONFIG = web.AppKey("config", Config)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONMAKER = web.AppKey("sessionmaker", async_sessionmaker[AsyncSession])
DOCUMENTS = web.AppKey("documents", ActorDocuments)
HTTP_CLIENT = web.AppKey("http_client", ClientSession)
