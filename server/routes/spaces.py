"""Pages and ActivityPub documents of forum spaces, login, and the forms members and moderators use."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from urllib.parse import quote

from aiohttp import web
from sqlalchemy import func, select

from federation.collections import PAGE_SIZE, ordered_collection, ordered_page
from federation.outbox import unfollow
from federation.refusal import Refusal
from federation.spaces.access import may_read, readers
from federation.spaces.documents import space_document
from federation.spaces.posting import join_space, publish
from federation.spaces.reading import ban_of, mark_read, post_facts, unread
from federation.spaces.rules import is_banned, is_member, may_moderate
from federation.spaces.store import (
    SpaceView,
    allowed_movements,
    local_space_by_slug,
    moderator_uris,
    thread_page_url,
)
from federation.vocabulary import AS
from models import Activity, Actor, Follow, FollowState, Object, utcnow
from models.interaction import Favourite
from models.space import Space, SpacePost, SpaceReport
from server import notices, sessions, throttle
from server.access import check_fetch, check_space_reader, member_of
from server.keys import FED, TEMPLATES
from server.links import site_path
from server.routes.common import activity_json, not_found, page_number, paged_collection, render, wants_json
from server.routes.inbox import _answer


def ago(moment: dt.datetime | None) -> str:
    """'5 min ago', '3 h ago', '2 d ago' or a date: recent activity at a glance."""
    if moment is None:
        return ""
    seconds = max(0, (utcnow() - moment).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    if seconds < 30 * 86400:
        return f"{int(seconds // 86400)} d ago"
    return moment.strftime("%Y-%m-%d")


# ---------------------------------------------------------------- helpers


async def _viewer(request: web.Request) -> tuple[sessions.Session, Actor | None]:
    session = await sessions.load(request)
    if session.member_id is None:
        return session, None
    async with request.app[FED].db.session() as db:
        return session, await db.get(Actor, session.member_id)


async def _page(request: web.Request, template: str, status: int = 200, **context) -> web.Response:
    session, viewer = await _viewer(request)
    fed = request.app[FED]
    response = render(
        request,
        template,
        status=status,
        host=fed.settings.host,
        viewer=viewer,
        csrf=session.csrf,
        path=request.path_qs,
        **context,
    )
    return await sessions.keep(request, response)


async def _space_by_ref(request: web.Request, ref: str | None = None) -> SpaceView:
    """A space from the URL: `slug` for a local one, `slug@host` for a remote one we know."""
    fed = request.app[FED]
    ref = ref or request.match_info["ref"]
    async with fed.db.session() as session:
        if "@" not in ref:
            view = await local_space_by_slug(session, ref)
        else:
            name, _, host = ref.partition("@")
            row = (
                await session.execute(
                    select(Space, Actor)
                    .join(Actor, Actor.id == Space.actor_id)
                    .where(Actor.username == name, Actor.host == host.lower())
                )
            ).first()
            view = SpaceView(*row) if row else None
    if view is None:
        raise not_found(request, f"no space {ref} here")
    return view


def space_path(view: SpaceView) -> str:
    return (
        f"/spaces/{view.actor.username}"
        if view.space.local
        else f"/spaces/{view.actor.username}@{view.actor.host}"
    )


async def _follows(session, actor_id: int | None, space_actor_id: int) -> bool:
    if actor_id is None:
        return False
    return bool(
        await session.scalar(
            select(Follow.id).where(
                Follow.follower_id == actor_id,
                Follow.followee_id == space_actor_id,
                Follow.state == FollowState.accepted.value,
            )
        )
    )


# ---------------------------------------------------------------- space list and space page


async def spaces_index(request: web.Request) -> web.Response:
    fed = request.app[FED]
    async with fed.db.session() as session:
        followed = (
            select(Follow.followee_id)
            .join(Actor, Actor.id == Follow.follower_id)
            .where(Actor.local.is_(True), Follow.state == FollowState.accepted.value)
        )
        rows = (
            await session.execute(
                select(Space, Actor)
                .join(Actor, Actor.id == Space.actor_id)
                .where(Space.local.is_(True) | Space.actor_id.in_(followed))
                .order_by(Space.local.desc(), Actor.name)
            )
        ).all()
        stats = dict(
            (s, (n, r, last))
            for s, n, r, last in (
                await session.execute(
                    select(
                        SpacePost.space_id,
                        func.count(),
                        func.coalesce(func.sum(SpacePost.reply_count), 0),
                        func.max(SpacePost.last_activity_at),
                    )
                    .where(SpacePost.is_thread.is_(True), SpacePost.removed_at.is_(None))
                    .group_by(SpacePost.space_id)
                )
            ).all()
        )
        followers = dict(
            (
                await session.execute(
                    select(Follow.followee_id, func.count())
                    .where(Follow.state == FollowState.accepted.value)
                    .group_by(Follow.followee_id)
                )
            ).all()
        )
    views = [SpaceView(*row) for row in rows]
    if wants_json(request):
        return activity_json(
            {
                "@context": AS,
                "id": fed.urls.base + "/spaces",
                "type": "Collection",
                "totalItems": len(views),
                "items": [v.actor.uri for v in views],
            },
            request=request,
        )
    return await _page(
        request, "spaces.html", views=views, stats=stats, followers=followers, space_path=space_path
    )


async def _members_only(request: web.Request, view: SpaceView) -> web.Response | None:
    """None when the asker may read the space; else a styled 403 page saying who can (or a JSON refusal)."""
    if view.space.visibility == "public":
        return None
    if wants_json(request):
        await check_fetch(request, view.space)
        return None
    member = await member_of(request)
    async with request.app[FED].db.session() as session:
        if await may_read(session, view.space, member):
            return None
        who = await readers(session, view.space)
    return await _page(request, "private.html", status=403, view=view, readers=who)


SORTS = ("active", "new", "top")


def _thread_order(sort: str, likes) -> tuple:
    """active: latest activity first; new: newest threads first; top: most liked, then most replies."""
    if sort == "new":
        return (Object.published.desc(),)
    if sort == "top":
        return (likes.desc(), SpacePost.reply_count.desc(), SpacePost.last_activity_at.desc())
    return (SpacePost.last_activity_at.desc(),)


async def space_page(request: web.Request) -> web.Response:
    fed = request.app[FED]
    view = await _space_by_ref(request)
    page = page_number(request) or 1
    sort = request.query.get("sort", "active")
    if sort not in SORTS:
        raise web.HTTPBadRequest(text="sort must be one of: active, new, top")
    async with fed.db.session() as session:
        if wants_json(request) and view.space.local and "page" not in request.query:
            return activity_json(await space_document(session, fed, view), request=request)
    refused = await _members_only(request, view)
    if refused is not None:
        return refused
    async with fed.db.session() as session:
        where = (
            SpacePost.space_id == view.space.id,
            SpacePost.is_thread.is_(True),
            SpacePost.removed_at.is_(None),
        )
        total = await session.scalar(select(func.count()).select_from(SpacePost).where(*where)) or 0
        likes = (
            select(func.count(Favourite.id))
            .where(Favourite.object_id == SpacePost.object_id)
            .correlate(SpacePost)
            .scalar_subquery()
        )
        rows = (
            await session.execute(
                select(SpacePost, Object, Actor, likes)
                .join(Object, Object.id == SpacePost.object_id)
                .outerjoin(Actor, Actor.id == SpacePost.author_id)
                .where(*where)
                .order_by(SpacePost.pinned.desc(), *_thread_order(sort, likes), SpacePost.id.desc())
                .limit(PAGE_SIZE)
                .offset((page - 1) * PAGE_SIZE)
            )
        ).all()
        if wants_json(request):
            collection_id = fed.urls.base + space_path(view)
            return activity_json(
                ordered_page(collection_id, page, [o.uri for _, o, _, _ in rows], total), request=request
            )
        session_, viewer = await _viewer(request)
        followers = (
            await session.scalar(
                select(func.count())
                .select_from(Follow)
                .where(Follow.followee_id == view.actor.id, Follow.state == FollowState.accepted.value)
            )
            or 0
        )
        replies = (
            await session.scalar(select(func.coalesce(func.sum(SpacePost.reply_count), 0)).where(*where)) or 0
        )
        owner = await session.get(Actor, view.space.owner_id) if view.space.owner_id else None
        moderators = (
            await session.scalars(
                select(Actor)
                .where(Actor.uri.in_(await moderator_uris(session, view.space)))
                .order_by(Actor.username)
            )
        ).all()
        movements = await allowed_movements(session, view.space)
        joined = await _follows(session, viewer.id if viewer else None, view.actor.id)
        may_post = viewer is not None and (
            view.space.local
            and await is_member(session, view.space, viewer)
            and not await is_banned(session, view.space, viewer.uri)
            or joined
        )
        moderating = (
            viewer is not None and view.space.local and await may_moderate(session, view.space, viewer)
        )
        ban = await ban_of(session, view.space, viewer)
        unread_replies = await unread(session, viewer, [o.id for _, o, _, _ in rows])
        reports = (
            (
                await session.scalars(
                    select(SpaceReport)
                    .where(SpaceReport.space_id == view.space.id, SpaceReport.resolved.is_(False))
                    .order_by(SpaceReport.id.desc())
                    .limit(50)
                )
            ).all()
            if moderating
            else []
        )
    rules = view.space.rules
    async with fed.db.session() as session:
        who = await readers(session, view.space)
    return await _page(
        request,
        "space.html",
        readers=who,
        view=view,
        rows=rows,
        total=total,
        page=page,
        page_size=PAGE_SIZE,
        followers=followers,
        replies=replies,
        owner=owner,
        moderators=moderators,
        movements=movements,
        joined=joined,
        may_post=may_post and ban is None,
        moderating=moderating,
        reports=reports,
        ban=ban,
        sort=sort,
        unread=unread_replies,
        rules=rules,
        space_path=space_path(view),
        ago=ago,
        error=notices.text_of(request.query.get("notice")),
    )


# ---------------------------------------------------------------- the thread page


async def _thread(request: web.Request):
    fed = request.app[FED]
    try:
        object_id = int(request.match_info["n"])
    except ValueError:
        raise not_found(request, "no such thread") from None
    async with fed.db.session() as session:
        root = await session.scalar(select(SpacePost).where(SpacePost.object_id == object_id))
        if root is None or not root.is_thread:
            raise not_found(request, "no such thread")
        space = await session.get(Space, root.space_id)
        view = SpaceView(space, await session.get(Actor, space.actor_id))
        rows = (
            await session.execute(
                select(SpacePost, Object, Actor)
                .join(Object, Object.id == SpacePost.object_id)
                .outerjoin(Actor, Actor.id == SpacePost.author_id)
                .where(SpacePost.thread_id == object_id)
                .order_by(Object.published, SpacePost.id)
            )
        ).all()
    return view, root, rows


REPLY_SORTS = ("old", "new", "top")


def sort_replies(children: dict, sort: str, likes: dict[int, int]) -> None:
    """Orders the replies under each post: old (oldest first, the default), new, or top (most liked)."""
    for replies in children.values():
        if sort == "new":
            replies.sort(key=lambda r: (r[1].published, r[1].id), reverse=True)
        elif sort == "top":
            replies.sort(key=lambda r: (-likes.get(r[1].id, 0), r[1].published, r[1].id))


async def thread_page(request: web.Request) -> web.Response:
    fed = request.app[FED]
    reply_sort = request.query.get("sort", "old")
    if reply_sort not in REPLY_SORTS:
        raise web.HTTPBadRequest(text="sort must be one of: old, new, top")
    view, root, rows = await _thread(request)
    refused = await _members_only(request, view)
    if refused is not None:
        return refused
    url = thread_page_url(fed, root.object_id)
    if wants_json(request):
        visible = [o.uri for p, o, _ in rows if p.removed_at is None]
        page = page_number(request)
        if page is None:
            document = ordered_collection(url, len(visible)) | {
                "attributedTo": view.actor.uri,
                "audience": view.actor.uri,
            }
            return activity_json(document, request=request)
        items = visible[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        return activity_json(ordered_page(url, page, items, len(visible)), request=request)
    children: dict[int | None, list] = {}
    thread = None
    for post, obj, author in rows:
        if post.is_thread:
            thread = (post, obj, author)
        else:
            children.setdefault(post.parent_id, []).append((post, obj, author))
    async with fed.db.session() as session:
        session_, viewer = await _viewer(request)
        joined = await _follows(session, viewer.id if viewer else None, view.actor.id)
        may_post = (
            viewer is not None
            and not root.locked
            and (joined or view.space.local and await is_member(session, view.space, viewer))
        )
        moderating = (
            viewer is not None and view.space.local and await may_moderate(session, view.space, viewer)
        )
        ids = [o.id for _, o, _ in rows]
        facts = await post_facts(session, ids, viewer)
        sort_replies(children, reply_sort, facts["likes"])
        ban = await ban_of(session, view.space, viewer)
        if viewer is not None:
            await mark_read(session, viewer, root.object_id)
    async with fed.db.session() as session:
        who = await readers(session, view.space)
    return await _page(
        request,
        "thread.html",
        readers=who,
        view=view,
        root=root,
        thread=thread,
        children=children,
        t={
            "may_post": may_post and ban is None,
            "moderating": moderating,
            "root": root,
            "ago": ago,
            "viewer": viewer,
            "signed_in": viewer is not None and ban is None,
            **facts,
        },
        ban=ban,
        reply_sort=reply_sort,
        space_path=space_path(view),
        ago=ago,
        error=notices.text_of(request.query.get("notice")),
    )


# ---------------------------------------------------------------- collections


async def _local_space(request: web.Request) -> SpaceView:
    view = await _space_by_ref(request, request.match_info["ref"])
    if not view.space.local:
        raise not_found(request, "not a local space")
    return view


async def space_outbox(request: web.Request) -> web.Response:
    view = await _local_space(request)
    await check_fetch(request, view.space)
    where = (
        Activity.actor_id == view.actor.id,
        Activity.local.is_(True),
        Activity.type.in_(("Announce", "Delete", "Lock", "Block", "Update", "Undo", "Add", "Remove")),
    )
    return await paged_collection(
        request,
        view.actor.outbox,
        select(func.count()).select_from(Activity).where(*where),
        select(Activity.payload).where(*where).order_by(Activity.id.desc()),
        lambda row: json.loads(row.payload),
    )


async def space_followers(request: web.Request) -> web.Response:
    view = await _local_space(request)
    where = (Follow.followee_id == view.actor.id, Follow.state == FollowState.accepted.value)
    return await paged_collection(
        request,
        view.actor.followers_url,
        select(func.count()).select_from(Follow).where(*where),
        select(Actor.uri)
        .join(Follow, Follow.follower_id == Actor.id)
        .where(*where)
        .order_by(Follow.id.desc()),
        lambda row: row.uri,
    )


async def space_following(request: web.Request) -> web.Response:
    view = await _local_space(request)
    return activity_json(
        ordered_collection(view.actor.following_url, 0)
        if page_number(request) is None
        else ordered_page(view.actor.following_url, 1, [], 0),
        request=request,
    )


async def space_moderators(request: web.Request) -> web.Response:
    view = await _local_space(request)
    async with request.app[FED].db.session() as session:
        items = await moderator_uris(session, view.space)
    return activity_json(
        {
            "@context": AS,
            "id": f"{view.actor.uri}/moderators",
            "type": "OrderedCollection",
            "totalItems": len(items),
            "orderedItems": items,
        },
        request=request,
    )


async def space_featured(request: web.Request) -> web.Response:
    """The pinned threads (Lemmy's `featured` collection), in full as Lemmy serves them."""
    view = await _local_space(request)
    await check_fetch(request, view.space)
    async with request.app[FED].db.session() as session:
        documents = (
            await session.scalars(
                select(Object.document)
                .join(SpacePost, SpacePost.object_id == Object.id)
                .where(
                    SpacePost.space_id == view.space.id,
                    SpacePost.pinned.is_(True),
                    SpacePost.removed_at.is_(None),
                    Object.deleted_at.is_(None),
                )
                .order_by(SpacePost.last_activity_at.desc())
            )
        ).all()
    return activity_json(
        {
            "@context": AS,
            "id": f"{view.actor.uri}/featured",
            "type": "OrderedCollection",
            "totalItems": len(documents),
            "orderedItems": list(documents),
        },
        request=request,
    )


async def space_threads(request: web.Request) -> web.Response:
    view = await _local_space(request)
    await check_fetch(request, view.space)
    where = (
        SpacePost.space_id == view.space.id,
        SpacePost.is_thread.is_(True),
        SpacePost.removed_at.is_(None),
    )
    return await paged_collection(
        request,
        f"{view.actor.uri}/threads",
        select(func.count()).select_from(SpacePost).where(*where),
        select(Object.uri)
        .join(SpacePost, SpacePost.object_id == Object.id)
        .where(*where)
        .order_by(SpacePost.last_activity_at.desc(), SpacePost.id.desc()),
        lambda row: row.uri,
    )


async def object_replies(request: web.Request) -> web.Response:
    """The direct replies to a local post that this instance knows (FEP-1b12's per-thread `replies`)."""
    fed = request.app[FED]
    uri = f"{fed.urls.base}/objects/{request.match_info['id']}"
    async with fed.db.session() as session:
        parent = await session.scalar(select(Object).where(Object.uri == uri, Object.local.is_(True)))
    if parent is None:
        raise not_found(request, "no such object")
    await check_space_reader(request, parent)
    removed = select(SpacePost.object_id).where(SpacePost.removed_at.is_not(None))
    where = (Object.in_reply_to == uri, Object.deleted_at.is_(None), Object.id.not_in(removed))
    return await paged_collection(
        request,
        f"{uri}/replies",
        select(func.count()).select_from(Object).where(*where),
        select(Object.uri).where(*where).order_by(Object.published, Object.id),
        lambda row: row.uri,
    )


async def space_inbox(request: web.Request) -> web.Response:
    view = await _local_space(request)
    return await _answer(request, view.actor)


async def tag_page(request: web.Request) -> web.Response:
    fed = request.app[FED]
    tag = request.match_info["tag"].lower()
    async with fed.db.session() as session:
        rows = (
            await session.execute(
                select(SpacePost, Object, Actor)
                .join(Object, Object.id == SpacePost.object_id)
                .outerjoin(Actor, Actor.id == SpacePost.author_id)
                .join(Space, Space.id == SpacePost.space_id)
                .where(
                    Space.visibility == "public",
                    SpacePost.removed_at.is_(None),
                    Object.deleted_at.is_(None),
                    func.lower(Object.content).like(f"%/tags/{quote(tag)}%"),
                )
                .order_by(Object.published.desc())
                .limit(100)
            )
        ).all()
    if wants_json(request):
        url = f"{fed.urls.base}/tags/{quote(tag)}"
        return activity_json(
            {
                "@context": AS,
                "id": url,
                "type": "OrderedCollection",
                "totalItems": len(rows),
                "orderedItems": [o.uri for _, o, _ in rows],
            },
            request=request,
        )
    return await _page(request, "tag.html", tag=tag, rows=rows, ago=ago)


# ---------------------------------------------------------------- login and forms


async def login_form(request: web.Request) -> web.Response:
    return await _page(request, "login.html", next=_safe_next(request.query.get("next")), error=None)


def _safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of this site, else /spaces (no other host, however spelt)."""
    return site_path(value) or "/spaces"


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    await sessions.check_csrf(request, form)
    member, wait = await throttle.sign_in(
        request, str(form.get("username", "")).strip(), str(form.get("password", ""))
    )
    if wait:
        response = await _page(
            request,
            "login.html",
            status=429,
            next=_safe_next(form.get("next")),
            error=throttle.wait_message(wait),
        )
        response.headers["Retry-After"] = str(wait)
        return response
    if member is None:
        return await _page(
            request,
            "login.html",
            status=401,
            next=_safe_next(form.get("next")),
            error="Wrong name or password.",
        )
    fresh = sessions.Session(member.id, secrets.token_urlsafe(24))  # a new token after login
    response = web.HTTPSeeOther(_safe_next(form.get("next")))
    await sessions.save(request, response, fresh)
    raise response


async def logout(request: web.Request) -> web.Response:
    session = await sessions.check_csrf(request, await request.post())
    session.member_id = None
    response = web.HTTPSeeOther("/spaces")
    await sessions.save(request, response, session)
    raise response


async def _member(request: web.Request, form) -> Actor:
    session = await sessions.check_csrf(request, form)
    if session.member_id is None:
        raise web.HTTPSeeOther(f"/login?next={quote(request.path)}")
    async with request.app[FED].db.session() as db:
        member = await db.get(Actor, session.member_id)
    if member is None:
        raise web.HTTPSeeOther("/login")
    return member


def _back(path: str, notice: str | None = None, anchor: str = "") -> web.HTTPSeeOther:
    """Back to a page, with a notice code (server/notices.py) the page turns into its text."""
    return web.HTTPSeeOther(path + (f"?notice={quote(notice)}" if notice else "") + anchor)


async def join_form(request: web.Request) -> web.Response:
    view = await _space_by_ref(request)
    member = await _member(request, await request.post())
    try:
        await join_space(request.app[FED], member, view.actor)
    except Refusal as error:
        raise _back(space_path(view), notices.code_for(error.message)) from None
    raise _back(space_path(view))


async def leave_form(request: web.Request) -> web.Response:
    """A member leaves a space (Undo{Follow} for a remote one)."""
    view = await _space_by_ref(request)
    member = await _member(request, await request.post())
    fed = request.app[FED]
    async with fed.db.session() as session:
        await unfollow(
            session, fed, await session.get(Actor, member.id), await session.get(Actor, view.actor.id)
        )
    fed.deliveries_queued.set()
    raise _back(space_path(view), "left")


async def new_thread(request: web.Request) -> web.Response:
    view = await _space_by_ref(request)
    form = await request.post()
    member = await _member(request, form)
    try:
        obj = await publish(
            request.app[FED],
            member,
            view.actor,
            str(form.get("text", "")),
            title=str(form.get("title", "")).strip(),
        )
    except Refusal as error:
        raise _back(space_path(view), notices.code_for(error.message)) from None
    raise web.HTTPSeeOther(f"/threads/{obj.id}")


async def reply_form(request: web.Request) -> web.Response:
    view, root, rows = await _thread(request)
    form = await request.post()
    member = await _member(request, form)
    parent = next((o for p, o, _ in rows if str(o.id) == str(form.get("parent"))), None)
    path = f"/threads/{root.object_id}"
    if parent is None:
        raise _back(path, "not-in-thread")
    try:
        obj = await publish(request.app[FED], member, view.actor, str(form.get("text", "")), parent=parent)
    except Refusal as error:
        raise _back(path, notices.code_for(error.message)) from None
    raise web.HTTPSeeOther(f"{path}#p{obj.id}")


def setup(app: web.Application) -> None:
    app[TEMPLATES].filters["ago"] = ago
    app.router.add_get("/spaces", spaces_index)
    app.router.add_get("/spaces/{ref}", space_page)
    app.router.add_post("/spaces/{ref}/join", join_form)
    app.router.add_post("/spaces/{ref}/leave", leave_form)
    app.router.add_post("/spaces/{ref}/threads", new_thread)
    app.router.add_post("/spaces/{ref}/inbox", space_inbox)
    app.router.add_get("/spaces/{ref}/outbox", space_outbox)
    app.router.add_get("/spaces/{ref}/followers", space_followers)
    app.router.add_get("/spaces/{ref}/following", space_following)
    app.router.add_get("/spaces/{ref}/moderators", space_moderators)
    app.router.add_get("/spaces/{ref}/threads", space_threads)
    app.router.add_get("/spaces/{ref}/featured", space_featured)
    app.router.add_get("/threads/{n}", thread_page)
    app.router.add_post("/threads/{n}/reply", reply_form)
    app.router.add_get("/objects/{id}/replies", object_replies)
    app.router.add_get("/tags/{tag}", tag_page)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
