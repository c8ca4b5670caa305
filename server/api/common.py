"""What every client-API handler shares: input, output, errors, CORS, tokens and paging.

The rules are those of the Mastodon client API contract (ref/mastodon-client-api.md §0):
input from query string, urlencoded, multipart or JSON bodies; JSON output with
`charset=utf-8` always, errors as `{"error": text}` with Mastodon's texts;
CORS on `/api/*` and the OAuth endpoints, errors included. Every URL we emit
is built from the configured base URL, never from the `Host` header, so a
client that connects by IP address (Mastodon.py in the tests) gets the same
answers as one that connects by name.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from urllib.parse import parse_qsl, urlencode

from aiohttp import web

from actors.accounts import Action, TokenContext, authenticate, hash_secret
from actors.models import Actor, User
from actors.uris import LocalUris
from federation.ratelimit import retry_after_seconds
from federation.text import clean_text, load_json
from outbox.timelines import Page
from server import keys
from server.ratelimit import RateLimitedError

Json = dict[str, object]

# --- errors --------------------------------------------------------------------------------

INVALID_TOKEN: Final = "The access token is invalid"
OUTSIDE_SCOPES: Final = "This action is outside the authorized scopes"
NOT_ALLOWED: Final = "This action is not allowed"
NOT_FOUND: Final = "Record not found"
NEEDS_USER: Final = "This method requires an authenticated user"
TOO_MANY_REQUESTS: Final = "Too many requests"


class ApiError(Exception):
    """An error answer: `error` is the text clients show; OAuth adds `description`."""

    def __init__(
        self,
        status: int,
        error: str,
        description: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.description = description
        self.headers = dict(headers or {})


def not_found() -> ApiError:
    """Also for things that exist but the caller may not see (Mastodon never says 403 there)."""
    return ApiError(404, NOT_FOUND)


def not_allowed() -> ApiError:
    return ApiError(403, NOT_ALLOWED)


def validation_failed(message: str) -> ApiError:
    return ApiError(422, f"Validation failed: {message}")


def missing(name: str) -> ApiError:
    return ApiError(400, f"Missing required parameter: {name}")


def too_many_requests(limited: RateLimitedError, now: datetime) -> ApiError:
    """429 with `Retry-After` and Mastodon's `X-RateLimit-*` headers: Mastodon.py sleeps
    until `X-RateLimit-Reset` and then tries again (without it, it guesses from 2 s up)."""
    reset = now + timedelta(seconds=limited.retry_after)
    return ApiError(
        429,
        TOO_MANY_REQUESTS,
        headers={
            "Retry-After": str(limited.retry_after),
            "X-RateLimit-Limit": str(limited.limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": api_datetime(reset),
        },
    )


# --- output --------------------------------------------------------------------------------


def json_response(
    doc: object, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """JSON with charset (masto.js rejects anything else); `api_handler` adds CORS."""
    return web.Response(
        body=json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def error_response(err: ApiError) -> web.Response:
    doc: Json = {"error": err.error}
    if err.description is not None:
        doc["error_description"] = err.description
    return json_response(doc, status=err.status, headers=err.headers or None)


def api_datetime(value: datetime) -> str:
    """Mastodon's `YYYY-MM-DDTHH:MM:SS.mmmZ`: exactly three fraction digits (Ice Cubes' parser)."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def api_datetime_or_none(value: datetime | None) -> str | None:
    return None if value is None else api_datetime(value)


# --- input ---------------------------------------------------------------------------------

_FALSE = frozenset({"0", "false", "f", "off", ""})


class Params:
    """Request parameters from the body and the query string, body first.

    Arrays arrive as `x[]` (urlencoded, multipart) or as JSON lists; `get_list`
    reads both spellings. Nested JSON objects are flattened to `x[y]`.
    """

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._pairs = list(pairs)

    def __contains__(self, name: str) -> bool:
        return any(k in (name, name + "[]") for k, _ in self._pairs)

    def get(self, name: str) -> str | None:
        for key, value in self._pairs:
            if key == name:
                return value
        return None

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None or not value.strip():
            raise missing(name)
        return value

    def get_list(self, name: str) -> list[str]:
        return [v for k, v in self._pairs if k in (name, name + "[]")]

    def get_bool(self, name: str, default: bool = False) -> bool:
        """Mastodon's reading: `0`, `false`, `f`, `off` and empty are false, all else true."""
        value = self.get(name)
        if value is None:
            return default
        return value.strip().lower() not in _FALSE

    def get_int(self, name: str) -> int | None:
        """A non-negative integer that fits a BIGINT column, else None."""
        return parse_id(self.get(name) or "")


MAX_ID = 2**63 - 1


