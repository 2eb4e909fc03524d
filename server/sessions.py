"""Browser sessions: a signed cookie (itsdangerous) naming the member, with a CSRF token for every form.

The signing secret is made once and kept in the settings table, so every process of an instance shares it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from aiohttp import web
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from models import Actor
from models.setting import get_setting, set_setting
from server.keys import FED

COOKIE = "interpeople_session"
MAX_AGE = 14 * 24 * 3600
SECRET_KEY = "session_secret"
_SERIALIZER = web.AppKey("session_serializer", URLSafeTimedSerializer)


@dataclass
class Session:
    member_id: int | None
    csrf: str
    fresh: bool = False


async def _serializer(app: web.Application) -> URLSafeTimedSerializer:
    if _SERIALIZER not in app:
        async with app[FED].db.session() as session:
            secret = await get_setting(session, SECRET_KEY)
            if secret is None:
                secret = secrets.token_urlsafe(48)
                await set_setting(session, SECRET_KEY, secret)
        app[_SERIALIZER] = URLSafeTimedSerializer(secret, salt="interpeople-session")
    return app[_SERIALIZER]


async def password_stamp(app: web.Application, member_id: int | None) -> str | None:
    """A short fingerprint of the member's password hash: a session made before a password change (or a
    reset) carries another one, and is signed out."""
    if member_id is None:
        return None
    async with app[FED].db.session() as db:
        stored = await db.scalar(select(Actor.password_hash).where(Actor.id == member_id))
    return hashlib.sha256((stored or "").encode()).hexdigest()[:16]


async def load(request: web.Request) -> Session:
    """The request's session, or a fresh anonymous one (with its own CSRF token)."""
    if "session" in request:
        return request["session"]
    serializer = await _serializer(request.app)
    found = None
    raw = request.cookies.get(COOKIE)
    if raw:
        try:
            data = serializer.loads(raw, max_age=MAX_AGE)
            found = Session(data.get("m"), data["c"])
        except (BadSignature, KeyError, TypeError):
            found = None
        if found is not None and found.member_id is not None:
            if data.get("p") != await password_stamp(request.app, found.member_id):
                found.member_id = None  # the password changed since: signed out, the form token kept
    request["session"] = found or Session(None, secrets.token_urlsafe(24), fresh=True)
    return request["session"]


async def save(request: web.Request, response: web.StreamResponse, session: Session) -> None:
    serializer = await _serializer(request.app)
    stamp = await password_stamp(request.app, session.member_id)
    response.set_cookie(
        COOKIE,
        serializer.dumps({"m": session.member_id, "c": session.csrf, "p": stamp}),
        max_age=MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=request.app[FED].settings.scheme == "https",
        path="/",
    )


async def keep(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Sets the cookie on a response when the session was just made (so forms can carry its token)."""
    session = request.get("session")
    if session is not None and session.fresh:
        await save(request, response, session)
    return response


async def check_csrf(request: web.Request, form) -> Session:
    session = await load(request)
    if session.fresh or not hmac.compare_digest(str(form.get("csrf", "")), session.csrf):
        from server.error_pages import FormExpired, kept_fields  # its page gives back what was typed

        raise FormExpired(kept_fields(form))
    return session
