"""People, roles, tokens and OAuth codes, against a migrated database (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actors import accounts
from actors.accounts import Action
from actors.local import create_actor, ensure_instance_actor
from actors.models import Actor, ActorType, ApiToken, RoleName, User
from server import db
from server.config import DatabaseConfig

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@pytest.fixture
async def sessions(
    make_database: Callable[[str], DatabaseConfig],
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    config = make_database("accounts")
    engine = db.create_engine(config)
    await db.upgrade(engine, config)
    yield db.create_sessionmaker(engine)
    await engine.dispose()


async def setup_people(session: AsyncSession) -> tuple[User, User, Actor, Actor]:
    anna = await accounts.create_user(session, username="Anna", password=PASSWORD, now=NOW)
    ben = await accounts.create_user(session, username="ben", password=PASSWORD, now=NOW)
    kv = await create_actor(session, username="kv", type_=ActorType.ORGANIZATION)
    ov = await create_actor(session, username="ov", type_=ActorType.ORGANIZATION)
    await accounts.grant_role(session, user=anna, actor=kv, role=RoleName.OWNER, now=NOW)
    await accounts.grant_role(session, user=ben, actor=kv, role=RoleName.EDITOR, now=NOW)
    await session.commit()
    return anna, ben, kv, ov


def test_permissions_by_role() -> None:
    assert all(accounts.can(RoleName.OWNER, a) for a in Action)
    assert accounts.can(RoleName.EDITOR, Action.PUBLISH)
    assert accounts.can(RoleName.EDITOR, Action.DELETE)
    assert accounts.can(RoleName.EDITOR, Action.FOLLOW)
    assert not accounts.can(RoleName.EDITOR, Action.MANAGE_ROLES)
    assert not accounts.can(RoleName.EDITOR, Action.DECIDE_REQUESTS)
    assert accounts.can(RoleName.MODERATOR, Action.DELETE)
    assert accounts.can(RoleName.MODERATOR, Action.DECIDE_REQUESTS)
    assert not accounts.can(RoleName.MODERATOR, Action.PUBLISH)
    assert not accounts.can(RoleName.MODERATOR, Action.FOLLOW)
    assert not accounts.can(None, Action.READ)


def test_scopes_parse_and_imply() -> None:
    assert accounts.parse_scopes("read write follow push") == ("read", "write", "follow", "push")
    assert accounts.parse_scopes("read+write:statuses read") == ("read", "write:statuses")
    assert accounts.parse_scopes("") == ("read",)
    assert accounts.parse_scopes("admin:read:accounts") == ("admin:read:accounts",)
    with pytest.raises(accounts.InvalidScopeError):
        accounts.parse_scopes("read everything")
    implied = accounts.expand_scopes(["read", "follow"])
    assert {"read:statuses", "write:follows", "read:blocks"} <= implied
    assert "write:statuses" not in implied


def test_redirect_uris_are_kept_exact_and_scripts_refused() -> None:
    elk = "https://elk.zone/api/mastodon.example%3A443/oauth"
    assert accounts.parse_redirect_uris(f"{elk}\nurn:ietf:wg:oauth:2.0:oob") == (
        elk,
        "urn:ietf:wg:oauth:2.0:oob",
    )
    assert accounts.parse_redirect_uris(["com.tapbots.Ivory.19:/request_token"]) == (
        "com.tapbots.Ivory.19:/request_token",
    )
    for bad in ("javascript:alert(1)", "data:text/html,x", "VBScript:x", "no-scheme", ""):
        with pytest.raises(accounts.InvalidRedirectError):
            accounts.parse_redirect_uris(bad)


async def test_users_have_their_own_argon2_passwords(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        anna, *_ = await setup_people(session)
        assert anna.username == "anna"
        assert anna.password_hash.startswith("$argon2id$")
        assert PASSWORD not in anna.password_hash
        assert await accounts.check_password(session, "ANNA", PASSWORD) == anna
        assert await accounts.check_password(session, "anna", PASSWORD + "x") is None
        assert await accounts.check_password(session, "nobody", PASSWORD) is None
        with pytest.raises(accounts.UserExistsError):
            await accounts.create_user(session, username="anna", password=PASSWORD, now=NOW)
        with pytest.raises(accounts.InvalidUserError):
            await accounts.create_user(session, username="carl", password="short", now=NOW)
        with pytest.raises(accounts.InvalidUserError):
            await accounts.create_user(session, username="no spaces", password=PASSWORD, now=NOW)
        assert [u.username for u in await accounts.list_users(session)] == ["anna", "ben"]


async def test_roles_grant_change_list_and_keep_an_owner(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        anna, ben, kv, ov = await setup_people(session)
        assert await accounts.role_of(session, ben.id, kv.id) == RoleName.EDITOR
        await accounts.grant_role(session, user=ben, actor=kv, role=RoleName.MODERATOR, now=NOW)
        assert await accounts.role_of(session, ben.id, kv.id) == RoleName.MODERATOR
        await accounts.grant_role(session, user=ben, actor=ov, role=RoleName.OWNER, now=NOW)
        views = await accounts.list_roles(session, actor_id=kv.id)
        assert [(v.username, v.actor_username, v.role) for v in views] == [
            ("anna", "kv", RoleName.OWNER),
            ("ben", "kv", RoleName.MODERATOR),
        ]
        assert [(a.username, r) for a, r in await accounts.actors_of(session, ben.id)] == [
            ("kv", RoleName.MODERATOR),
            ("ov", RoleName.OWNER),
        ]
        # The last owner can be neither demoted nor removed through the API's rules...
        with pytest.raises(accounts.LastOwnerError):
            await accounts.grant_role(session, user=anna, actor=kv, role=RoleName.EDITOR, now=NOW)
        with pytest.raises(accounts.LastOwnerError):
            await accounts.revoke_role(session, user=anna, actor=kv, now=NOW)
        # ...but the operator may.
        await accounts.revoke_role(session, user=anna, actor=kv, now=NOW, keep_owner=False)
        assert await accounts.role_of(session, anna.id, kv.id) is None
        with pytest.raises(accounts.NoRoleError):
            await accounts.revoke_role(session, user=anna, actor=kv, now=NOW)
        instance = await ensure_instance_actor(session)
        with pytest.raises(accounts.NoRoleError):
            await accounts.grant_role(
                session, user=anna, actor=instance, role=RoleName.OWNER, now=NOW
            )


async def test_token_acts_for_one_actor_within_the_current_role(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        _, ben, kv, ov = await setup_people(session)
        with pytest.raises(accounts.NoRoleError):
            await accounts.create_token(session, user=ben, actor=ov, scopes=["read"], now=NOW)
        issued = await accounts.create_token(
            session, user=ben, actor=kv, scopes=["read", "write"], name="laptop", now=NOW
        )
        await session.commit()
        stored = await session.scalar(select(ApiToken).where(ApiToken.id == issued.id))
        assert stored is not None and stored.token_hash == accounts.hash_secret(issued.token)
        assert issued.token not in stored.token_hash

        ctx = await accounts.authenticate(session, issued.token, now=NOW)
        assert ctx is not None and ctx.is_user
        assert ctx.user is not None and ctx.user.username == "ben"
        assert ctx.actor is not None and ctx.actor.username == "kv"
        assert ctx.role == RoleName.EDITOR and ctx.can(Action.PUBLISH)
        assert ctx.allows("write:statuses") and not ctx.allows("push")
        assert stored.last_used_at == NOW
        assert await accounts.authenticate(session, issued.token + "x", now=NOW) is None

        # A changed role applies to the token at once.
        await accounts.grant_role(session, user=ben, actor=kv, role=RoleName.MODERATOR, now=NOW)
        ctx = await accounts.authenticate(session, issued.token, now=NOW)
        assert ctx is not None and ctx.role == RoleName.MODERATOR
        assert not ctx.can(Action.PUBLISH)

        views = await accounts.list_tokens(session, user_id=ben.id)
        assert [(v.id, v.name, v.actor_username) for v in views] == [(issued.id, "laptop", "kv")]

        await accounts.revoke_token(session, issued.id, now=NOW)
        await accounts.revoke_token(session, issued.id, now=NOW)  # harmless twice
        assert await accounts.authenticate(session, issued.token, now=NOW) is None
        assert await accounts.list_tokens(session, user_id=ben.id) == []
        with pytest.raises(accounts.UnknownTokenError):
            await accounts.revoke_token(session, 9999, now=NOW)


async def test_revoking_a_role_revokes_its_tokens(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        _, ben, kv, _ = await setup_people(session)
        issued = await accounts.create_token(session, user=ben, actor=kv, scopes=["read"], now=NOW)
        await accounts.revoke_role(session, user=ben, actor=kv, now=NOW)
        await accounts.grant_role(session, user=ben, actor=kv, role=RoleName.EDITOR, now=NOW)
        assert await accounts.authenticate(session, issued.token, now=NOW) is None


async def test_oauth_app_codes_are_single_use_and_check_pkce(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        anna, _, kv, ov = await setup_people(session)
        app = await accounts.create_app(
            session,
            name="Tusky",
            redirect_uris="oauth2redirect://com.keylesspalace.tusky/",
            scopes="read write follow push",
            now=NOW,
        )
        assert accounts.app_scopes(app) == ("read", "write", "follow", "push")
        assert await accounts.authenticate_client(session, app.client_id, app.client_secret) == app
        assert await accounts.authenticate_client(session, app.client_id, "wrong") is None
        with pytest.raises(accounts.NoRoleError):
            await accounts.issue_code(
                session,
                app=app,
                user=anna,
                actor=ov,
                redirect_uri="x:/",
                scopes=["read"],
                code_challenge=None,
                now=NOW,
            )

        verifier = "a" * 50
        code = await accounts.issue_code(
            session,
            app=app,
            user=anna,
            actor=kv,
            redirect_uri="oauth2redirect://com.keylesspalace.tusky/",
            scopes=["read", "write"],
            code_challenge=accounts.pkce_challenge(verifier),
            now=NOW,
        )
        row = await accounts.redeem_code(
            session,
            app=app,
            code=code,
            redirect_uri="oauth2redirect://com.keylesspalace.tusky/",
            code_verifier=verifier,
            now=NOW + timedelta(minutes=1),
        )
        assert (row.user_id, row.actor_id, row.scopes) == (anna.id, kv.id, "read write")
        with pytest.raises(accounts.InvalidGrantError, match="invalid"):
            await accounts.redeem_code(
                session,
                app=app,
                code=code,
                redirect_uri="oauth2redirect://com.keylesspalace.tusky/",
                code_verifier=verifier,
                now=NOW,
            )

        async def fresh() -> str:
            return await accounts.issue_code(
                session,
                app=app,
                user=anna,
                actor=kv,
                redirect_uri="x:/cb",
                scopes=["read"],
                code_challenge=accounts.pkce_challenge(verifier),
                now=NOW,
            )

        for redirect, verify, at, reason in (
            ("x:/other", verifier, NOW, "redirect_uri"),
            ("x:/cb", "b" * 50, NOW, "code_verifier"),
            ("x:/cb", None, NOW, "code_verifier"),
            ("x:/cb", verifier, NOW + timedelta(minutes=11), "expired"),
        ):
            with pytest.raises(accounts.InvalidGrantError, match=reason):
                await accounts.redeem_code(
                    session,
                    app=app,
                    code=await fresh(),
                    redirect_uri=redirect,
                    code_verifier=verify,
                    now=at,
                )


async def test_app_tokens_and_oauth_revocation(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        _, ben, kv, _ = await setup_people(session)
        app = await accounts.create_app(
            session, name="bot", redirect_uris="urn:ietf:wg:oauth:2.0:oob", scopes="read", now=NOW
        )
        other = await accounts.create_app(
            session, name="other", redirect_uris="urn:ietf:wg:oauth:2.0:oob", scopes="", now=NOW
        )
        app_token = await accounts.create_app_token(session, app=app, scopes=["read"], now=NOW)
        ctx = await accounts.authenticate(session, app_token.token, now=NOW)
        assert ctx is not None and not ctx.is_user and ctx.app_id == app.id and ctx.role is None
        user_token = await accounts.create_token(
            session, user=ben, actor=kv, scopes=["read"], app_id=app.id, now=NOW
        )
        with pytest.raises(accounts.ForeignTokenError):
            await accounts.revoke_token_value(session, user_token.token, app_id=other.id, now=NOW)
        await accounts.revoke_token_value(session, "unknown", app_id=app.id, now=NOW)
        await accounts.revoke_token_value(session, user_token.token, app_id=app.id, now=NOW)
        assert await accounts.authenticate(session, user_token.token, now=NOW) is None
