"""Search: accounts by name or handle, statuses and accounts by URL; resolve=true looks them up over
WebFinger and ActivityPub."""

from __future__ import annotations

import logging
import re

from aiohttp import web
from sqlalchemy import or_, select

from federation.actors import ActorError, fetch_actor, resolve_handle
from federation.inbox import save_remote_object
from federation.refusal import Refusal
from federation.spaces.fetch import fetch_post
from federation.urls import INSTANCE_ACTOR
from federation.vocabulary import ACTOR_TYPES
from models import Actor, Object
from models.actor import actor_by_handle
from models.content import object_by_uri
from server.keys import FED
from server.mastodon.api import ApiError, Caller, Params, endpoint
from server.mastodon.entities import Renderer
from server.mastodon.scopes import covers
from server.mastodon.timelines import visible_to

log = logging.getLogger(__name__)
HANDLE = re.compile(r"^@?[\w.-]+@[\w.-]+(:\d{1,5})?$")


async def _resolve_url(request: web.Request, url: str) -> tuple[Actor | None, Object | None]:
    """An actor or a post behind a URL: known ones first, then fetched from their origin."""
    fed = request.app[FED]
    async with fed.db.session() as session:
        actor = await session.scalar(select(Actor).where(or_(Actor.uri == url, Actor.url == url)))
        if actor is not None:
            return actor, None
        obj = await object_by_uri(session, url)
        if obj is not None:
            return None, obj
    if fed.urls.is_local(url):
        return None, None
    try:
        document = await fed.fetch_document(url)
    except Exception as error:  # noqa: BLE001 -- an unreachable URL is simply not found
        log.info("search cannot fetch %s: %s", url, error)
        return None, None
    if document.get("type") in ACTOR_TYPES:
        try:
            return await fetch_actor(fed, url), None
        except ActorError:
            return None, None
    fetched = await fetch_post(fed, url)
    if fetched is None:
        return None, None
    post, author_uri = fetched
    try:
        return None, await save_remote_object(fed, post, author_uri)
    except Refusal:
        return None, None


async def search_results(
    request: web.Request, params: Params, caller: Caller
) -> tuple[list[Actor], list[Object]]:
    fed = request.app[FED]
    q = (params.str("q") or "").strip()
    kind = params.str("type")
    limit = max(1, min(params.int("limit", 20) or 20, 40))
    resolve = params.bool("resolve") and caller.account is not None
    accounts: list[Actor] = []
    statuses: list[Object] = []
    if not q:
        return accounts, statuses
    if q.startswith(("http://", "https://")):
        if resolve:
            actor, obj = await _resolve_url(request, q)
        else:
            async with fed.db.session() as session:
                actor = await session.scalar(select(Actor).where(or_(Actor.uri == q, Actor.url == q)))
                obj = await object_by_uri(session, q)
        accounts += [actor] if actor else []
        statuses += [obj] if obj else []
    elif HANDLE.match(q) and kind in (None, "accounts"):
        try:
            if resolve:
                accounts.append(await resolve_handle(fed, q))
            else:
                name, _, host = q.lstrip("@").rpartition("@")
                async with fed.db.session() as session:
                    found = await actor_by_handle(session, name, host.lower())
                accounts += [found] if found else []
        except (ActorError, Exception) as error:  # noqa: BLE001 -- unresolvable: no result
            log.info("search cannot resolve %s: %s", q, error)
    elif kind in (None, "accounts"):
        term = q.lstrip("@").lower().replace("%", "").replace("_", r"\_")
        async with fed.db.session() as session:
            accounts += list(
                (
                    await session.scalars(
                        select(Actor)
                        .where(
                            Actor.username != INSTANCE_ACTOR,
                            or_(
                                Actor.username.ilike(f"{term}%", escape="\\"),
                                Actor.name.ilike(f"%{term}%", escape="\\"),
                            ),
                        )
                        .order_by(Actor.local.desc(), Actor.username)
                        .limit(limit)
                    )
                ).all()
            )
    if kind not in (None, "accounts"):
        accounts = []
    if kind not in (None, "statuses"):
        statuses = []
    return accounts[:limit], statuses[:limit]


async def _in_session(session, accounts: list[Actor]) -> list[Actor]:
    """The found accounts loaded in this session, in one query, in their order."""
    if not accounts:
        return []
    loaded = {
        a.id: a for a in (await session.scalars(select(Actor).where(Actor.id.in_([a.id for a in accounts]))))
    }
    return [loaded[a.id] for a in accounts if a.id in loaded]


async def find_accounts(request: web.Request, params: Params, caller: Caller) -> list[dict]:
    accounts, _ = await search_results(request, params, caller)
    fed = request.app[FED]
    async with fed.db.session() as session:
        return await Renderer(session, fed, caller.account).accounts(await _in_session(session, accounts))


@endpoint(
    "GET",
    "/api/v2/search",
    summary="Accounts, statuses and hashtags; resolve=true (signed in) looks up "
    "remote handles and URLs over WebFinger and ActivityPub",
)
async def search(request: web.Request, params: Params, caller: Caller):
    if caller.token is not None and not covers(caller.scopes, "read:search"):
        raise ApiError(403, "This action is outside the authorized scopes")
    if params.int("offset", 0) and params.bool("resolve"):
        raise ApiError(401, "Search queries with offset and resolve need a signed-in account")
    fed = request.app[FED]
    accounts, statuses = await search_results(request, params, caller)
    async with fed.db.session() as session:
        renderer = Renderer(session, fed, caller.account)
        visible = (
            list(
                (
                    await session.scalars(
                        select(Object).where(
                            Object.id.in_([s.id for s in statuses]), visible_to(caller.account)
                        )
                    )
                )
            )
            if statuses
            else []
        )
        return {
            "accounts": await renderer.accounts(await _in_session(session, accounts)),
            "statuses": await renderer.statuses(visible),
            "hashtags": [],
        }
