"""People, their roles on actors, API tokens and OAuth clients.

A person (`User`) logs in with their own password and acts for an actor only
through a `Role` (owner, editor, moderator); an organisation never has a
shared password. A token is issued to one person for one actor and carries no
power of its own: `authenticate` re-reads the person's current role on every
call, so revoking a token or a role takes effect at once, and a changed role
applies to tokens already issued.

Secrets are never stored in the clear: passwords as argon2id hashes, tokens
and authorization codes as sha256 hashes (they are long random strings, so a
fast hash suffices and lookups stay indexable). Knows nothing of HTTP; the
callers commit.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import functools
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from actors.models import Actor, ApiToken, OAuthApp, OAuthCode, Role, RoleName, User
from federation.webfinger import is_valid_username

# --- errors --------------------------------------------------------------------------------


class AccountError(Exception):
    """Base of errors about people, roles, tokens and OAuth clients; the message says why."""


class InvalidUserError(AccountError):
    """A user name or password that cannot be used."""


class UserExistsError(AccountError):
    def __init__(self, username: str) -> None:
        super().__init__(f"a user named {username!r} already exists")


class UnknownUserError(AccountError):
    def __init__(self, username: str) -> None:
        super().__init__(f"no user named {username!r}")


class NoRoleError(AccountError):
    """The person holds no role on the actor (so cannot act for it)."""


class LastOwnerError(AccountError):
    """The change would leave an actor that has owners without any."""


class UnknownTokenError(AccountError):
    pass


class InvalidScopeError(AccountError):
    pass


class InvalidRedirectError(AccountError):
    pass


class InvalidGrantError(AccountError):
    """A code that is unknown, expired, used or mismatched (OAuth `invalid_grant`)."""


class ForeignTokenError(AccountError):
    """A client tried to revoke a token issued to another client (OAuth `unauthorized_client`)."""


# --- permissions ---------------------------------------------------------------------------


class Action(enum.StrEnum):
    """Things a person may do for an actor, checked against their role with `can`."""

    READ = "read"  # home timeline, the actor's private posts
    PUBLISH = "publish"  # post, edit and boost as the actor
    DELETE = "delete"  # remove the actor's posts
    FOLLOW = "follow"  # follow and unfollow as the actor
    DECIDE_REQUESTS = "decide_requests"  # see, approve and decline follow requests
    VIEW_AUTHORS = "view_authors"  # which person wrote a post (staff only, never published)
    MANAGE_ROLES = "manage_roles"  # grant and revoke roles on the actor


PERMISSIONS: Mapping[RoleName, frozenset[Action]] = {
    RoleName.OWNER: frozenset(Action),
    RoleName.EDITOR: frozenset(
        {Action.READ, Action.PUBLISH, Action.DELETE, Action.FOLLOW, Action.VIEW_AUTHORS}
    ),
    # Moderators keep the actor clean and its door open; they never speak for it.
    RoleName.MODERATOR: frozenset(
        {Action.READ, Action.DELETE, Action.DECIDE_REQUESTS, Action.VIEW_AUTHORS}
    ),
}


def can(role: RoleName | None, action: Action) -> bool:
    """Whether a person with `role` on an actor may do `action` for it (no role: nothing)."""
    return role is not None and action in PERMISSIONS[role]


# --- OAuth scopes (Mastodon's list and hierarchy) ------------------------------------------

_READ = "accounts blocks bookmarks favourites filters follows lists mutes notifications search"
_READ += " statuses"
_WRITE = "accounts blocks bookmarks conversations favourites filters follows lists media mutes"
_WRITE += " notifications reports statuses"
_ADMIN = "accounts reports domain_allows domain_blocks ip_blocks email_domain_blocks"
_ADMIN += " canonical_email_blocks"

# A parent scope implies its children; `follow` (deprecated, still requested by every
# client) implies the follow-related read and write scopes.
SCOPE_CHILDREN: Mapping[str, frozenset[str]] = {
    "read": frozenset(f"read:{s}" for s in _READ.split()),
    "write": frozenset(f"write:{s}" for s in _WRITE.split()),
    "follow": frozenset(
        f"{rw}:{s}" for rw in ("read", "write") for s in ("blocks", "follows", "mutes")
    ),
    "admin:read": frozenset(f"admin:read:{s}" for s in _ADMIN.split()),
    "admin:write": frozenset(f"admin:write:{s}" for s in _ADMIN.split()),
}
SCOPES = frozenset(
    {"read", "write", "follow", "push", "profile", "admin:read", "admin:write"}
).union(*SCOPE_CHILDREN.values())
DEFAULT_SCOPES = ("read",)


def parse_scopes(
    value: str | Iterable[str], *, default: Sequence[str] = DEFAULT_SCOPES
) -> tuple[str, ...]:
    """Scopes separated by spaces or `+` (or already a list), de-duplicated, in order.

    Raises InvalidScopeError naming the first unknown scope. An empty value gives `default`.
    """
    parts = value.replace("+", " ").split() if isinstance(value, str) else list(value)
    seen: dict[str, None] = {}
    for part in parts:
        for scope in part.replace("+", " ").split():
            if scope not in SCOPES:
                raise InvalidScopeError(f"unknown scope {scope!r}")
            seen[scope] = None
    return tuple(seen) or tuple(default)


def expand_scopes(granted: Iterable[str]) -> frozenset[str]:
    """The granted scopes plus everything they imply."""
    out = set(granted)
    for scope in list(out):
        out |= SCOPE_CHILDREN.get(scope, frozenset())
    return frozenset(out)


# --- secrets -------------------------------------------------------------------------------


def hash_secret(value: str) -> str:
    """The stored form of a token or code: sha256 hex (they are random, so no salt is needed)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_secret() -> str:
    """A fresh bearer token, code or client secret: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


# --- users ---------------------------------------------------------------------------------

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 "low memory" profile
# Verified against when the user does not exist, so a login for an unknown name
# costs as long as a wrong password (no user enumeration by timing).


@functools.cache
def _dummy_hash() -> str:
    """Hashed on first use, not at import: every CLI start would pay ~150 ms otherwise."""
    return _hasher.hash(secrets.token_urlsafe(16))


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidUserError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidUserError(f"the password must have at most {MAX_PASSWORD} characters")


async def hash_password(password: str) -> str:
    """argon2id hash, computed in a thread: it takes tens of milliseconds by design."""
    validate_password(password)
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


async def create_user(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    now: datetime,
    email: str = "",
    is_admin: bool = False,
) -> User:
    """A new person with a login. User names are case-insensitive and stored lower-cased.

    Raises InvalidUserError (bad name or password) or UserExistsError. The caller commits.
    """
    name = username.strip().lower()
    if not is_valid_username(name) or len(name) > 30:
        raise InvalidUserError(
            f"invalid user name {username!r}: use 1-30 letters, digits or _ "
            "(dots and dashes allowed inside)"
        )
    if email and ("@" not in email or any(c.isspace() for c in email)):
        raise InvalidUserError(f"invalid e-mail address {email!r}")
    if await find_user(session, name) is not None:
        raise UserExistsError(name)
    user = User(
        username=name,
        email=email,
        password_hash=await hash_password(password),
        is_admin=is_admin,
        created_at=now,
    )
    session.add(user)
    await session.flush()
    return user


async def find_user(session: AsyncSession, username: str) -> User | None:
    return await session.scalar(select(User).where(User.username == username.strip().lower()))


async def get_user(session: AsyncSession, username: str) -> User:
    user = await find_user(session, username)
    if user is None:
        raise UnknownUserError(username)
    return user


async def list_users(session: AsyncSession) -> list[User]:
    return list(await session.scalars(select(User).order_by(User.username)))


async def check_password(session: AsyncSession, username: str, password: str) -> User | None:
    """The user if `password` is theirs, else None (also for unknown names, in equal time).

    An outdated hash (weaker parameters than today's) is re-hashed; the caller commits.
    """
    user = await find_user(session, username) if len(password) <= MAX_PASSWORD else None
    stored = user.password_hash if user is not None else _dummy_hash()
    ok = await asyncio.to_thread(_verify, stored, password[:MAX_PASSWORD])
    if user is None or not ok:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = await hash_password(password)
    return user


async def set_password(session: AsyncSession, user: User, password: str) -> None:
    user.password_hash = await hash_password(password)


# --- roles ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoleView:
    """One person's role on one actor, with both names resolved."""

    user_id: int
    username: str
    actor_id: int
    actor_username: str
    role: RoleName
    created_at: datetime


async def role_of(session: AsyncSession, user_id: int, actor_id: int) -> RoleName | None:
    value = await session.scalar(
        select(Role.role).where(Role.user_id == user_id, Role.actor_id == actor_id)
    )
    return RoleName(value) if value is not None else None


async def _owner_count(session: AsyncSession, actor_id: int) -> int:
    n = await session.scalar(
        select(func.count())
        .select_from(Role)
        .where(Role.actor_id == actor_id, Role.role == RoleName.OWNER)
    )
    return int(n or 0)


async def grant_role(
    session: AsyncSession,
    *,
    user: User,
    actor: Actor,
    role: RoleName,
    now: datetime,
    keep_owner: bool = True,
) -> Role:
    """Give `user` `role` on `actor`, replacing any role they held there.

    With `keep_owner` (the API's setting), demoting an actor's last owner raises
    LastOwnerError, so an organisation cannot lock its staff out; the operator's
    CLI passes False.
    """
    if actor.is_instance:
        raise NoRoleError("nobody holds roles on the instance actor")
    row = await session.scalar(
        select(Role).where(Role.user_id == user.id, Role.actor_id == actor.id)
    )
    if row is None:
        row = Role(user_id=user.id, actor_id=actor.id, role=role, created_at=now)
        session.add(row)
    elif row.role != role:
        if keep_owner and row.role == RoleName.OWNER and await _owner_count(session, actor.id) == 1:
            raise LastOwnerError(f"{user.username} is the last owner of {actor.username}")
        row.role = role
    await session.flush()
    return row


async def revoke_role(
    session: AsyncSession, *, user: User, actor: Actor, now: datetime, keep_owner: bool = True
) -> None:
    """Take `user`'s role on `actor` away and revoke their tokens for it.

    Tokens would stop working anyway (they need a role), but revoking them
    keeps a later re-grant from reviving old, possibly leaked tokens.
    Raises NoRoleError, or LastOwnerError (see `grant_role`).
    """
    row = await session.scalar(
        select(Role).where(Role.user_id == user.id, Role.actor_id == actor.id)
    )
    if row is None:
        raise NoRoleError(f"{user.username} holds no role on {actor.username}")
    if keep_owner and row.role == RoleName.OWNER and await _owner_count(session, actor.id) == 1:
        raise LastOwnerError(f"{user.username} is the last owner of {actor.username}")
    await session.delete(row)
    await session.execute(
        update(ApiToken)
        .where(
            ApiToken.user_id == user.id,
            ApiToken.actor_id == actor.id,
            ApiToken.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    await session.flush()


async def list_roles(
    session: AsyncSession, *, actor_id: int | None = None, user_id: int | None = None
) -> list[RoleView]:
    """Roles, optionally of one actor or one person, ordered by actor then person."""
    query = (
        select(Role, User.username, Actor.username)
        .join(User, User.id == Role.user_id)
        .join(Actor, Actor.id == Role.actor_id)
        .order_by(Actor.username_key, User.username)
    )
    if actor_id is not None:
        query = query.where(Role.actor_id == actor_id)
    if user_id is not None:
        query = query.where(Role.user_id == user_id)
    return [
        RoleView(r.user_id, username, r.actor_id, actor_name, RoleName(r.role), r.created_at)
        for r, username, actor_name in await session.execute(query)
    ]


async def actors_of(session: AsyncSession, user_id: int) -> list[tuple[Actor, RoleName]]:
    """The actors a person holds roles on, in the order the roles were granted."""
    rows = await session.execute(
        select(Actor, Role.role)
        .join(Role, Role.actor_id == Actor.id)
        .where(Role.user_id == user_id)
        .order_by(Role.id)
    )
    return [(actor, RoleName(role)) for actor, role in rows]


# --- tokens --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just created: `token` is the only time the plaintext exists outside the client."""

    id: int
    token: str
    scopes: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TokenView:
    """A stored token without its secret, for listings."""

    id: int
    name: str
    username: str | None
    actor_username: str | None
    app_name: str | None
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class TokenContext:
    """Who a request acts as: one person for one actor within their current role.

    An app token (OAuth client_credentials) has no user, actor or role: it can
    read public data and verify the app, nothing else.
    """

    token_id: int
    user: User | None
    actor: Actor | None
    role: RoleName | None
    scopes: frozenset[str]
    app_id: int | None

    @property
    def is_user(self) -> bool:
        return self.user is not None and self.actor is not None

    def allows(self, scope: str) -> bool:
        """Whether the granted scopes (with their implications) cover `scope`."""
        return scope in expand_scopes(self.scopes)

    def can(self, action: Action) -> bool:
        return can(self.role, action)


def _scope_text(scopes: Iterable[str]) -> str:
    return " ".join(scopes)


async def create_token(
    session: AsyncSession,
    *,
    user: User,
    actor: Actor,
    scopes: Sequence[str],
    now: datetime,
    name: str = "",
    app_id: int | None = None,
) -> IssuedToken:
    """A token for `user` acting as `actor`; raises NoRoleError unless they hold a role on it."""
    if await role_of(session, user.id, actor.id) is None:
        raise NoRoleError(f"{user.username} holds no role on {actor.username}")
    return await _insert_token(
        session,
        user_id=user.id,
        actor_id=actor.id,
        app_id=app_id,
        scopes=scopes,
        name=name,
        now=now,
    )


async def create_app_token(
    session: AsyncSession, *, app: OAuthApp, scopes: Sequence[str], now: datetime
) -> IssuedToken:
    """An app-only token (OAuth client_credentials): no person, no actor."""
    return await _insert_token(
        session, user_id=None, actor_id=None, app_id=app.id, scopes=scopes, name="", now=now
    )


async def _insert_token(
    session: AsyncSession,
    *,
    user_id: int | None,
    actor_id: int | None,
    app_id: int | None,
    scopes: Sequence[str],
    name: str,
    now: datetime,
) -> IssuedToken:
    checked = parse_scopes(scopes)
    plaintext = new_secret()
    row = ApiToken(
        token_hash=hash_secret(plaintext),
        user_id=user_id,
        actor_id=actor_id,
        app_id=app_id,
        name=name,
        scopes=_scope_text(checked),
        created_at=now,
        last_used_at=None,
        revoked_at=None,
    )
    session.add(row)
    await session.flush()
    return IssuedToken(row.id, plaintext, checked, now)


async def revoke_token(
    session: AsyncSession, token_id: int, *, now: datetime, user_id: int | None = None
) -> ApiToken:
    """Revoke a token by number (only the person's own when `user_id` is given).

    Revoking twice is harmless. Raises UnknownTokenError.
    """
    query = select(ApiToken).where(ApiToken.id == token_id)
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    row = await session.scalar(query)
    if row is None:
        raise UnknownTokenError(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
        await session.flush()
    return row


async def revoke_token_value(
    session: AsyncSession, token: str, *, app_id: int, now: datetime
) -> None:
    """OAuth revocation (RFC 7009): unknown tokens are ignored.

    Raises ForeignTokenError for a token issued to another client.
    """
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_secret(token)))
    if row is None:
        return
    if row.app_id != app_id:
        raise ForeignTokenError("the token was not issued to this client")
    if row.revoked_at is None:
        row.revoked_at = now
        await session.flush()


async def list_tokens(
    session: AsyncSession, *, user_id: int | None = None, include_revoked: bool = False
) -> list[TokenView]:
    query = (
        select(ApiToken, User.username, Actor.username, OAuthApp.name)
        .outerjoin(User, User.id == ApiToken.user_id)
        .outerjoin(Actor, Actor.id == ApiToken.actor_id)
        .outerjoin(OAuthApp, OAuthApp.id == ApiToken.app_id)
        .order_by(ApiToken.id)
    )
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    return [
        TokenView(
            t.id,
            t.name,
            username,
            actor_name,
            app_name,
            tuple(t.scopes.split()),
            t.created_at,
            t.last_used_at,
            t.revoked_at,
        )
        for t, username, actor_name, app_name in await session.execute(query)
    ]


# Writing `last_used_at` on every request would turn every read into a write.
LAST_USED_PRECISION = timedelta(minutes=5)


async def authenticate(session: AsyncSession, token: str, *, now: datetime) -> TokenContext | None:
    """The context a bearer token acts in, or None if it is unknown, revoked, or its
    person no longer holds a role on its actor. May update `last_used_at`; the caller commits.
    """
    if not token or len(token) > 256:
        return None
    row = await session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == hash_secret(token), ApiToken.revoked_at.is_(None)
        )
    )
    if row is None:
        return None
    user: User | None = None
    actor: Actor | None = None
    role: RoleName | None = None
    if row.user_id is not None:
        found = (
            await session.execute(
                select(User, Actor, Role.role)
                .join(Role, Role.user_id == User.id)
                .join(Actor, Actor.id == Role.actor_id)
                .where(User.id == row.user_id, Actor.id == row.actor_id)
            )
        ).first()
        if found is None:
            return None
        user, actor, role_value = found
        role = RoleName(role_value)
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_PRECISION:
        row.last_used_at = now
    return TokenContext(
        token_id=row.id,
        user=user,
        actor=actor,
        role=role,
        scopes=frozenset(row.scopes.split()),
        app_id=row.app_id,
    )


