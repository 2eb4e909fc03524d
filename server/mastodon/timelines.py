"""Timelines: home (what the account follows, boosts included, and its own posts), public (local or remote)
and hashtag timelines, newest first with Mastodon's pagination."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import and_, bindparam, exists, or_, select

from models import Actor, Object, TimelineEntry
from models.interaction import Hashtag
from models.lean import Lean
from server.keys import FED
from server.mastodon.api import (
    Caller,
    Page,
    Params,
    endpoint,
    in_order,
    not_found,
    page_of,
    paged,
    paged_json,
    paginate,
)
from server.mastodon.entities import Renderer
from server.mastodon.status_cache import STATUS_COLUMNS, statuses_json

POST_TYPES = ("Note", "Page", "Article", "Question")


def publicly_visible():
    return or_(
        Object.visibility.in_(("public", "unlisted")),
        and_(Object.visibility.is_(None), Object.public.is_(True)),
    )


def visible_to(viewer: Actor | None):
    """Who may see a status: anyone for public and unlisted ones; its author and those it reached otherwise."""
    if viewer is None:
        return publicly_visible()
    return or_(
        publicly_visible(),
        Object.attributed_to_id == viewer.id,
        exists().where(TimelineEntry.owner_id == viewer.id, TimelineEntry.object_id == Object.id),
    )


_STATEMENTS: dict[tuple, object] = {}


def _bound(build, column, page: Page):
    """build() paginated along column with bound values: one statement per shape of page, built once."""
    shape = (build, page.max_id is not None, page.since_id is not None, page.min_id is not None)
    found = _STATEMENTS.get(shape)
    if found is None:
        names = ("max_id", "since_id", "min_id")
        bounds = Page(
            *(bindparam(n) if v else None for n, v in zip(names, shape[1:])), limit=bindparam("limit")
        )
        found = _STATEMENTS[shape] = Lean(paginate(build(), column, bounds))
    return found


def _values(page: Page, **more) -> dict:
    return {
        "max_id": page.max_id,
        "since_id": page.since_id,
        "min_id": page.min_id,
        "limit": page.limit,
        **more,
    }


def _entries():
    return (
        select(*STATUS_COLUMNS, TimelineEntry.via_actor_id.label("via"))
        .select_from(TimelineEntry)
        .join(Object, Object.id == TimelineEntry.object_id)
        .where(TimelineEntry.owner_id == bindparam("owner"))
    )


def _own():
    return select(*STATUS_COLUMNS).where(
        Object.attributed_to_id == bindparam("owner"), Object.deleted_at.is_(None)
    )


_BOOSTS_OF = Lean(
    select(Object.reblog_of_id, Object.attributed_to_id).where(
        Object.reblog_of_id.in_(bindparam("ids", expanding=True)), Object.deleted_at.is_(None)
    )
)


def _received(conn, owner_id: int, page: Page) -> list:
    """Timeline entries with their objects' rows, read along the (owner, object) index in batches, then
    filtered: deleted posts and the boosted originals (shown through the booster's Announce status instead)
    are left out."""
    kept: list = []
    cursor = Page(page.max_id, page.since_id, page.min_id, page.limit + 5)
    while len(kept) < page.limit:
        entries = _bound(_entries, TimelineEntry.object_id, cursor).rows(
            conn, _values(cursor, owner=owner_id)
        )
        if not entries:
            break
        relayed = [e.id for e in entries if e.via is not None and e.via != e.attributed_to_id]
        boosted = set(_BOOSTS_OF.rows(conn, {"ids": relayed})) if relayed else set()
        kept.extend(e for e in entries if e.deleted_at is None and (e.id, e.via) not in boosted)
        if len(entries) < cursor.limit:
            break
        if page.min_id is not None:
            cursor = Page(None, None, entries[-1].id, cursor.limit)
        else:
            cursor = Page(entries[-1].id, page.since_id, None, cursor.limit)
    return kept[: page.limit]


def home_rows(conn, owner_id: int, page: Page) -> list:
    """The home timeline's rows: what reached the account (boosts shown as the booster's status) and its own
    posts."""
    found = {r.id: r for r in _received(conn, owner_id, page)}
    for row in _bound(_own, Object.id, page).rows(conn, _values(page, owner=owner_id)):
        found[row.id] = row
    # As in Mastodon, one's own boost of a post the timeline already shows is not shown a second time.
    shown = [r for r in found.values() if r.reblog_of_id not in found]
    ordered = sorted(shown, key=lambda r: r.id, reverse=page.min_id is None)[: page.limit]
    return in_order(ordered, page)


def home_page(conn, base: str, owner_id: int, page: Page) -> tuple[str, list[int]]:
    rows = home_rows(conn, owner_id, page)
    text, _ = statuses_json(conn, base, owner_id, rows)
    return text, [r.id for r in rows]


@endpoint(
    "GET",
    "/api/v1/timelines/home",
    scope="read:statuses",
    user=True,
    paginated=True,
    summary="Home timeline: posts and boosts of followed accounts, mentions, own posts",
)
async def home(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    text, ids = await fed.db.run_read(home_page, fed.urls.base, caller.account_id, page_of(params))
    return paged_json(request, text, ids)


async def _public(request: web.Request, params: Params, caller: Caller, extra=()) -> web.Response:
    fed = request.app[FED]
    page = page_of(params)
    query = select(Object).where(
        Object.deleted_at.is_(None), Object.reblog_of_id.is_(None), Object.type.in_(POST_TYPES), *extra
    )
    query = query.where(
        or_(Object.visibility == "public", and_(Object.visibility.is_(None), Object.public.is_(True)))
    )
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


@endpoint(
    "GET", "/api/v1/timelines/public", paginated=True, summary="Public posts (local=true: this instance's)"
)
async def public(request: web.Request, params: Params, caller: Caller):
    return await _public(request, params, caller)


@endpoint("GET", "/api/v1/timelines/tag/{tag}", paginated=True, summary="Public posts with a hashtag")
async def tag(request: web.Request, params: Params, caller: Caller):
    name = request.match_info["tag"].lstrip("#").lower()
    return await _public(
        request, params, caller, extra=(Object.id.in_(select(Hashtag.object_id).where(Hashtag.name == name)),)
    )


@endpoint(
    "GET", "/api/v1/timelines/list/{id}", scope="read:lists", user=True, summary="No lists are kept: 404"
)
async def list_timeline(request: web.Request, params: Params, caller: Caller):
    raise not_found()
