"""Moderators' pages and forms of a space: confirmed actions with a reason, reports, bans, moderators; and
the public moderation log."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from federation.actors import ActorError, resolve_handle
from federation.refusal import Refusal
from federation.spaces.moderation import (
    change_moderators,
    moderate_ban,
    moderate_lock,
    moderate_pin,
    moderate_remove,
    moderate_unban,
    moderate_unlock,
    moderate_unpin,
    resolve_report,
)
from federation.spaces.rules import may_moderate
from federation.spaces.store import SpaceView, moderator_uris
from models import Actor, Object
from models.space import ModerationEntry, Space, SpaceBan, SpacePost, SpaceReport
from server import notices
from server.keys import FED
from server.routes.spaces import (
    _back,
    _member,
    _members_only,
    _page,
    _space_by_ref,
    _thread,
    _viewer,
    ago,
    space_path,
)

POST_ACTIONS = {
    "remove": ("Remove this post", moderate_remove),
    "lock": ("Lock this thread", moderate_lock),
    "unlock": ("Unlock this thread", moderate_unlock),
    "pin": ("Pin this thread", moderate_pin),
    "unpin": ("Unpin this thread", moderate_unpin),
}
# Actions whose reason the confirmation page asks for (the others take an optional one).
NEEDS_REASON = ("remove", "lock", "ban")
ACTION_WORDS = {
    "remove": "removed",
    "lock": "locked",
    "unlock": "unlocked",
    "ban": "banned",
    "unban": "lifted the ban of",
    "pin": "pinned",
    "unpin": "unpinned",
    "add-moderator": "made a moderator:",
    "remove-moderator": "removed from the moderators:",
}


async def _moderator(request: web.Request, view: SpaceView, form=None) -> Actor:
    """The signed-in member, who must moderate this (local) space: else a 403 page that says so."""
    if form is not None:
        member = await _member(request, form)
    else:
        _, member = await _viewer(request)
        if member is None:
            raise web.HTTPSeeOther(f"/login?next={request.path_qs}")
    async with request.app[FED].db.session() as session:
        allowed = view.space.local and await may_moderate(session, view.space, member)
    if not allowed:
        raise web.HTTPForbidden(text="Only the space's moderators may do that.")
    return member


def _target(rows, post_id) -> tuple | None:
    return next(((p, o, a) for p, o, a in rows if str(o.id) == str(post_id)), None)


async def confirm_page(request: web.Request) -> web.Response:
    """The confirmation step: what will happen, to which post or author, and a field for the reason."""
    view, root, rows = await _thread(request)
    member = await _moderator(request, view)
    action = request.query.get("action", "")
    target = _target(rows, request.query.get("post"))
    path = f"/threads/{root.object_id}"
    if target is None or action not in (*POST_ACTIONS, "ban"):
        raise _back(path, "unknown-moderation")
    if action == "ban" and (target[2] is None or target[2].id == member.id):
        raise _back(path, "own-post" if target[2] is not None else "unknown-moderation")
    label = "Ban the author from this space" if action == "ban" else POST_ACTIONS[action][0]
    return await _page(
        request,
        "moderate_confirm.html",
        view=view,
        root=root,
        target=target,
        action=action,
        label=label,
        reason_required=action in NEEDS_REASON,
        space_path=space_path(view),
        ago=ago,
    )


async def moderate_form(request: web.Request) -> web.Response:
    view, root, rows = await _thread(request)
    form = await request.post()
    member = await _moderator(request, view, form)
    fed = request.app[FED]
    path = f"/threads/{root.object_id}"
    target = _target(rows, form.get("post"))
    action = form.get("action")
    if target is None or action not in (*POST_ACTIONS, "ban"):
        raise _back(path, "unknown-moderation")
    reason = str(form.get("reason", "")).strip()[:1000] or None
    async with fed.db.session() as session:
        space = await session.get(Space, view.space.id)
        live = SpaceView(space, await session.get(Actor, space.actor_id))
        moderator = await session.get(Actor, member.id)
        try:
            if action == "ban":
                if target[2] is None:
                    raise _back(path, "unknown-moderation")
                await moderate_ban(
                    session, fed, live, await session.get(Actor, target[2].id), reason, moderator
                )
            else:
                post = await session.get(SpacePost, target[0].id)
                await POST_ACTIONS[action][1](session, fed, live, post, reason, moderator)
        except Refusal as error:
            raise _back(path, notices.code_for(error.message)) from None
    fed.deliveries_queued.set()
    raise _back(path)


# ---------------------------------------------------------------- bans and moderators


async def _names(session, uris: list[str]) -> dict[str, Actor]:
    uris = [u for u in set(uris) if u]
    if not uris:
        return {}
    return {a.uri: a for a in (await session.scalars(select(Actor).where(Actor.uri.in_(uris)))).all()}


async def team_page(request: web.Request) -> web.Response:
    view = await _space_by_ref(request)
    await _moderator(request, view)
    async with request.app[FED].db.session() as session:
        bans = (
            await session.scalars(
                select(SpaceBan).where(SpaceBan.space_id == view.space.id).order_by(SpaceBan.id.desc())
            )
        ).all()
        mods = await moderator_uris(session, view.space)
        names = await _names(session, [b.actor_uri for b in bans] + mods)
    return await _page(
        request,
        "space_team.html",
        view=view,
        bans=bans,
        moderators=mods,
        names=names,
        space_path=space_path(view),
        ago=ago,
        error=notices.text_of(request.query.get("notice")),
    )


async def _actor_from_form(request: web.Request, value: str) -> Actor:
    fed = request.app[FED]
    value = value.strip().removeprefix("@")
    async with fed.db.session() as session:
        known = await session.scalar(select(Actor).where(Actor.uri == value))
        if known is None and "@" not in value:
            known = await session.scalar(select(Actor).where(Actor.local.is_(True), Actor.username == value))
    if known is not None:
        return known
    if "@" not in value:
        raise Refusal(404, "unknown account")
    try:
        return await resolve_handle(fed, value)
    except (ActorError, Exception):  # noqa: BLE001 -- any lookup failure is an unknown account
        raise Refusal(404, "unknown account") from None


async def team_form(request: web.Request) -> web.Response:
    """unban ACTOR, add-moderator HANDLE, remove-moderator ACTOR."""
    view = await _space_by_ref(request)
    form = await request.post()
    member = await _moderator(request, view, form)
    back = f"{space_path(view)}/moderation"
    action = form.get("action")
    if action not in ("unban", "add-moderator", "remove-moderator"):
        raise _back(back, "unknown-moderation")
    try:
        target = await _actor_from_form(request, str(form.get("actor", "")))
    except Refusal:
        raise _back(back, "unknown-actor") from None
    reason = str(form.get("reason", "")).strip()[:1000] or None
    fed = request.app[FED]
    async with fed.db.session() as session:
        space = await session.get(Space, view.space.id)
        live = SpaceView(space, await session.get(Actor, space.actor_id))
        moderator = await session.get(Actor, member.id)
        target = await session.get(Actor, target.id)
        try:
            if action == "unban":
                await moderate_unban(session, fed, live, target, reason, moderator)
            else:
                await change_moderators(
                    session, fed, live, target, action == "add-moderator", moderator, reason
                )
        except Refusal as error:
            raise _back(back, notices.code_for(error.message)) from None
    fed.deliveries_queued.set()
    raise _back(back)


# ---------------------------------------------------------------- reports


async def reports_page(request: web.Request) -> web.Response:
    view = await _space_by_ref(request)
    await _moderator(request, view)
    show_resolved = request.query.get("show") == "resolved"
    async with request.app[FED].db.session() as session:
        reports = (
            await session.scalars(
                select(SpaceReport)
                .where(SpaceReport.space_id == view.space.id, SpaceReport.resolved.is_(show_resolved))
                .order_by(SpaceReport.id.desc())
                .limit(100)
            )
        ).all()
        names = await _names(session, [r.reporter_uri for r in reports])
        posts = {
            o.uri: (p, o)
            for p, o in (
                await session.execute(
                    select(SpacePost, Object)
                    .join(Object, Object.id == SpacePost.object_id)
                    .where(Object.uri.in_([r.object_uri for r in reports]))
                )
            ).all()
        }
        authors = {
            a.id: a
            for a in (
                await session.scalars(
                    select(Actor).where(Actor.id.in_([o.attributed_to_id for _, o in posts.values()]))
                )
            ).all()
        }
        resolvers = {
            a.id: a
            for a in (
                await session.scalars(
                    select(Actor).where(Actor.id.in_([r.resolved_by_id for r in reports if r.resolved_by_id]))
                )
            ).all()
        }
    return await _page(
        request,
        "space_reports.html",
        view=view,
        reports=reports,
        names=names,
        posts=posts,
        authors=authors,
        resolvers=resolvers,
        show_resolved=show_resolved,
        space_path=space_path(view),
        ago=ago,
    )


async def resolve_form(request: web.Request) -> web.Response:
    view = await _space_by_ref(request)
    form = await request.post()
    member = await _moderator(request, view, form)
    try:
        report_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPBadRequest(text="no such report") from None
    async with request.app[FED].db.session() as session:
        await resolve_report(session, view, report_id, await session.get(Actor, member.id))
    raise _back(f"{space_path(view)}/reports")


# ---------------------------------------------------------------- the public log


async def modlog_page(request: web.Request) -> web.Response:
    view = await _space_by_ref(request)
    refused = await _members_only(request, view)
    if refused is not None:
        return refused
    async with request.app[FED].db.session() as session:
        entries = (
            await session.scalars(
                select(ModerationEntry)
                .where(ModerationEntry.space_id == view.space.id)
                .order_by(ModerationEntry.id.desc())
                .limit(200)
            )
        ).all()
        moderators = {
            a.id: a
            for a in (
                await session.scalars(
                    select(Actor).where(Actor.id.in_([e.moderator_id for e in entries if e.moderator_id]))
                )
            ).all()
        }
        names = await _names(session, [e.target_uri for e in entries])
        titles = dict(
            (
                await session.execute(
                    select(Object.uri, Object.name).where(Object.uri.in_([e.target_uri for e in entries]))
                )
            ).all()
        )
    return await _page(
        request,
        "space_modlog.html",
        view=view,
        entries=entries,
        moderators=moderators,
        names=names,
        titles=titles,
        words=ACTION_WORDS,
        space_path=space_path(view),
        ago=ago,
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/threads/{n}/moderate", confirm_page)
    app.router.add_post("/threads/{n}/moderate", moderate_form)
    app.router.add_get("/spaces/{ref}/moderation", team_page)
    app.router.add_post("/spaces/{ref}/moderation", team_form)
    app.router.add_get("/spaces/{ref}/reports", reports_page)
    app.router.add_post("/spaces/{ref}/reports/{id}/resolve", resolve_form)
    app.router.add_get("/spaces/{ref}/modlog", modlog_page)
