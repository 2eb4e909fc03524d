"""Timelines: home (what the account follows, boosts included, and its own posts), public (local or remote)
and hashtag timelines, newest first with Mastodon's pagination."""
from __future__ import annotations

from aiohttp import web
from sqlalchemy import and_, exists, or_, select

from models import Actor, Object, TimelineEntry
from models.interaction import Hashtag
from server.keys import FED
from server.mastodon.api import Caller, Page, Params, endpoint, in_order, not_found, page_of, paged, paginate
from server.mastodon.entities import Renderer

POST_TYPES = ("Note", "Page", "Article", "Question")


def publicly_visible():
    return or_(Object.visibility.in_(("public", "unlisted")), and_(Object.visibility.is_(None), Object.public.is_(True)))


def visible_to(viewer: Actor | None):
    """Who may see a status: anyone for public and unlisted ones; its author and those it reached otherwise."""
    if viewer is None:
        return publicly_visible()
    return or_(publicly_visible(), Object.attributed_to_id == viewer.id, exists().where(
        TimelineEntry.owner_id == viewer.id, TimelineEntry.object_id == Object.id))


async def _received(session, owner_id: int, page: Page) -> list[Object]:
    """Timeline entries read along the (owner, object) index, in batches, then filtered: deleted posts and the
    boosted originals (shown through the booster's Announce status instead) are left out."""
    kept: list[Object] = []
    cursor = Page(page.max_id, page.since_id, page.min_id, page.limit + 5)
    while len(kept) < page.limit:
        entries = (await session.execute(paginate(
            select(TimelineEntry.object_id, TimelineEntry.via_actor_id).where(TimelineEntry.owner_id == owner_id),
            TimelineEntry.object_id, cursor))).all()
        if not entries:
            break
        ids = [e.object_id for e in entries]
        objects = {o.id: o for o in (await session.scalars(select(Object).where(Object.id.in_(ids)))).all()}
        relayed = [e.object_id for e in entries if e.via_actor_id is not None
                   and e.object_id in objects and e.via_actor_id != objects[e.object_id].attributed_to_id]
        boosted = set((await session.execute(select(Object.reblog_of_id, Object.attributed_to_id).where(
            Object.reblog_of_id.in_(relayed), Object.deleted_at.is_(None)))).all()) if relayed else set()
        for e in entries:
            obj = objects.get(e.object_id)
            if obj is None or obj.deleted_at is not None or (obj.id, e.via_actor_id) in boosted:
                continue
            kept.append(obj)
        if len(entries) < cursor.limit:
            break
        if page.min_id is not None:
            cursor = Page(None, None, entries[-1].object_id, cursor.limit)
        else:
            cursor = Page(entries[-1].object_id, page.since_id, None, cursor.limit)
    return kept[: page.limit]


async def home_rows(session, owner_id: int, page: Page) -> list[Object]:
    """The home timeline: what reached the account (boosts shown as the booster's status) and its own posts."""
    found = {o.id: o for o in await _received(session, owner_id, page)}
    own = select(Object).where(Object.attributed_to_id == owner_id, Object.deleted_at.is_(None))
    for obj in (await session.scalars(paginate(own, Object.id, page))).all():
        found[obj.id] = obj
    # As in Mastodon, one's own boost of a post the timeline already shows is not shown a second time.
    shown = [o for o in found.values() if o.reblog_of_id not in found]
    ordered = sorted(shown, key=lambda o: o.id, reverse=page.min_id is None)[: page.limit]
    return in_order(ordered, page)


@endpoint("GET", "/api/v1/timelines/home", scope="read:statuses", user=True, paginated=True,
          summary="Home timeline: posts and boosts of followed accounts, mentions, own posts")
async def home(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    page = page_of(params)
    async with fed.db.session() as session:
        rows = await home_rows(session, caller.account_id, page)
        items = await Renderer(session, fed, caller.account).statuses(rows)
    return paged(request, items, [r.id for r in rows])


async def _public(request: web.Request, params: Params, caller: Caller, extra=()) -> web.Response:
    fed = request.app[FED]
    page = page_of(params)
    query = select(Object).where(Object.deleted_at.is_(None), Object.reblog_of_id.is_(None),
                                 Object.type.in_(POST_TYPES), *extra)
    query = query.where(or_(Object.visibility == "public", and_(Object.visibility.is_(None), Object.public.is_(True))))
    if params.bool("local"):
        query = query.where(Object.local.is_(True))
    elif params.bool("remote"):
        query = query.where(Object.local.is_(False))
    if params.bool("only_media"):
        return paged(request, [])
    async with fed.db.session() as session:
        rows = in_order(list((await session.scalars(paginate(query, Object.id, page))).all()), page)
        items = await Renderer(session, fed, caller.account).statuses(rows)
    return paged(request, items, [r.id for r in rows])


@endpoint("GET", "/api/v1/timelines/public", paginated=True, summary="Public posts (local=true: this instance's)")
async def public(request: web.Request, params: Params, caller: Caller):
    return await _public(request, params, caller)


@endpoint("GET", "/api/v1/timelines/tag/{tag}", paginated=True, summary="Public posts with a hashtag")
async def tag(request: web.Request, params: Params, caller: Caller):
    name = request.match_info["tag"].lstrip("#").lower()
    return await _public(request, params, caller, extra=(
        Object.id.in_(select(Hashtag.object_id).where(Hashtag.name == name)),))


@endpoint("GET", "/api/v1/timelines/list/{id}", scope="read:lists", user=True, summary="No lists are kept: 404")
async def list_timeline(request: web.Request, params: Params, caller: Caller):
    raise not_found()
