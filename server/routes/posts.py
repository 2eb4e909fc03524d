"""Pages and forms for one post of a space: edit (with its history), delete, like, report."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from federation.edits import source_of, versions
from federation.refusal import Refusal
from federation.spaces.changes import delete_post, edit_post, like_post, report_post, unlike_post
from federation.spaces.store import SpaceView
from models import Actor, Object
from models.space import Space, SpacePost
from server import notices
from server.keys import FED
from server.routes.common import not_found
from server.routes.spaces import _back, _member, _members_only, _page, _viewer, ago, space_path


async def _post(request: web.Request) -> tuple[SpaceView, SpacePost, Object, Actor | None]:
    """The post named in the URL, with its space and author (404 for anything not in a space)."""
    try:
        object_id = int(request.match_info["id"])
    except ValueError:
        raise not_found(request, "no such post") from None
    async with request.app[FED].db.session() as session:
        row = (
            await session.execute(
                select(SpacePost, Object)
                .join(Object, Object.id == SpacePost.object_id)
                .where(SpacePost.object_id == object_id)
            )
        ).first()
        if row is None:
            raise not_found(request, "no such post")
        post, obj = row
        space = await session.get(Space, post.space_id)
        view = SpaceView(space, await session.get(Actor, space.actor_id))
        author = await session.get(Actor, obj.attributed_to_id) if obj.attributed_to_id else None
    return view, post, obj, author


def _thread_path(post: SpacePost, anchor: bool = True) -> str:
    return f"/threads/{post.thread_id}" + (f"#p{post.object_id}" if anchor and not post.is_thread else "")


async def _own(request: web.Request, form=None):
    view, post, obj, author = await _post(request)
    if form is None:
        session, member = await _viewer(request)
        if member is None:
            raise web.HTTPSeeOther(f"/login?next={request.path}")
    else:
        member = await _member(request, form)
    if author is None or member.id != author.id or not obj.local:
        raise web.HTTPForbidden(text="only the author may edit or delete a post")
    if obj.deleted_at is not None:
        raise _back(_thread_path(post, False), "removed")
    return view, post, obj, member


async def edit_form(request: web.Request) -> web.Response:
    view, post, obj, _ = await _own(request)
    refused = await _members_only(request, view)
    if refused is not None:
        return refused
    return await _page(
        request,
        "post_edit.html",
        view=view,
        post=post,
        obj=obj,
        source=source_of(obj.document) or "",
        space_path=space_path(view),
        error=notices.text_of(request.query.get("notice")),
    )


async def edit(request: web.Request) -> web.Response:
    form = await request.post()
    view, post, obj, member = await _own(request, form)
    try:
        await edit_post(
            request.app[FED],
            member,
            obj,
            str(form.get("text", "")),
            str(form.get("title", "")) if post.is_thread else None,
        )
    except Refusal as error:
        raise _back(f"/posts/{obj.id}/edit", notices.code_for(error.message)) from None
    raise web.HTTPSeeOther(_thread_path(post))


async def history(request: web.Request) -> web.Response:
    view, post, obj, author = await _post(request)
    refused = await _members_only(request, view)
    if refused is not None:
        return refused
    if post.removed_at is not None or obj.deleted_at is not None:
        raise not_found(request, "this post was removed")
    async with request.app[FED].db.session() as session:
        earlier = await versions(session, obj)
    return await _page(
        request,
        "post_history.html",
        view=view,
        post=post,
        obj=obj,
        author=author,
        versions=list(reversed(earlier)),
        space_path=space_path(view),
        ago=ago,
    )


async def delete_form(request: web.Request) -> web.Response:
    view, post, obj, _ = await _own(request)
    return await _page(
        request, "post_delete.html", view=view, post=post, obj=obj, space_path=space_path(view), ago=ago
    )


async def delete(request: web.Request) -> web.Response:
    form = await request.post()
    view, post, obj, member = await _own(request, form)
    fed = request.app[FED]
    async with fed.db.session() as session:
        try:
            await delete_post(session, fed, await session.get(Actor, member.id), obj)
        except Refusal as error:
            raise _back(_thread_path(post, False), notices.code_for(error.message)) from None
    fed.deliveries_queued.set()
    raise _back(space_path(view) if post.is_thread else _thread_path(post, False), "post-deleted")


def _liking(action):
    async def handler(request: web.Request) -> web.Response:
        form = await request.post()
        view, post, obj, _ = await _post(request)
        member = await _member(request, form)
        fed = request.app[FED]
        async with fed.db.session() as session:
            try:
                await action(
                    session, fed, await session.get(Actor, member.id), await session.get(Object, obj.id)
                )
            except Refusal as error:
                raise _back(_thread_path(post, False), notices.code_for(error.message)) from None
        fed.deliveries_queued.set()
        raise web.HTTPSeeOther(_thread_path(post))

    return handler


async def report_form(request: web.Request) -> web.Response:
    view, post, obj, author = await _post(request)
    session, viewer = await _viewer(request)
    if viewer is None:
        raise web.HTTPSeeOther(f"/login?next={request.path}")
    return await _page(
        request,
        "post_report.html",
        view=view,
        post=post,
        obj=obj,
        author=author,
        space_path=space_path(view),
        ago=ago,
    )


async def report(request: web.Request) -> web.Response:
    form = await request.post()
    view, post, obj, _ = await _post(request)
    member = await _member(request, form)
    reason = str(form.get("reason", "")).strip()[:1000]
    if not reason:
        raise _back(f"/posts/{obj.id}/report", "no-reason")
    fed = request.app[FED]
    async with fed.db.session() as session:
        await report_post(session, fed, await session.get(Actor, member.id), obj, reason)
    fed.deliveries_queued.set()
    raise _back(_thread_path(post, False), "reported")


def setup(app: web.Application) -> None:
    app.router.add_get("/posts/{id}/edit", edit_form)
    app.router.add_post("/posts/{id}/edit", edit)
    app.router.add_get("/posts/{id}/history", history)
    app.router.add_get("/posts/{id}/delete", delete_form)
    app.router.add_post("/posts/{id}/delete", delete)
    app.router.add_post("/posts/{id}/like", _liking(like_post))
    app.router.add_post("/posts/{id}/unlike", _liking(unlike_post))
    app.router.add_get("/posts/{id}/report", report_form)
    app.router.add_post("/posts/{id}/report", report)
