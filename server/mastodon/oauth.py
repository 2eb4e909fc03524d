"""OAuth 2 for Mastodon clients: app registration, the login and consent page, the token endpoint (authorization
code with optional PKCE, client credentials, password), revocation, and the server metadata document."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from html import escape
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from sqlalchemy import select

from federation.urls import INSTANCE_ACTOR
from models import Actor, utcnow
from models.oauth import AccessToken, AuthorizationCode, OAuthApp, digest
from server import sessions, throttle
from server.keys import FED, TEMPLATES
from server.mastodon import scopes as scope_rules
from server.mastodon.api import ApiError, Caller, Params, endpoint, forget_token, json_answer, read_params
from server.mastodon.entities import application

OOB = "urn:ietf:wg:oauth:2.0:oob"
CODE_LIFETIME = dt.timedelta(minutes=10)
GRANTS = ["authorization_code", "client_credentials", "password"]
SCOPE_TEXT = {
    "read": "read everything your account can see",
    "write": "post, favourite, boost and change your profile",
    "follow": "follow and unfollow accounts",
    "push": "receive push notifications",
    "profile": "see your profile",
}


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.response = _oauth_error(status, error, description)
        if retry_after is not None:
            self.response.headers["Retry-After"] = str(retry_after)


def _redirect_allowed(uri: str) -> bool:
    """OOB, http(s) and custom schemes that mobile apps register (myapp://callback); never javascript: or data:."""
    if uri == OOB:
        return True
    scheme = urlsplit(uri).scheme.lower()
    return bool(scheme) and scheme not in (
        "javascript",
        "data",
        "vbscript",
        "file",
        "blob",
        "about",
        "filesystem",
    )


# ---------------------------------------------------------------- apps


@endpoint("POST", "/api/v1/apps", summary="Register a client application")
async def create_app(request: web.Request, params: Params, caller: Caller):
    name = (params.str("client_name") or "").strip()
    if not name:
        raise ApiError(422, "Validation failed: Application name can't be blank")
    redirect = params.get("redirect_uris") or params.get("redirect_uri") or OOB
    uris = [
        u.strip() for u in (redirect if isinstance(redirect, list) else str(redirect).split()) if u.strip()
    ]
    if not uris or not all(_redirect_allowed(u) for u in uris):
        raise ApiError(422, "Validation failed: Redirect URI must be an absolute URI")
    try:
        scopes = scope_rules.parse(params.str("scopes"))
    except scope_rules.ScopeError as error:
        raise ApiError(422, f"Validation failed: {error}") from None
    secret = secrets.token_urlsafe(32)
    app = OAuthApp(
        client_id=secrets.token_urlsafe(32),
        client_secret_hash=digest(secret),
        name=name[:255],
        website=params.str("website") or None,
        redirect_uris="\n".join(uris),
        scopes=" ".join(scopes),
    )
    async with request.app[FED].db.session() as session:
        session.add(app)
        await session.flush()
    return application(app, secret)


@endpoint("GET", "/api/v1/apps/verify_credentials", scope="read", summary="The application behind the token")
async def verify_app(request: web.Request, params: Params, caller: Caller):
    async with request.app[FED].db.session() as session:
        app = await session.get(OAuthApp, caller.token.app_id)
    return application(app)


async def _app(session, client_id: str | None) -> OAuthApp | None:
    if not client_id:
        return None
    return await session.scalar(select(OAuthApp).where(OAuthApp.client_id == client_id))


def _secret_ok(app: OAuthApp, secret: str | None) -> bool:
    return bool(secret) and hmac.compare_digest(app.client_secret_hash, digest(secret))


# ---------------------------------------------------------------- the consent page

OAUTH_FIELDS = (
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "response_type",
    "code_challenge",
    "code_challenge_method",
)


async def _actable_accounts(session, member: Actor) -> list[Actor]:
    """The member itself, and the movement it administers (apps may act for a movement through its admins)."""
    accounts = [member]
    if member.role == "admin" and member.movement_id is not None:
        movement = await session.get(Actor, member.movement_id)
        if movement is not None and movement.username != INSTANCE_ACTOR:
            accounts.append(movement)
    return accounts


class _Request:
    """The OAuth parameters of an authorization request, checked against the app."""

    def __init__(self, app: OAuthApp, values: dict):
        self.app = app
        self.values = values
        self.redirect_uri = values.get("redirect_uri") or (
            app.redirect_uri_list[0] if len(app.redirect_uri_list) == 1 else ""
        )
        self.state = values.get("state") or ""
        self.scopes: list[str] = []

    @property
    def oauth(self) -> dict:
        return {k: self.values[k] for k in OAUTH_FIELDS if self.values.get(k)}


async def _check_request(request: web.Request, values: dict) -> tuple[_Request | None, str | None]:
    async with request.app[FED].db.session() as session:
        app = await _app(session, values.get("client_id"))
    if app is None:
        return None, "This application is not known here (unknown client_id)."
    checked = _Request(app, values)
    if checked.redirect_uri not in app.redirect_uri_list:
        return None, "The redirect URI is not one this application registered."
    if (values.get("response_type") or "code") != "code":
        return None, "Only response_type=code is supported."
    try:
        requested = scope_rules.parse(values.get("scope"))
    except scope_rules.ScopeError as error:
        return None, str(error)
    if not scope_rules.within(requested, app.scopes.split()):
        return None, "The application asks for more than it registered."
    if values.get("code_challenge") and (values.get("code_challenge_method") or "plain") not in (
        "S256",
        "plain",
    ):
        return None, "Unsupported code_challenge_method."
    checked.scopes = requested
    return checked, None


async def _page(request: web.Request, checked: _Request | None, status: int = 200, **context) -> web.Response:
    session = await sessions.load(request)
    html = (
        request.app[TEMPLATES]
        .get_template("oauth_authorize.html")
        .render(
            app=checked.app if checked else None,
            oauth=checked.oauth if checked else {},
            csrf=session.csrf,
            scopes=getattr(checked, "scopes", []),
            scope_text=lambda s: SCOPE_TEXT.get(s, s),
            host=request.host,
            chrome=request.get("chrome"),
            **context,
        )
    )
    response = web.Response(
        text=html,
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"},
    )
    return await sessions.keep(request, response)


def _error_page(request: web.Request, message: str, status: int = 400) -> web.Response:
    html = f"<!doctype html><meta charset=utf-8><title>Authorization error</title><p>{escape(message)}</p>"
    return web.Response(text=html, status=status, content_type="text/html")


async def _signed_in_member(request: web.Request) -> Actor | None:
    session = await sessions.load(request)
    if session.member_id is None:
        return None
    async with request.app[FED].db.session() as db:
        return await db.get(Actor, session.member_id)


async def authorize_form(request: web.Request) -> web.Response:
    checked, problem = await _check_request(request, dict(request.query))
    if checked is None:
        return _error_page(request, problem)
    member = (
        None
        if request.query.get("force_login", "").lower() in ("1", "true")
        else await _signed_in_member(request)
    )
    return await _consent_or_login(request, checked, member)


async def _consent_or_login(request, checked, member, status: int = 200, error: str | None = None):
    if member is None:
        return await _page(request, checked, status=status, member=None, error=error)
    async with request.app[FED].db.session() as session:
        accounts = await _actable_accounts(session, member)
    return await _page(request, checked, status=status, member=member, accounts=accounts, error=error)


def _redirect(target: str, **query) -> web.Response:
    """A redirect to the app's URI exactly as registered (custom schemes included, not normalised)."""
    separator = "&" if "?" in target else "?"
    location = target + separator + urlencode({k: v for k, v in query.items() if v})
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})


