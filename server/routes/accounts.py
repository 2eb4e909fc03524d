"""Pages through which people become members and look after their account: invitation links, sign-up with
approval, password change and reset, and the notifications page."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets

from aiohttp import web
from sqlalchemy import select

from federation.accounts.feed import feed, mark_read
from federation.accounts.invitations import accept_invitation, open_invitation
from federation.accounts.joining import request_to_join
from federation.accounts.members import check_name, check_password, check_username
from federation.accounts.resets import open_reset, use_reset
from federation.refusal import Refusal
from federation.urls import INSTANCE_ACTOR
from models import Actor, utcnow
from models.space import Space
from models.throttle import failures_since, record_failure
from server import sessions, throttle
from server.access import signed_in
from server.keys import FED
from server.page_context import info
from server.passwords import hash_password
from server.routes.common import render

MAX_FORM = 20_000  # characters in any one field of these forms


async def page(request: web.Request, template: str, status: int = 200, **context) -> web.Response:
    session = await sessions.load(request)
    response = render(
        request,
        template,
        status=status,
        host=request.app[FED].settings.host,
        csrf=session.csrf,
        **context,
    )
    return await sessions.keep(request, response)


async def form_of(request: web.Request):
    form = await request.post()
    await sessions.check_csrf(request, form)
    for value in form.values():
        if isinstance(value, str) and len(value) > MAX_FORM:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_FORM, actual_size=len(value))
    return form


def field(form, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


async def sign_in_as(request: web.Request, member: Actor, where: str) -> web.HTTPSeeOther:
    response = web.HTTPSeeOther(where)
    await sessions.save(request, response, sessions.Session(member.id, secrets.token_urlsafe(24)))
    return response


async def movements(session) -> list[Actor]:
    return list(
        (
            await session.scalars(
                select(Actor)
                .where(
                    Actor.local.is_(True),
                    Actor.type == "Group",
                    Actor.movement_id.is_(None),
                    Actor.username != INSTANCE_ACTOR,
                    Actor.id.not_in(select(Space.actor_id)),
                )
                .order_by(Actor.username)
            )
        ).all()
    )


# ---------------------------------------------------------------- invitation links


async def invite_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    async with request.app[FED].db.session() as db:
        invitation, movement = await open_invitation_or_raise(db, token)
    return await page(request, "invite.html", movement=movement, role=invitation.role, error=None, typed={})


def _refused(refusal: Refusal) -> web.HTTPException:
    """A Refusal as the HTTP error of the same status (a styled page for browsers)."""
    kind = {404: web.HTTPNotFound, 410: web.HTTPGone, 409: web.HTTPConflict, 403: web.HTTPForbidden}
    return kind.get(refusal.status, web.HTTPBadRequest)(text=refusal.message)


async def invite_accept(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    form = await form_of(request)
    typed = {"username": field(form, "username"), "name": field(form, "name")}
    fed = request.app[FED]
    async with fed.db.session() as db:
        invitation, movement = await open_invitation_or_raise(db, token)
    try:
        username = check_username(typed["username"])
        name = check_name(typed["name"])
        password = check_password(field(form, "password"), field(form, "password2"))
        password_hash = await asyncio.to_thread(hash_password, password)
        async with fed.db.session() as db:
            member = await accept_invitation(db, fed, token, username, password_hash, name)
    except Refusal as refusal:
        return await page(
            request,
            "invite.html",
            status=refusal.status,
            movement=movement,
            role=invitation.role,
            error=refusal.message,
            typed=typed,
        )
    raise await sign_in_as(request, member, "/account?welcome=1")


async def open_invitation_or_raise(db, token: str):
    try:
        return await open_invitation(db, token)
    except Refusal as refusal:
        raise _refused(refusal) from None


# ---------------------------------------------------------------- sign-up with approval

JOIN_WINDOW = dt.timedelta(hours=1)
JOINS_PER_ADDRESS = 5  # join requests one client address may send per JOIN_WINDOW


def join_key(request: web.Request) -> str:
    return f"join:{throttle.client_address(request, request.app[FED].settings)}"


async def join_allowed(request: web.Request) -> None:
    """Refusal(429) when this address sent many join requests lately (counted with the sign-in failures)."""
    async with request.app[FED].db.session() as db:
        count, _ = await failures_since(db, join_key(request), utcnow() - JOIN_WINDOW)
    if count >= JOINS_PER_ADDRESS:
        raise Refusal(429, "Too many join requests from your address: try again in an hour.")


async def join_page(request: web.Request) -> web.Response:
    fed = request.app[FED]
    settings = await info(request.app)
    async with fed.db.session() as db:
        found = await movements(db)
    return await page(
        request,
        "join.html",
        open_signup=settings.open_signup,
        movements=found,
        chosen=request.query.get("movement", ""),
        error=None,
        sent=False,
        typed={},
    )


async def join_send(request: web.Request) -> web.Response:
    fed = request.app[FED]
    form = await form_of(request)
    settings = await info(request.app)
    if not settings.open_signup:
        raise web.HTTPForbidden(text="This instance takes new members by invitation only.")
    typed = {k: field(form, k) for k in ("username", "name", "message", "movement")}
    async with fed.db.session() as db:
        found = await movements(db)
    try:
        movement = next((m for m in found if m.username == typed["movement"]), None)
        if movement is None:
            raise Refusal(400, "Choose the movement you want to join.")
        username = check_username(typed["username"])
        name = check_name(typed["name"])
        password = check_password(field(form, "password"), field(form, "password2"))
        await join_allowed(request)
        password_hash = await asyncio.to_thread(hash_password, password)
        async with fed.db.session() as db:
            await request_to_join(db, movement, username, password_hash, name, typed["message"])
            await record_failure(db, [join_key(request)], utcnow() - JOIN_WINDOW)
    except Refusal as refusal:
        return await page(
            request,
            "join.html",
            status=refusal.status,
            open_signup=True,
            movements=found,
            chosen=typed["movement"],
            error=refusal.message,
            sent=False,
            typed=typed,
        )
    return await page(
        request, "join.html", open_signup=True, movements=found, chosen="", error=None, sent=True, typed=typed
    )


# ---------------------------------------------------------------- account and passwords


async def account_page(request: web.Request) -> web.Response:
    member = await signed_in(request)
    async with request.app[FED].db.session() as db:
        movement = await db.get(Actor, member.movement_id) if member.movement_id else None
    return await page(
        request,
        "account.html",
        member=member,
        movement=movement,
        welcome=request.query.get("welcome") == "1",
        changed=request.query.get("changed") == "1",
        error=None,
    )


async def password_change(request: web.Request) -> web.Response:
    form = await form_of(request)
    member = await signed_in(request)
    fed = request.app[FED]
    try:
        checked, wait = await throttle.sign_in(request, member.username, field(form, "current"))
        if wait:
            raise Refusal(429, throttle.wait_message(wait))
        if checked is None:
            raise Refusal(403, "The current password is wrong.")
        password = check_password(field(form, "password"), field(form, "password2"))
        password_hash = await asyncio.to_thread(hash_password, password)
    except Refusal as refusal:
        async with fed.db.session() as db:
            movement = await db.get(Actor, member.movement_id) if member.movement_id else None
        return await page(
            request,
            "account.html",
            status=refusal.status,
            member=member,
            movement=movement,
            welcome=False,
            changed=False,
            error=refusal.message,
        )
    async with fed.db.session() as db:
        (await db.get(Actor, member.id)).password_hash = password_hash
    raise await sign_in_as(request, member, "/account?changed=1")  # other sessions are signed out


async def reset_page(request: web.Request) -> web.Response:
    async with request.app[FED].db.session() as db:
        try:
            _, member = await open_reset(db, request.match_info["token"])
        except Refusal as refusal:
            raise _refused(refusal) from None
    return await page(request, "reset.html", member=member, error=None)


async def reset_send(request: web.Request) -> web.Response:
    form = await form_of(request)
    token = request.match_info["token"]
    async with request.app[FED].db.session() as db:
        try:
            _, member = await open_reset(db, token)
        except Refusal as refusal:
            raise _refused(refusal) from None
    try:
        password = check_password(field(form, "password"), field(form, "password2"))
        password_hash = await asyncio.to_thread(hash_password, password)
        async with request.app[FED].db.session() as db:
            member = await use_reset(db, token, password_hash)
    except Refusal as refusal:
        if refusal.status == 410:
            raise _refused(refusal) from None
        return await page(request, "reset.html", status=refusal.status, member=member, error=refusal.message)
    raise await sign_in_as(request, member, "/account?changed=1")


# ---------------------------------------------------------------- notifications


async def notifications_page(request: web.Request) -> web.Response:
    member = await signed_in(request)
    async with request.app[FED].db.session() as db:
        items = await feed(db, member, limit=100)
    return await page(request, "notifications.html", items=items, member=member)


async def notifications_read(request: web.Request) -> web.Response:
    await form_of(request)
    member = await signed_in(request)
    async with request.app[FED].db.session() as db:
        await mark_read(db, member.id)
    raise web.HTTPSeeOther("/notifications")


def setup(app: web.Application) -> None:
    app.router.add_get("/invite/{token}", invite_page)
    app.router.add_post("/invite/{token}", invite_accept)
    app.router.add_get("/join", join_page)
    app.router.add_post("/join", join_send)
    app.router.add_get("/account", account_page)
    app.router.add_post("/account/password", password_change)
    app.router.add_get("/reset/{token}", reset_page)
    app.router.add_post("/reset/{token}", reset_send)
    app.router.add_get("/notifications", notifications_page)
    app.router.add_post("/notifications/read", notifications_read)