# --- OAuth clients and codes ---------------------------------------------------------------

OOB_REDIRECT = "urn:ietf:wg:oauth:2.0:oob"
_FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "vbscript", "file"})
CODE_TTL = timedelta(minutes=10)


def parse_redirect_uris(value: str | Sequence[str]) -> tuple[str, ...]:
    """Registered redirect URIs: one string separated by newlines or spaces, or a list.

    Each is kept byte-exact (Elk's contains a percent-encoded origin); custom
    schemes (Tusky, Ivory) and oob are fine; script-bearing schemes are refused.
    """
    items = value.split() if isinstance(value, str) else [u for v in value for u in v.split()]
    if not items:
        raise InvalidRedirectError("redirect_uris is required")
    for uri in items:
        if uri == OOB_REDIRECT:
            continue
        scheme = urlsplit(uri).scheme.lower()
        if not scheme or scheme in _FORBIDDEN_SCHEMES or "#" in uri:
            raise InvalidRedirectError(f"redirect URI {uri!r} is not allowed")
    return tuple(dict.fromkeys(items))


def app_redirect_uris(app: OAuthApp) -> tuple[str, ...]:
    return tuple(app.redirect_uris.split("\n"))


def app_scopes(app: OAuthApp) -> tuple[str, ...]:
    return tuple(app.scopes.split())