async def authorize_submit(request: web.Request) -> web.Response:
    form = await request.post()
    checked, problem = await _check_request(request, {k: str(form.get(k, "")) for k in OAUTH_FIELDS})
    if checked is None:
        return _error_page(request, problem)
    session = await sessions.check_csrf(request, form)
    action = form.get("action")
    fed = request.app[FED]
    if action == "login":
        member, wait = await throttle.sign_in(
            request, str(form.get("username", "")).strip(), str(form.get("password", ""))
        )
        if wait:
            response = await _consent_or_login(
                request, checked, None, status=429, error=throttle.wait_message(wait)
            )
            response.headers["Retry-After"] = str(wait)
            return response
        if member is None:
            return await _consent_or_login(
                request, checked, None, status=401, error="Wrong name or password."
            )
        fresh = sessions.Session(member.id, secrets.token_urlsafe(24))
        request["session"] = fresh
        response = await _consent_or_login(request, checked, member)
        await sessions.save(request, response, fresh)
        return response
    member = await _signed_in_member(request) if session.member_id else None
    if member is None:
        return await _consent_or_login(request, checked, None, status=401, error="Please sign in first.")
    if action == "deny":
        if checked.redirect_uri == OOB:
            return _error_page(request, "You denied the application access.", status=403)
        return _redirect(checked.redirect_uri, error="access_denied", state=checked.state)
    async with fed.db.session() as db:
        accounts = {a.username: a for a in await _actable_accounts(db, member)}
        account = accounts.get(str(form.get("account") or member.username))
        if account is None:
            return await _consent_or_login(
                request, checked, member, status=403, error="You may not act for that account."
            )
        code = secrets.token_urlsafe(32)
        db.add(
            AuthorizationCode(
                code_hash=digest(code),
                app_id=checked.app.id,
                account_id=account.id,
                member_id=member.id,
                redirect_uri=checked.redirect_uri,
                scopes=" ".join(checked.scopes),
                code_challenge=checked.values.get("code_challenge") or None,
                code_challenge_method=(checked.values.get("code_challenge_method") or "plain")
                if checked.values.get("code_challenge")
                else None,
                expires_at=utcnow() + CODE_LIFETIME,
            )
        )
    if checked.redirect_uri == OOB:
        return await _page(request, checked, code=code, member=member)
    return _redirect(checked.redirect_uri, code=code, state=checked.state)


