"""What every Mastodon API endpoint shares: the endpoint table, token authentication and scopes, parameters from
query, JSON or form bodies, the error shape, Mastodon pagination with Link headers, and CORS."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qsl, urlencode

from aiohttp import web
from multidict import MultiDict
from sqlalchemy import bindparam, select
from sqlalchemy.orm import make_transient_to_detached

from federation.vocabulary import dumps
from models import Actor
from models.oauth import AccessToken, digest
from server.keys import FED
from server.lru import Lru
from server.mastodon import scopes as scope_rules


class ApiError(Exception):
    """An answer in Mastodon's error shape: {"error": message} with an HTTP status."""

    def __init__(self, status: int, message: str, **extra):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


NOT_FOUND = "Record not found"


def not_found() -> ApiError:
    return ApiError(404, NOT_FOUND)


def error_response(status: int, message: str, **extra) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


class Caller:
    """Who is calling: the token (if any), the account it acts as (None for app tokens) and its scopes. The
    token's and the account's model objects are made from the row read when first asked for."""

    def __init__(self, values: dict | None = None):
        self._values = values
        self.scopes = frozenset(values["scopes"].split()) if values else frozenset()
        self.account_id: int | None = values["actor_id"] if values else None

    @cached_property
    def token(self) -> AccessToken | None:
        if self._values is None:
            return None
        return _detached(AccessToken, {c.key: self._values[c.key] for c in _TOKEN_COLUMNS})

    @cached_property
    def account(self) -> Actor | None:
        if self.account_id is None:
            return None
        values = self._values
        return _detached(Actor, {c.key: values[f"actor_{c.key}"] for c in Actor.__table__.columns})


Handler = Callable[[web.Request, "Params", Caller], Awaitable[Any]]


@dataclass
class Endpoint:
    method: str
    path: str
    handler: Handler
    scope: str | None  # None: no token needed
    user: bool  # needs a token acting as an account
    summary: str
    paginated: bool
    tag: str


ENDPOINTS: list[Endpoint] = []


def endpoint(
    method: str,
    path: str,
    scope: str | None = None,
    user: bool = False,
    summary: str = "",
    paginated: bool = False,
    tag: str = "",
):
    """Registers a handler(request, params, caller) that returns a JSON-able value or a web.StreamResponse."""

    def register(fn: Handler) -> Handler:
        ENDPOINTS.append(
            Endpoint(
                method,
                path,
                fn,
                scope,
                user or False,
                summary or (fn.__doc__ or "").strip(),
                paginated,
                tag or fn.__module__.rsplit(".", 1)[-1],
            )
        )
        return fn

    return register


# ---------------------------------------------------------------- parameters


class Params:
    """Query and body parameters together; `name[]` arrays read as lists."""

    def __init__(self, values: MultiDict):
        self.values = values

    def get(self, name: str, default: Any = None) -> Any:
        value = self.values.get(name, self.values.get(f"{name}[]", default))
        return value

    def str(self, name: str, default: str | None = None) -> str | None:
        value = self.get(name)
        if value is None or isinstance(value, (list, dict)):
            return default
        return str(value)

    def list(self, name: str) -> list:
        found: list = []
        for key in (name, f"{name}[]"):
            for value in self.values.getall(key, []):
                found.extend(value if isinstance(value, list) else [value])
        return found

    def bool(self, name: str, default: bool = False) -> bool:
        value = self.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("1", "true", "t", "on", "yes")

    def int(self, name: str, default: int | None = None) -> int | None:
        value = self.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ApiError(422, f"Validation failed: {name} must be a number") from None


def _flatten_json(document: Any) -> MultiDict:
    values: MultiDict = MultiDict()
    if isinstance(document, dict):
        for key, value in document.items():
            values.add(str(key), value)
    return values