async def create_app(
    session: AsyncSession,
    *,
    name: str,
    redirect_uris: str | Sequence[str],
    scopes: str | Sequence[str],
    now: datetime,
    website: str | None = None,
) -> OAuthApp:
    """Register an OAuth client; raises InvalidRedirectError, InvalidScopeError or AccountError."""
    if not name.strip():
        raise AccountError("client_name is required")
    if len(name) > 200 or (website is not None and len(website) > 2000):
        raise AccountError("client_name or website is too long")
    app = OAuthApp(
        client_id=new_secret(),
        client_secret=new_secret(),
        name=name.strip(),
        website=website or None,
        redirect_uris="\n".join(parse_redirect_uris(redirect_uris)),
        scopes=_scope_text(parse_scopes(scopes)),
        created_at=now,
    )
    session.add(app)
    await session.flush()
    return app


async def find_app(session: AsyncSession, client_id: str) -> OAuthApp | None:
    return await session.scalar(select(OAuthApp).where(OAuthApp.client_id == client_id))


async def authenticate_client(
    session: AsyncSession, client_id: str, client_secret: str
) -> OAuthApp | None:
    """The client if the secret matches (compared in constant time), else None."""
    app = await find_app(session, client_id) if client_id else None
    if app is None or not hmac.compare_digest(app.client_secret.encode(), client_secret.encode()):
        return None
    return app


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(sha256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


async def issue_code(
    session: AsyncSession,
    *,
    app: OAuthApp,
    user: User,
    actor: Actor,
    redirect_uri: str,
    scopes: Sequence[str],
    code_challenge: str | None,
    now: datetime,
) -> str:
    """A single-use code, valid for CODE_TTL; only its hash is stored. The caller commits."""
    if await role_of(session, user.id, actor.id) is None:
        raise NoRoleError(f"{user.username} holds no role on {actor.username}")
    code = new_secret()
    session.add(
        OAuthCode(
            code_hash=hash_secret(code),
            app_id=app.id,
            user_id=user.id,
            actor_id=actor.id,
            redirect_uri=redirect_uri,
            scopes=_scope_text(scopes),
            code_challenge=code_challenge or None,
            expires_at=now + CODE_TTL,
        )
    )
    await session.flush()
    return code


async def redeem_code(
    session: AsyncSession,
    *,
    app: OAuthApp,
    code: str,
    redirect_uri: str | None,
    code_verifier: str | None,
    now: datetime,
) -> OAuthCode:
    """Consume a code (it is deleted whatever the outcome, so it cannot be guessed at twice).

    `redirect_uri` must equal the one given at authorization (None skips the
    check), and `code_verifier` must match the PKCE challenge of an authorization code.
    Raises InvalidGrantError.
    """
    row = await session.scalar(select(OAuthCode).where(OAuthCode.code_hash == hash_secret(code)))
    if row is None:
        raise InvalidGrantError("the authorization code is invalid")
    await session.execute(delete(OAuthCode).where(OAuthCode.id == row.id))
    # Expired codes of anyone are garbage; sweeping here needs no scheduler.
    await session.execute(delete(OAuthCode).where(OAuthCode.expires_at < now))
    if row.app_id != app.id:
        raise InvalidGrantError("the authorization code was issued to another client")
    if row.expires_at < now:
        raise InvalidGrantError("the authorization code has expired")
    if redirect_uri is not None and redirect_uri != row.redirect_uri:
        raise InvalidGrantError("redirect_uri does not match the authorization request")
    if row.code_challenge is not None and not (
        code_verifier and hmac.compare_digest(pkce_challenge(code_verifier), row.code_challenge)
    ):
        raise InvalidGrantError("code_verifier does not match the code challenge")
    return row