# ---------------------------------------------------------------- tokens


def _client_credentials(request: web.Request, params: Params) -> tuple[str | None, str | None]:
    header = request.headers.get("Authorization", "")
    if header[:6].lower() == "basic ":
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            return client_id, secret
        except (ValueError, UnicodeDecodeError):
            pass
    return params.str("client_id"), params.str("client_secret")


def _pkce_ok(code: AuthorizationCode, verifier: str | None) -> bool:
    if code.code_challenge is None:
        return True
    if not verifier:
        return False
    if code.code_challenge_method == "S256":
        computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        return hmac.compare_digest(computed, code.code_challenge)
    return hmac.compare_digest(verifier, code.code_challenge)


async def _issue(
    session, app: OAuthApp, scopes: list[str], account_id: int | None, member_id: int | None
) -> dict:
    token = secrets.token_urlsafe(32)
    row = AccessToken(
        token_hash=digest(token),
        app_id=app.id,
        account_id=account_id,
        member_id=member_id,
        scopes=" ".join(scopes),
    )
    session.add(row)
    await session.flush()
    return {
        "access_token": token,
        "token_type": "Bearer",
        "scope": row.scopes,
        "created_at": int(row.created_at.timestamp()),
    }


async def token(request: web.Request) -> web.Response:
    try:
        params = await read_params(request)
        return json_answer(await _token(request, params), headers={"Cache-Control": "no-store"})
    except OAuthError as error:
        return error.response
    except ApiError as error:
        return _oauth_error(error.status, "invalid_request", error.message)


