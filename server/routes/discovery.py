"""Finding and following from outside: search over spaces and threads, Atom feeds of spaces and movements."""

from __future__ import annotations

import re

from aiohttp import web
from sqlalchemy import func, or_, select

from federation.spaces.access import may_read
from federation.spaces.store import SpaceView, space_of_actor
from federation.vocabulary import POST_TYPES, iso
from models import Actor, Follow, FollowState, Object, utcnow
from models.actor import local_movement
from models.space import Space, SpacePost
from server.access import member_of
from server.keys import FED, TEMPLATES
from server.routes.spaces import _page, _space_by_ref, ago, space_path

MAX_QUERY = 200
FEED_SIZE = 50


def like_pattern(words: str) -> str:
    """A LIKE pattern matching the text anywhere, with %, _ and \\ taken literally."""
    escaped = words.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def _readable_spaces(session, viewer: Actor | None):
    """Ids of spaces the viewer may read: public ones, and members-only ones they belong to."""
    private = (await session.scalars(select(Space).where(Space.visibility != "public"))).all()
    return [s.id for s in private if await may_read(session, s, viewer)]


async def search_page(request: web.Request) -> web.Response:
    q = request.query.get("q", "").strip()
    if len(q) > MAX_QUERY:
        raise web.HTTPBadRequest(text=f"a search is at most {MAX_QUERY} characters")
    spaces, found_threads = [], []
    if q:
        pattern = like_pattern(q)
        viewer = await member_of(request)
        fed = request.app[FED]
        async with fed.db.session() as session:
            readable = Space.visibility == "public"
            extra = await _readable_spaces(session, viewer)
            if extra:
                readable = or_(readable, Space.id.in_(extra))
            followed = (
                select(Follow.followee_id)
                .join(Actor, Actor.id == Follow.follower_id)
                .where(Actor.local.is_(True), Follow.state == FollowState.accepted.value)
            )
            spaces = (
                await session.execute(
                    select(Space, Actor)
                    .join(Actor, Actor.id == Space.actor_id)
                    .where(
                        readable,
                        Space.local.is_(True) | Space.actor_id.in_(followed),
                        or_(
                            func.lower(Actor.name).like(pattern, escape="\\"),
                            func.lower(Actor.username).like(pattern, escape="\\"),
                            func.lower(Actor.summary).like(pattern, escape="\\"),
                        ),
                    )
                    .order_by(Space.local.desc(), Actor.name)
                    .limit(20)
                )
            ).all()
            found_threads = (
                await session.execute(
                    select(SpacePost, Object, Actor, Space)
                    .join(Object, Object.id == SpacePost.object_id)
                    .join(Space, Space.id == SpacePost.space_id)
                    .outerjoin(Actor, Actor.id == SpacePost.author_id)
                    .where(
                        readable,
                        SpacePost.is_thread.is_(True),
                        SpacePost.removed_at.is_(None),
                        Object.deleted_at.is_(None),
                        or_(
                            func.lower(Object.name).like(pattern, escape="\\"),
                            func.lower(Object.content).like(pattern, escape="\\"),
                        ),
                    )
                    .order_by(SpacePost.last_activity_at.desc())
                    .limit(50)
                )
            ).all()
            space_actors = {
                s.id: a
                for s, a in (
                    await session.execute(
                        select(Space, Actor)
                        .join(Actor, Actor.id == Space.actor_id)
                        .where(Space.id.in_({row[3].id for row in found_threads}))
                    )
                ).all()
            }
        found_threads = [(p, o, a, s, space_actors.get(s.id)) for p, o, a, s in found_threads]
    return await _page(
        request,
        "search.html",
        q=q,
        spaces=[SpaceView(s, a) for s, a in spaces],
        threads=found_threads,
        space_path=space_path,
        SpaceView=SpaceView,
        ago=ago,
    )


# ---------------------------------------------------------------- Atom feeds


