"""Actor documents and profiles, their collections, and local objects and activities."""

from __future__ import annotations

import json

from aiohttp import web
from sqlalchemy import func, select

from federation.actors import actor_document
from federation.urls import INSTANCE_ACTOR
from federation.vocabulary import id_of
from models import Activity, Actor, Follow, FollowState, Object
from models.actor import local_actor
from models.content import local_activity_by_uri, local_object_by_uri
from server.access import check_space_reader
from server.keys import FED
from server.routes.common import activity_json, paged_collection, render, wants_json


async def _local_actor(request: web.Request, name: str | None = None) -> Actor:
    fed = request.app[FED]
    name = name or request.match_info["name"]
    async with fed.db.session() as session:
        actor = await local_actor(session, name)
    if actor is None:
        if wants_json(request):
            raise web.HTTPNotFound(
                text=json.dumps({"error": f"no actor {name}"}), content_type="application/json"
            )
        raise web.HTTPNotFound(text=f"No movement or member called {name} here.")
    return actor


async def actor(request: web.Request) -> web.Response:
    fed = request.app[FED]
    found = await _local_actor(request)
    async with fed.db.session() as session:
        if wants_json(request):
            return activity_json(await actor_document(session, fed, found), request=request)
        followers = (
            await session.scalar(
                select(func.count())
                .select_from(Follow)
                .where(Follow.followee_id == found.id, Follow.state == FollowState.accepted.value)
            )
            or 0
        )
        following = (
            await session.scalar(
                select(func.count())
                .select_from(Follow)
                .where(Follow.follower_id == found.id, Follow.state == FollowState.accepted.value)
            )
            or 0
        )
        connections = {
            label: (
                await session.scalars(
                    select(Actor)
                    .join(Follow, theirs == Actor.id)
                    .where(mine == found.id, Follow.state == FollowState.accepted.value)
                    .order_by(Follow.id.desc())
                    .limit(24)
                )
            ).all()
            for label, mine, theirs in (
                ("followed by", Follow.followee_id, Follow.follower_id),
                ("follows", Follow.follower_id, Follow.followee_id),
            )
        }
        posts = (
            await session.scalars(
                select(Object)
                .where(
                    Object.attributed_to_id == found.id,
                    Object.deleted_at.is_(None),
                    Object.public.is_(True),
                    Object.reblog_of_id.is_(None),
                )
                .order_by(Object.published.desc())
                .limit(20)
            )
        ).all()
        movement = await session.get(Actor, found.movement_id) if found.movement_id else None
        members = (
            await session.scalars(select(Actor).where(Actor.movement_id == found.id).order_by(Actor.username))
        ).all()
    return render(
        request,
        "actor.html",
        actor=found,
        host=fed.settings.host,
        followers=followers,
        following=following,
        posts=posts,
        movement=movement,
        members=members,
        connections=connections,
    )


async def instance_actor(request: web.Request) -> web.Response:
    fed = request.app[FED]
    found = await _local_actor(request, INSTANCE_ACTOR)
    async with fed.db.session() as session:
        return activity_json(await actor_document(session, fed, found), request=request)


async def outbox(request: web.Request) -> web.Response:
    found = await _local_actor(request)
    where = (
        Activity.actor_id == found.id,
        Activity.local.is_(True),
        Activity.type.in_(("Create", "Announce")),
    )
    return await paged_collection(
        request,
        found.outbox,
        select(func.count()).select_from(Activity).where(*where),
        select(Activity.payload).where(*where).order_by(Activity.id.desc()),
        lambda row: json.loads(row.payload),
    )


def _follow_collection(direction: str):
    async def handler(request: web.Request) -> web.Response:
        found = await _local_actor(request)
        mine, theirs = (
            (Follow.followee_id, Follow.follower_id)
            if direction == "followers"
            else (Follow.follower_id, Follow.followee_id)
        )
        where = (mine == found.id, Follow.state == FollowState.accepted.value)
        return await paged_collection(
            request,
            found.followers_url if direction == "followers" else found.following_url,
            select(func.count()).select_from(Follow).where(*where),
            select(Actor.uri).join(Follow, theirs == Actor.id).where(*where).order_by(Follow.id.desc()),
            lambda row: row.uri,
        )

    return handler


async def local_object(request: web.Request) -> web.Response:
    fed = request.app[FED]
    uri = f"{fed.settings.base_url}/objects/{request.match_info['id']}"
    async with fed.db.session() as session:
        obj = await local_object_by_uri(session, uri)
        author = (
            await session.get(Actor, obj.attributed_to_id)
            if obj is not None and obj.attributed_to_id
            else None
        )
    if obj is None:
        raise web.HTTPNotFound(text="no such object")
    await check_space_reader(request, obj)
    if obj.deleted_at is not None:
        return activity_json(
            {"@context": "https://www.w3.org/ns/activitystreams", **obj.document}, status=410
        )
    if wants_json(request):
        return activity_json(
            {"@context": "https://www.w3.org/ns/activitystreams", **obj.document}, request=request
        )
    return render(request, "object.html", obj=obj, author=author)


async def local_activity(request: web.Request) -> web.Response:
    fed = request.app[FED]
    uri = f"{fed.settings.base_url}/activities/{request.match_info['id']}"
    async with fed.db.session() as session:
        found = await local_activity_by_uri(session, uri)
    if found is None:
        raise web.HTTPNotFound(text="no such activity")
    document = json.loads(found.payload)
    await _check_carried_objects(request, document)
    return activity_json(document, request=request)


async def _check_carried_objects(request: web.Request, document: dict) -> None:
    """An activity carrying a post of a members-only space (a Create, an Announce of a Create ...) is
    shown only to those who may read that post."""
    fed = request.app[FED]
    carried, value = [], document.get("object")
    for _ in range(2):  # the object, and the object of an embedded activity
        if id_of(value):
            carried.append(id_of(value))
        value = value.get("object") if isinstance(value, dict) else None
    async with fed.db.session() as session:
        found = [await local_object_by_uri(session, uri) for uri in carried if fed.urls.is_local(uri)]
    for obj in found:
        if obj is not None:
            await check_space_reader(request, obj)


def setup(app: web.Application) -> None:
    app.router.add_get("/actor", instance_actor)
    app.router.add_get("/actors/{name}", actor)
    app.router.add_get("/actors/{name}/outbox", outbox)
    app.router.add_get("/actors/{name}/followers", _follow_collection("followers"))
    app.router.add_get("/actors/{name}/following", _follow_collection("following"))
    app.router.add_get("/objects/{id}", local_object)
    app.router.add_get("/activities/{id}", local_activity)