async def _token(request: web.Request, params: Params) -> dict:
    grant = params.str("grant_type")
    client_id, secret = _client_credentials(request, params)
    async with request.app[FED].db.session() as session:
        app = await _app(session, client_id)
        if app is None:
            raise OAuthError(401, "invalid_client", "Client authentication failed due to unknown client.")
        if grant == "authorization_code":
            code_text = params.str("code") or ""
            code = await session.scalar(
                select(AuthorizationCode).where(AuthorizationCode.code_hash == digest(code_text))
            )
            if code is None or code.app_id != app.id or code.expires_at < utcnow():
                raise OAuthError(400, "invalid_grant", "The authorization code is invalid, expired or used.")
            await session.delete(code)  # a code works once
            if not _secret_ok(app, secret) and not (code.code_challenge and not secret):
                raise OAuthError(401, "invalid_client", "Client authentication failed.")
            if (params.str("redirect_uri") or code.redirect_uri) != code.redirect_uri:
                raise OAuthError(
                    400, "invalid_grant", "The redirect URI does not match the authorization request."
                )
            if not _pkce_ok(code, params.str("code_verifier")):
                raise OAuthError(400, "invalid_grant", "The code verifier does not match.")
            return await _issue(session, app, code.scopes.split(), code.account_id, code.member_id)
        if not _secret_ok(app, secret):
            raise OAuthError(401, "invalid_client", "Client authentication failed.")
        try:
            scopes = scope_rules.parse(params.str("scope"))
        except scope_rules.ScopeError as error:
            raise OAuthError(400, "invalid_scope", str(error)) from None
        if not scope_rules.within(scopes, app.scopes.split()):
            raise OAuthError(
                400, "invalid_scope", "The requested scope is not one the application registered."
            )
        if grant == "client_credentials":
            return await _issue(session, app, scopes, None, None)
        if grant == "password":
            username = (params.str("username") or "").strip().lstrip("@")
            host = request.app[FED].settings.host.lower()
            if username.lower().endswith("@" + host):
                username = username[: -len(host) - 1]
            member, wait = await throttle.sign_in(request, username, params.str("password") or "")
            if wait:
                raise OAuthError(429, "too_many_attempts", throttle.wait_message(wait), retry_after=wait)
            if member is None:
                raise OAuthError(400, "invalid_grant", "The user name or password is wrong.")
            return await _issue(session, app, scopes, member.id, member.id)
    raise OAuthError(400, "unsupported_grant_type", f"grant_type must be one of {', '.join(GRANTS)}")


async def revoke(request: web.Request) -> web.Response:
    """RFC 7009: the answer is the same whether or not the token existed."""
    try:
        params = await read_params(request)
    except ApiError as error:
        return _oauth_error(400, "invalid_request", error.message)
    client_id, secret = _client_credentials(request, params)
    async with request.app[FED].db.session() as session:
        app = await _app(session, client_id)
        if app is None or not _secret_ok(app, secret):
            return _oauth_error(403, "unauthorized_client", "You are not authorized to revoke this token")
        found = await session.scalar(
            select(AccessToken).where(
                AccessToken.token_hash == digest(params.str("token") or ""), AccessToken.app_id == app.id
            )
        )
        if found is not None and found.revoked_at is None:
            found.revoked_at = utcnow()
    if found is not None:
        forget_token(request.app, found.token_hash)
    return json_answer({})


async def server_metadata(request: web.Request) -> web.Response:
    base = request.app[FED].settings.base_url
    return json_answer(
        {
            "issuer": base + "/",
            "service_documentation": f"{base}/api/openapi.json",
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "app_registration_endpoint": f"{base}/api/v1/apps",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "scopes_supported": sorted(scope_rules.KNOWN),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": GRANTS,
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        }
    )


OAUTH_ROUTES = [
    (
        "GET",
        "/oauth/authorize",
        authorize_form,
        "The login and consent page (shows the code for out-of-band apps)",
    ),
    ("POST", "/oauth/authorize", authorize_submit, "Sign in, then approve or deny; redirects with ?code="),
    ("POST", "/oauth/token", token, "Exchange a code, client credentials or a password for a token"),
    ("POST", "/oauth/revoke", revoke, "Revoke a token"),
    ("GET", "/.well-known/oauth-authorization-server", server_metadata, "OAuth 2 server metadata (RFC 8414)"),
]


def setup(app: web.Application) -> None:
    for method, path, handler, _ in OAUTH_ROUTES:
        app.router.add_route(method, path, handler)
        if not path.startswith("/.well-known"):
            app.router.add_route(method, path + "/", handler)