def parse_id(text: str) -> int | None:
    """A digit-only id within BIGINT range (ids beyond it exist nowhere), else None."""
    text = text.strip()
    if not text.isdigit() or len(text) > 19:
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def _flatten(prefix: str, value: object, out: list[tuple[str, str]]) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        out.append((prefix, "true" if value else "false"))
    elif isinstance(value, (str, int, float)):
        out.append((prefix, str(value)))
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (str, int, float, bool)):
                _flatten(prefix, item, out)
    elif isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}[{key}]", item, out)


async def read_json(request: web.Request) -> object:
    """The request body as JSON (an empty body is `{}`); 400 when it is not JSON."""
    try:
        return load_json(await request.read() or b"{}")
    except ValueError:
        raise ApiError(400, "Invalid JSON in the request body") from None


async def read_object(request: web.Request) -> dict[str, object]:
    """`read_json` for endpoints that take a JSON object; 422 for any other JSON value."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise validation_failed("the body must be a JSON object")
    return body


async def read_params(request: web.Request) -> Params:
    """Body (JSON, multipart, or urlencoded, which is also assumed without Content-Type),
    then the query string (Mammoth sends POST parameters there)."""
    pairs: list[tuple[str, str]] = []
    if request.can_read_body:
        ctype = request.content_type
        if ctype == "application/json" or ctype.endswith("+json"):
            doc = await read_json(request)
            if isinstance(doc, dict):
                for key, value in doc.items():
                    _flatten(str(key), value, pairs)
        elif ctype == "multipart/form-data":
            form = await request.post()
            pairs += [(k, v) for k, v in form.items() if isinstance(v, str)]
        else:
            text = (await request.read()).decode("utf-8", "replace")
            pairs += parse_qsl(text, keep_blank_values=True)
    pairs += list(request.query.items())
    # NUL and lone surrogates reach no query (PostgreSQL refuses NUL in text).
    return Params([(clean_text(k), clean_text(v)) for k, v in pairs])


# --- tokens --------------------------------------------------------------------------------


def bearer_token(request: web.Request) -> str | None:
    """`Authorization: Bearer`, else an `access_token` query parameter as Mastodon accepts
    (some hosts strip the header: akirk/enable-mastodon-apps#127)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query.get("access_token") or None


async def token_context(request: web.Request) -> TokenContext | None:
    """The caller's token context, or None without a token; 401 for a bad or revoked token."""
    token = bearer_token(request)
    if token is None:
        return None
    app = request.app
    async with app[keys.SESSIONMAKER]() as session:
        ctx = await authenticate(session, token, now=app[keys.CLOCK]())
        await session.commit()
    if ctx is None:
        raise ApiError(401, INVALID_TOKEN)
    return ctx


@dataclass(frozen=True, slots=True)
class Caller:
    """A user token's context, narrowed: a person acting for a local actor."""

    ctx: TokenContext
    user: User
    actor: Actor

    def actor_uri(self, uris: LocalUris) -> str:
        return uris.actor(self.actor.username)


async def require_user(request: web.Request, *scopes: str) -> Caller:
    """A user token granting one of `scopes` (any scope when none are given).

    401 without a valid token, 422 for an app token, 403 for a token without the scope.
    """
    ctx = await token_context(request)
    if ctx is None:
        raise ApiError(401, INVALID_TOKEN)
    if ctx.user is None or ctx.actor is None:
        raise ApiError(422, NEEDS_USER)
    if scopes and not any(ctx.allows(s) for s in scopes):
        raise ApiError(403, OUTSIDE_SCOPES)
    return Caller(ctx, ctx.user, ctx.actor)


async def require_staff(request: web.Request, action: Action, *scopes: str) -> Caller:
    """`require_user`, and the caller's role on its actor allows `action` (else 403)."""
    caller = await require_user(request, *scopes)
    if not caller.ctx.can(action):
        raise not_allowed()
    return caller


async def require_admin(request: web.Request, *scopes: str) -> Caller:
    """`require_user`, and the person is one of the instance's administrators (else 403)."""
    caller = await require_user(request, *scopes)
    if not caller.user.is_admin:
        raise not_allowed()
    return caller


async def optional_user(request: web.Request, *scopes: str) -> Caller | None:
    """The caller when a user token is given (for endpoints that are also public)."""
    ctx = await token_context(request)
    if ctx is None or ctx.user is None or ctx.actor is None:
        return None
    if scopes and not any(ctx.allows(s) for s in scopes):
        return None
    return Caller(ctx, ctx.user, ctx.actor)


# --- paging --------------------------------------------------------------------------------

_PAGE_PARAMS = frozenset({"max_id", "since_id", "min_id"})


def read_page(params: Params, *, default: int = 20, cap: int = 40) -> Page:
    """Mastodon paging parameters; `limit` is capped at twice the default."""
    limit = params.get_int("limit") or default
    return Page(
        max_id=params.get_int("max_id"),
        since_id=params.get_int("since_id"),
        min_id=params.get_int("min_id"),
        limit=max(1, min(limit, cap)),
    )


def link_header(
    request: web.Request, ids: Sequence[int], *, prev_param: str = "min_id"
) -> dict[str, str]:
    """`Link: <…max_id=LAST>; rel="next", <…min_id=FIRST>; rel="prev"` for a non-empty page.

    URLs are absolute (from the configured base URL) and keep every other
    query parameter (mastodon/mastodon#1156). An empty page gets no Link,
    which ends Mastodon.py's `fetch_remaining`.
    """
    if not ids:
        return {}
    base = request.app[keys.CONFIG].instance.base_url + request.path
    kept = [(k, v) for k, v in request.query.items() if k not in _PAGE_PARAMS]

    def url(name: str, value: int) -> str:
        return base + "?" + urlencode([*kept, (name, str(value))])

    return {
        "Link": f'<{url("max_id", ids[-1])}>; rel="next", <{url(prev_param, ids[0])}>; rel="prev"'
    }


# --- CORS and JSON errors, per API route ---------------------------------------------------
#
# Wrapped around each API handler rather than installed as an app-wide
# middleware: the federation read paths (actor documents, WebFinger, inbox)
# must not pay for the API on every request.

_EXPOSE = (
    "Link, X-RateLimit-Reset, X-RateLimit-Limit, X-RateLimit-Remaining, X-Request-Id, Retry-After"
)
_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _cors(response: web.StreamResponse) -> web.StreamResponse:
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = _EXPOSE
    return response


def limit_api_write(request: web.Request) -> None:
    """Charge a write under /api/ to its token (or, without one, its client address);
    429 before the handler runs when there is no room, so a refused write does nothing."""
    if request.method not in _WRITES or not request.path.startswith("/api/"):
        return
    limits = request.app[keys.LIMITS]
    if not limits.api_writes.enabled:
        return
    token = bearer_token(request)
    key = "token " + hash_secret(token) if token else "address " + limits.client_address(request)
    wait = limits.api_writes.hit(key)
    if wait > 0:
        limited = RateLimitedError(retry_after_seconds(wait), limits.api_writes.limit)
        raise too_many_requests(limited, request.app[keys.CLOCK]())


def api_handler(handler: Handler) -> Handler:
    """JSON errors (`ApiError`, and aiohttp's own 4xx such as 413) with CORS, as on success;
    API writes are rate-limited first."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            limit_api_write(request)
            return _cors(await handler(request))
        except ApiError as err:
            return _cors(error_response(err))
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            text = NOT_FOUND if exc.status == 404 else (exc.reason or "Error")
            return _cors(error_response(ApiError(exc.status, text)))

    return wrapped


async def preflight(request: web.Request) -> web.Response:
    """CORS preflight: any origin, method and request header; no credentials."""
    response = web.Response(status=204)
    response.headers["Access-Control-Allow-Methods"] = _METHODS
    response.headers["Access-Control-Allow-Headers"] = request.headers.get(
        "Access-Control-Request-Headers", "Authorization, Content-Type, Idempotency-Key"
    )
    response.headers["Access-Control-Max-Age"] = "86400"
    _cors(response)
    return response


async def unknown(request: web.Request) -> web.Response:
    """Any other /api path: clients fall back to older endpoints only on a JSON 404."""
    raise not_found()


class Routes:
    """Adds API routes with `api_handler` around each handler."""

    def __init__(self, app: web.Application) -> None:
        self._router = app.router

    def get(self, path: str, handler: Handler) -> None:
        self._router.add_get(path, api_handler(handler))

    def post(self, path: str, handler: Handler) -> None:
        self._router.add_post(path, api_handler(handler))

    def put(self, path: str, handler: Handler) -> None:
        self._router.add_put(path, api_handler(handler))

    def patch(self, path: str, handler: Handler) -> None:
        self._router.add_patch(path, api_handler(handler))

    def delete(self, path: str, handler: Handler) -> None:
        self._router.add_delete(path, api_handler(handler))


def add_cors_fallbacks(app: web.Application, cors_paths: Iterable[str]) -> None:
    """Preflights for the API and OAuth paths, and the JSON 404 for unknown /api paths.

    Registered last: the router tries longer path prefixes first, so these only
    answer what no API route matched.
    """
    for path in cors_paths:
        app.router.add_route("OPTIONS", path, preflight)
    app.router.add_route("OPTIONS", "/api/{tail:.*}", preflight)
    app.router.add_route("*", "/api/{tail:.*}", api_handler(unknown))
