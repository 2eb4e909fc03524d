"""Notifications of the signed-in account: list, one, dismiss, clear."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import delete, select

from models.interaction import NOTIFICATION_TYPES, Notification
from server.keys import FED
from server.mastodon.api import (
    Caller,
    Params,
    endpoint,
    in_order,
    not_found,
    object_id,
    page_of,
    paged,
    paginate,
)
from server.mastodon.entities import Renderer


@endpoint(
    "GET",
    "/api/v1/notifications",
    scope="read:notifications",
    user=True,
    paginated=True,
    summary="Follows, mentions, boosts, favourites and status notices (types[], exclude_types[])",
)
async def notifications(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    page = page_of(params, 40, 80)
    query = select(Notification).where(Notification.owner_id == caller.account_id)
    types = [t for t in params.list("types") if t in NOTIFICATION_TYPES]
    if types:
        query = query.where(Notification.type.in_(types))
    excluded = [t for t in params.list("exclude_types") if t in NOTIFICATION_TYPES]
    if excluded:
        query = query.where(Notification.type.not_in(excluded))
    account = params.str("account_id")
    if account and account.isdigit():
        query = query.where(Notification.from_actor_id == int(account))
    async with fed.db.session() as session:
        rows = in_order(list((await session.scalars(paginate(query, Notification.id, page))).all()), page)
        items = await Renderer(session, fed, caller.account).notifications(rows)
    return paged(request, items, [r.id for r in rows])


@endpoint(
    "GET",
    "/api/v1/notifications/unread_count",
    scope="read:notifications",
    user=True,
    summary="Notifications newer than the notifications marker",
)
async def unread_count(request: web.Request, params: Params, caller: Caller):
    from sqlalchemy import func

    from models.oauth import Marker

    async with request.app[FED].db.session() as session:
        marker = await session.scalar(
            select(Marker.last_read_id).where(
                Marker.account_id == caller.account_id, Marker.timeline == "notifications"
            )
        )
        query = (
            select(func.count()).select_from(Notification).where(Notification.owner_id == caller.account_id)
        )
        if marker and marker.isdigit():
            query = query.where(Notification.id > int(marker))
        return {"count": min(await session.scalar(query) or 0, 1000)}


@endpoint(
    "GET", "/api/v1/notifications/{id}", scope="read:notifications", user=True, summary="One notification"
)
async def notification(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    async with fed.db.session() as session:
        row = await session.scalar(
            select(Notification).where(
                Notification.id == object_id(request), Notification.owner_id == caller.account_id
            )
        )
        found = await Renderer(session, fed, caller.account).notifications([row]) if row else []
    if not found:
        raise not_found()
    return found[0]


@endpoint(
    "POST",
    "/api/v1/notifications/clear",
    scope="write:notifications",
    user=True,
    summary="Dismiss all notifications",
)
async def clear(request: web.Request, params: Params, caller: Caller):
    async with request.app[FED].db.session() as session:
        await session.execute(delete(Notification).where(Notification.owner_id == caller.account_id))
    return {}


@endpoint(
    "POST",
    "/api/v1/notifications/{id}/dismiss",
    scope="write:notifications",
    user=True,
    summary="Dismiss one notification",
)
async def dismiss(request: web.Request, params: Params, caller: Caller):
    async with request.app[FED].db.session() as session:
        await session.execute(
            delete(Notification).where(
                Notification.id == object_id(request), Notification.owner_id == caller.account_id
            )
        )
    return {}
