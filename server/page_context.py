"""What every page's header shows: the instance's title, who is signed in, and their unread notifications."""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiohttp import web

from federation.accounts.feed import unread_count
from federation.accounts.instance import InstanceInfo, instance_info
from federation.vocabulary import wants_activity_json
from models import Actor
from server import sessions
from server.keys import FED

CHROME = "chrome"
INFO_SECONDS = 5.0
_INFO = web.AppKey("instance_info", tuple)
NOT_PAGES = (
    "/api/",
    "/.well-known/",
    "/nodeinfo",
    "/oauth/token",
    "/metrics",
    "/avatars/",
    "/headers/",
    "/ns/",
)


@dataclass
class Chrome:
    title: str
    path: str
    member: Actor | None = None
    unread: int = 0
    csrf: str = ""
    open_signup: bool = False

    @property
    def is_admin(self) -> bool:
        return self.member is not None and self.member.role == "admin"


async def info(app: web.Application) -> InstanceInfo:
    """The instance's settings, read at most every few seconds per process."""
    found = app.get(_INFO)
    if found is None or time.monotonic() - found[0] > INFO_SECONDS:
        async with app[FED].db.session() as session:
            found = (time.monotonic(), await instance_info(session, app[FED].settings))
        app[_INFO] = found
    return found[1]


def forget_info(app: web.Application) -> None:
    app.pop(_INFO, None)


def _may_be_page(request: web.Request) -> bool:
    path = request.path
    if path.startswith(NOT_PAGES) or path.endswith("/inbox"):
        return False
    return not wants_activity_json(request.headers.get("accept", ""))


async def chrome_of(request: web.Request) -> Chrome:
    if CHROME in request:
        return request[CHROME]
    site = await info(request.app)
    chrome = Chrome(title=site.title, path=request.path_qs, open_signup=site.open_signup)
    if sessions.COOKIE in request.cookies:
        session = await sessions.load(request)
        if session.member_id is not None:
            async with request.app[FED].db.session() as db:
                member = await db.get(Actor, session.member_id)
                if member is not None:
                    chrome.member, chrome.csrf = member, session.csrf
                    chrome.unread = await unread_count(db, member)
    request[CHROME] = chrome
    return chrome


@web.middleware
async def chrome_middleware(request: web.Request, handler):
    if _may_be_page(request):
        await chrome_of(request)
    return await handler(request)
