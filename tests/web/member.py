"""Helpers for the member pages' tests: a person with a login, their own Person actor
and roles on other actors."""

from __future__ import annotations

import aiohttp

from actors import accounts
from actors.local import get_actor
from actors.models import ActorType, RoleName
from tests.conftest import Instance
from tests.webpages import create_person

PASSWORD = "a long passphrase of theirs"


async def member(
    inst: Instance,
    name: str,
    *,
    display_name: str = "",
    roles: dict[str, RoleName] | None = None,
    locked: bool = False,
) -> int:
    """A person `name` with a login, owning the Person actor `name`, and `roles` on
    other actors; their user id."""
    user_id = await create_person(inst, name, PASSWORD)
    await inst.add_actor(
        name, ActorType.PERSON, display_name=display_name, manually_approves=locked
    )
    now = inst.services.clock()
    async with inst.sessionmaker() as session:
        user = await accounts.get_user(session, name)
        for actor_name, role in {name: RoleName.OWNER, **(roles or {})}.items():
            actor = await get_actor(session, actor_name)
            await accounts.grant_role(session, user=user, actor=actor, role=role, now=now)
        await session.commit()
    return user_id


async def page(browser: aiohttp.ClientSession, url: str, status: int = 200) -> str:
    async with browser.get(url) as resp:
        text = await resp.text()
        assert resp.status == status, text
        return text


async def post(
    browser: aiohttp.ClientSession, url: str, form: dict[str, str], status: int = 303
) -> tuple[str, str]:
    """POST a form without following the redirect: (Location or "", body)."""
    async with browser.post(url, data=form, allow_redirects=False) as resp:
        text = await resp.text()
        assert resp.status == status, text
        return resp.headers.get("Location", ""), text