def _atom(request: web.Request, **context) -> web.Response:
    text = request.app[TEMPLATES].get_template("feed.atom").render(iso=iso, **context)
    return web.Response(text=text, content_type="application/atom+xml", charset="utf-8")


async def space_feed(request: web.Request) -> web.Response:
    """The newest threads of a space."""
    view = await _space_by_ref(request)
    if view.space.visibility != "public":
        raise web.HTTPForbidden(text="This space is open to its members only: it has no public feed.")
    fed = request.app[FED]
    async with fed.db.session() as session:
        rows = (
            await session.execute(
                select(Object, Actor)
                .join(SpacePost, SpacePost.object_id == Object.id)
                .outerjoin(Actor, Actor.id == Object.attributed_to_id)
                .where(
                    SpacePost.space_id == view.space.id,
                    SpacePost.is_thread.is_(True),
                    SpacePost.removed_at.is_(None),
                    Object.deleted_at.is_(None),
                )
                .order_by(Object.published.desc())
                .limit(FEED_SIZE)
            )
        ).all()
    base = fed.urls.base
    entries = [
        {
            "id": obj.uri,
            "title": obj.name or "(untitled)",
            "link": f"{base}/threads/{obj.id}",
            "author": (author.name or author.username) if author else "",
            "author_uri": author.uri if author else "",
            "published": obj.published,
            "updated": obj.updated or obj.published,
            "content": obj.content or "",
        }
        for obj, author in rows
    ]
    return _atom(
        request,
        feed_id=f"{base}{space_path(view)}/feed.atom",
        title=view.actor.name or view.actor.username,
        subtitle=f"Threads of the forum space @{view.actor.username}@{view.actor.host}",
        link=f"{base}{space_path(view)}",
        updated=max((e["updated"] for e in entries), default=view.space.created_at or utcnow()),
        entries=entries,
    )


async def movement_feed(request: web.Request) -> web.Response:
    """A movement's public posts, newest first."""
    fed = request.app[FED]
    name = request.match_info["name"]
    async with fed.db.session() as session:
        movement = await local_movement(session, name)
        if movement is None or await space_of_actor(session, movement) is not None:
            raise web.HTTPNotFound(text=f"No movement called {name} here.")
        objects = (
            await session.scalars(
                select(Object)
                .where(
                    Object.attributed_to_id == movement.id,
                    Object.local.is_(True),
                    Object.deleted_at.is_(None),
                    Object.visibility.is_(None) | Object.visibility.in_(("public", "unlisted")),
                    Object.public.is_(True),
                    Object.type.in_(sorted(POST_TYPES)),
                )
                .order_by(Object.published.desc())
                .limit(FEED_SIZE)
            )
        ).all()
    base = fed.urls.base
    entries = [
        {
            "id": obj.uri,
            "title": obj.name or _title_of(obj.content),
            "link": (obj.document or {}).get("url")
            if isinstance((obj.document or {}).get("url"), str)
            else obj.uri,
            "author": movement.name or movement.username,
            "author_uri": movement.uri,
            "published": obj.published,
            "updated": obj.updated or obj.published,
            "content": obj.content or "",
        }
        for obj in objects
    ]
    return _atom(
        request,
        feed_id=f"{base}/actors/{movement.username}/feed.atom",
        title=movement.name or movement.username,
        subtitle=f"Posts of @{movement.username}@{movement.host}",
        link=movement.url or movement.uri,
        updated=max((e["updated"] for e in entries), default=utcnow()),
        entries=entries,
    )


def _title_of(html: str | None, length: int = 80) -> str:
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html or "")).strip()
    return text if len(text) <= length else text[: length - 1] + "…"


def setup(app: web.Application) -> None:
    app.router.add_get("/search", search_page)
    app.router.add_get("/spaces/{ref}/feed.atom", space_feed)
    app.router.add_get("/actors/{name}/feed.atom", movement_feed)