async def read_params(request: web.Request) -> Params:
    values: MultiDict = MultiDict(request.query)
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.can_read_body:
        body = await request.read()
        if body.strip():
            content_type = request.content_type
            if content_type == "application/json" or (
                content_type not in ("application/x-www-form-urlencoded", "multipart/form-data")
                and body.lstrip()[:1] in (b"{", b"[")
            ):
                try:
                    values.extend(_flatten_json(json.loads(body)))
                except ValueError:
                    raise ApiError(400, "The request body is not valid JSON") from None
            elif content_type == "multipart/form-data":
                for key, value in (await request.post()).items():
                    values.add(key, value if isinstance(value, str) else "")
            else:
                values.extend(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return Params(values)


def object_id(request: web.Request, name: str = "id") -> int:
    """A numeric id from the path; anything else is a 404, as Mastodon answers."""
    raw = request.match_info.get(name, "")
    if not raw.isdigit() or len(raw) > 18:
        raise not_found()
    return int(raw)


# ---------------------------------------------------------------- tokens


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.query.get("access_token") or None


_TOKEN_COLUMNS = tuple(AccessToken.__table__.columns)
_ACTOR_COLUMNS = tuple(c.label(f"actor_{c.key}") for c in Actor.__table__.columns)
_CALLER = (
    select(*_TOKEN_COLUMNS, *_ACTOR_COLUMNS)
    .outerjoin(Actor, Actor.id == AccessToken.account_id)
    .where(AccessToken.token_hash == bindparam("hash"), AccessToken.revoked_at.is_(None))
)


def _detached(model, values: dict):
    """A model instance from a row read with Core, detached as if its session had closed (all loaded)."""
    found = model(**values)
    make_transient_to_detached(found)
    return found


def _caller_row(conn, token_hash: str):
    row = conn.execute(_CALLER, {"hash": token_hash}).first()
    return dict(row._mapping) if row is not None else None


# A token's row (with its account's) is read again after TOKEN_TTL seconds: a token revoked here is dropped at
# once (forget_token), one revoked by another process is refused by this one within TOKEN_TTL.
TOKEN_TTL = 2.0
TOKENS_KEPT = 10_000
TOKENS = web.AppKey("mastodon_tokens", Lru)


async def _caller_values(request: web.Request, token_hash: str) -> dict | None:
    tokens = request.app.get(TOKENS)
    now = time.monotonic()
    found = tokens.used(token_hash) if tokens is not None else None
    if found is not None and found[0] > now:
        return found[1]
    values = await request.app[FED].db.run_read(_caller_row, token_hash)
    if tokens is not None:
        if values is None:
            tokens.pop(token_hash, None)
        else:
            tokens.keep(token_hash, (now + TOKEN_TTL, values))
    return values


def forget_token(app: web.Application, token_hash: str) -> None:
    """A revoked token is refused by this process from now on."""
    tokens = app.get(TOKENS)
    if tokens is not None:
        tokens.pop(token_hash, None)


def forget_account(app: web.Application, account_id: int) -> None:
    """Tokens acting as an account are read again (its row changed)."""
    tokens = app.get(TOKENS)
    if tokens is not None:
        for key in [k for k, (_, values) in tokens.items() if values["actor_id"] == account_id]:
            tokens.pop(key, None)


async def authenticate(request: web.Request, token_text: str | None) -> Caller | None:
    """The caller behind a token, or None for a missing, unknown or revoked one."""
    if not token_text:
        return None
    values = await _caller_values(request, digest(token_text))
    return Caller(values) if values is not None else None


async def caller_for(request: web.Request, ep: Endpoint) -> Caller:
    token_text = bearer(request)
    caller = await authenticate(request, token_text)
    if ep.scope is None and not ep.user:
        return caller or Caller()
    if caller is None:
        raise ApiError(401, "The access token is invalid" if token_text else "The access token is missing")
    if ep.scope is not None and not scope_rules.covers(caller.scopes, ep.scope):
        raise ApiError(403, "This action is outside the authorized scopes")
    if ep.user and caller.account_id is None:
        raise ApiError(422, "This method requires an authenticated user")
    return caller


def _wrap(ep: Endpoint):
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            caller = await caller_for(request, ep)
            params = await read_params(request)
            result = await ep.handler(request, params, caller)
        except ApiError as error:
            return error_response(error.status, error.message, **error.extra)
        if isinstance(result, web.StreamResponse):
            return result
        return web.json_response(result, dumps=dumps)

    handler.__name__ = ep.handler.__name__
    return handler


def json_answer(value: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.json_response(value, status=status, headers=headers, dumps=dumps)


# ---------------------------------------------------------------- pagination


@dataclass
class Page:
    max_id: int | None = None
    since_id: int | None = None
    min_id: int | None = None
    limit: int = 20
    offset: int = 0


def _id_param(params: Params, name: str) -> int | None:
    value = params.str(name)
    if value is None or value == "":
        return None
    return int(value) if value.isdigit() and len(value) <= 18 else None


def page_of(params: Params, default: int = 20, maximum: int = 40) -> Page:
    limit = params.int("limit", default) or default
    return Page(
        _id_param(params, "max_id"),
        _id_param(params, "since_id"),
        _id_param(params, "min_id"),
        max(1, min(limit, maximum)),
        max(0, params.int("offset", 0) or 0),
    )


def paginate(query, column, page: Page):
    """Applies max_id / since_id / min_id and the limit to a query ordered by `column` (newest first)."""
    if page.max_id is not None:
        query = query.where(column < page.max_id)
    if page.since_id is not None:
        query = query.where(column > page.since_id)
    if page.min_id is not None:
        return query.where(column > page.min_id).order_by(column.asc()).limit(page.limit)
    return query.order_by(column.desc()).limit(page.limit)


def in_order(rows: list, page: Page) -> list:
    """Rows newest first (min_id pages are read oldest first, then turned round)."""
    return list(reversed(rows)) if page.min_id is not None else list(rows)


def link_header(request: web.Request, newest: int | None, oldest: int | None) -> dict:
    """`Link` with rel="next" (older, max_id) first and rel="prev" (newer, min_id), keeping the other parameters."""
    if newest is None or oldest is None:
        return {}
    base = request.app[FED].settings.base_url + request.path
    kept = [
        (k, v) for k, v in request.query.items() if k not in ("max_id", "min_id", "since_id", "access_token")
    ]
    nxt = urlencode(kept + [("max_id", str(oldest))])
    prev = urlencode(kept + [("min_id", str(newest))])
    return {"Link": f'<{base}?{nxt}>; rel="next", <{base}?{prev}>; rel="prev"'}


def paged(request: web.Request, items: list[dict], ids: list[int] | None = None) -> web.Response:
    """A JSON list with its Link header; `ids` are the pagination keys (default: the items' ids)."""
    keys = ids if ids is not None else [int(i["id"]) for i in items]
    headers = link_header(request, keys[0], keys[-1]) if keys else {}
    return json_answer(items, headers=headers)


def paged_json(request: web.Request, text: str, ids: list[int]) -> web.Response:
    """An already serialised JSON list with its Link header; `ids` are the pagination keys."""
    headers = link_header(request, ids[0], ids[-1]) if ids else {}
    return web.Response(text=text, content_type="application/json", headers=headers)


# ---------------------------------------------------------------- CORS and routes

CORS_PREFIXES = ("/api/", "/oauth/token", "/oauth/revoke", "/oauth/userinfo", "/.well-known/", "/nodeinfo")
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Link, X-RateLimit-Reset, X-RateLimit-Limit, X-RateLimit-Remaining, X-Request-Id",
}


def wants_cors(path: str) -> bool:
    return path.startswith(CORS_PREFIXES)


@web.middleware
async def cors_middleware(request: web.Request, handler):
    if not wants_cors(request.path):
        return await handler(request)
    if request.method == "OPTIONS":
        return web.Response(
            status=204,
            headers={
                **CORS_HEADERS,
                "Access-Control-Allow-Methods": "POST, PUT, DELETE, GET, PATCH, OPTIONS",
                "Access-Control-Allow-Headers": request.headers.get(
                    "Access-Control-Request-Headers", "Authorization, Content-Type, Idempotency-Key"
                ),
                "Access-Control-Max-Age": "1728000",
            },
        )
    try:
        response = await handler(request)
    except web.HTTPException as error:
        if error.status == 404 and request.path.startswith("/api/"):
            response = error_response(404, "Not found")
        elif error.status == 405 and request.path.startswith("/api/"):
            response = error_response(405, "Method not allowed")
        else:
            error.headers.update(CORS_HEADERS)
            raise
    if not response.prepared:
        response.headers.update(CORS_HEADERS)
    return response


def add_routes(app: web.Application) -> None:
    """Every registered endpoint, with and without a trailing slash; fixed paths before ones with {ids}."""
    app[TOKENS] = Lru(TOKENS_KEPT)
    for ep in sorted(ENDPOINTS, key=lambda e: ("{" in e.path, e.path)):
        handler = _wrap(ep)
        for path in (ep.path, ep.path + "/"):
            app.router.add_route(ep.method, path, handler)
