"""Statuses: posting (replies, visibility, content warnings, language, idempotency keys), reading, deleting,
threads, favourites and boosts. Each action goes through the same federation code as the command line."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from federation.edits import source_of, versions
from federation.interactions import original_of, reblog, unreblog
from federation.outbox import VISIBILITIES, post_note
from federation.refusal import Refusal
from federation.spaces.changes import delete_post, edit_post, like_post, unlike_post
from federation.spaces.posting import publish, render_with_mentions, space_of_parent
from federation.vocabulary import iso
from models import Actor, Object
from models.actor import actors_by_uris
from models.interaction import Favourite
from models.oauth import IdempotencyKey
from server.keys import FED
from server.mastodon.api import (
    ApiError,
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
from server.mastodon.timelines import visible_to

MAX_CHARACTERS = 5000
CONTEXT_LIMIT = 60


async def visible_status(session, caller: Caller, status_id: int) -> Object:
    obj = await session.scalar(
        select(Object).where(Object.id == status_id, Object.deleted_at.is_(None), visible_to(caller.account))
    )
    if obj is None:
        raise not_found()
    return obj


def status_text(params: Params) -> str:
    """The text of a status being posted or edited, refused (422, as Mastodon words it) when blank, too
    long, or carrying media or a poll (not supported here)."""
    text = params.str("status") or ""
    if not text.strip():
        raise ApiError(422, "Validation failed: Text can't be blank")
    if len(text) > MAX_CHARACTERS:
        raise ApiError(422, f"Validation failed: Text character limit of {MAX_CHARACTERS} exceeded")
    if params.list("media_ids") or params.get("poll") or params.get("poll[options][]"):
        raise ApiError(422, "Validation failed: media and polls are not supported here")
    return text


@endpoint(
    "POST",
    "/api/v1/statuses",
    scope="write:statuses",
    user=True,
    summary="Post a status (a Create{Note}); in_reply_to_id, visibility, spoiler_text, language, Idempotency-Key",
)
async def create_status(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    text = status_text(params)
    if params.get("scheduled_at"):
        raise ApiError(422, "Validation failed: scheduled posts are not supported here")
    visibility = params.str("visibility") or "public"
    if visibility not in VISIBILITIES:
        raise ApiError(422, "Validation failed: Visibility is not included in the list")
    key = request.headers.get("Idempotency-Key", "").strip()[:255] or None
    async with fed.db.session() as session:
        if key:
            earlier = await session.scalar(
                select(Object)
                .join(IdempotencyKey, IdempotencyKey.object_id == Object.id)
                .where(IdempotencyKey.account_id == caller.account_id, IdempotencyKey.key == key)
            )
            if earlier is not None:
                return await Renderer(session, fed, caller.account).status(earlier)
        parent = None
        reply_id = params.str("in_reply_to_id")
        if reply_id:
            if not reply_id.isdigit():
                raise not_found()
            parent = await visible_status(session, caller, int(reply_id))
            if parent.reblog_of_id is not None:
                parent = await session.get(Object, parent.reblog_of_id)
    author = caller.account
    rendered = await render_with_mentions(fed, text)
    spoiler = (params.str("spoiler_text") or "").strip() or None
    language = (params.str("language") or "").strip()[:16] or None
    try:
        obj = await _post(fed, author, text, rendered, parent, visibility, spoiler, language)
    except Refusal as error:
        raise ApiError(error.status if error.status in (403, 404, 410, 422) else 422, error.message) from None
    async with fed.db.session() as session:
        if key:
            session.add(IdempotencyKey(account_id=author.id, key=key, object_id=obj.id))
        obj = await session.get(Object, obj.id)
        answer = await Renderer(session, fed, caller.account).status(obj)
    fed.deliveries_queued.set()
    return answer


async def _post(
    fed,
    author: Actor,
    text: str,
    rendered,
    parent: Object | None,
    visibility: str,
    spoiler: str | None,
    language: str | None,
) -> Object:
    """A reply inside a forum space goes to the space; anything else is a Note to followers and the named."""
    if parent is not None:
        _, space_actor = await space_of_parent(fed, parent.uri)
        if space_actor is not None:
            return await publish(fed, author, space_actor, text, parent=parent)
    async with fed.db.session() as session:
        mentioned = await actors_by_uris(session, rendered.mentioned)
        if (
            parent is not None
            and parent.attributed_to_id
            and parent.attributed_to_id not in {m.id for m in mentioned}
        ):
            parent_author = await session.get(Actor, parent.attributed_to_id)
            if parent_author is not None and parent_author.id != author.id:
                mentioned.append(parent_author)
        obj, _ = await post_note(
            session,
            fed,
            await session.get(Actor, author.id),
            text,
            mentioned,
            in_reply_to=parent.uri if parent else None,
            visibility=visibility,
            html=rendered.html,
            tags=rendered.tags,
            spoiler_text=spoiler,
            language=language,
        )
        return obj


@endpoint("GET", "/api/v1/statuses/{id}", summary="One status")
async def get_status(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    async with fed.db.session() as session:
        obj = await visible_status(session, caller, object_id(request))
        answer = await Renderer(session, fed, caller.account).status(obj)
    if answer is None:
        raise not_found()
    return answer


@endpoint(
    "DELETE",
    "/api/v1/statuses/{id}",
    scope="write:statuses",
    user=True,
    summary="Delete one's own status (sends Delete); answers it with its source text",
)
async def delete_status(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    async with fed.db.session() as session:
        obj = await session.scalar(
            select(Object).where(
                Object.id == object_id(request),
                Object.attributed_to_id == caller.account_id,
                Object.local.is_(True),
                Object.deleted_at.is_(None),
            )
        )
        if obj is None:
            raise not_found()
        if obj.reblog_of_id is not None:  # deleting one's boost is unboosting
            answer = await Renderer(session, fed, caller.account).status(obj)
            await unreblog(session, fed, await session.get(Actor, caller.account_id), obj)
        else:
            answer = await Renderer(session, fed, caller.account).status(obj)
            await delete_post(session, fed, await session.get(Actor, caller.account_id), obj)
    fed.deliveries_queued.set()
    return answer


async def _own_status(session, caller: Caller, request: web.Request) -> Object:
    obj = await session.scalar(
        select(Object).where(
            Object.id == object_id(request),
            Object.attributed_to_id == caller.account_id,
            Object.local.is_(True),
            Object.deleted_at.is_(None),
            Object.reblog_of_id.is_(None),
        )
    )
    if obj is None:
        raise not_found()
    return obj


@endpoint(
    "PUT",
    "/api/v1/statuses/{id}",
    scope="write:statuses",
    user=True,
    summary="Edit one's own status (sends Update; a forum space relays it); the earlier version is kept",
)
async def edit_status(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    text = status_text(params)
    async with fed.db.session() as session:
        obj = await _own_status(session, caller, request)
    try:
        await edit_post(fed, caller.account, obj, text)
    except Refusal as error:
        raise ApiError(error.status if error.status in (403, 404, 422) else 422, error.message) from None
    async with fed.db.session() as session:
        return await Renderer(session, fed, caller.account).status(await session.get(Object, obj.id))


@endpoint("GET", "/api/v1/statuses/{id}/history", summary="A status's earlier versions and the current one")
async def status_history(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    async with fed.db.session() as session:
        obj = await visible_status(session, caller, object_id(request))
        author = await session.get(Actor, obj.attributed_to_id) if obj.attributed_to_id else None
        account = await Renderer(session, fed, caller.account).account(author) if author else None
        earlier = await versions(session, obj)
    entries = [(v.content, v.written_at) for v in earlier] + [(obj.content, obj.updated or obj.published)]
    return [
        {
            "content": content or "",
            "spoiler_text": "",
            "sensitive": False,
            "created_at": iso(moment),
            "account": account,
            "poll": None,
            "media_attachments": [],
            "emojis": [],
        }
        for content, moment in entries
    ]


@endpoint(
    "GET",
    "/api/v1/statuses/{id}/source",
    scope="read:statuses",
    user=True,
    summary="The Markdown source of one's own status, for editing",
)
async def status_source(request: web.Request, params: Params, caller: Caller):
    async with request.app[FED].db.session() as session:
        obj = await _own_status(session, caller, request)
    return {"id": str(obj.id), "text": source_of(obj.document) or "", "spoiler_text": obj.summary or ""}


@endpoint("GET", "/api/v1/statuses/{id}/context", summary="Ancestors and descendants of a status")
async def context(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    async with fed.db.session() as session:
        obj = await visible_status(session, caller, object_id(request))
        if obj.reblog_of_id is not None:
            obj = await session.get(Object, obj.reblog_of_id)
        ancestors: list[Object] = []
        parent_uri = obj.in_reply_to
        while parent_uri and len(ancestors) < CONTEXT_LIMIT:
            parent = await session.scalar(
                select(Object).where(Object.uri == parent_uri, visible_to(caller.account))
            )
            if parent is None or parent in ancestors:
                break
            ancestors.append(parent)
            parent_uri = parent.in_reply_to
        descendants: list[Object] = []
        frontier = [obj.uri]
        while frontier and len(descendants) < CONTEXT_LIMIT:
            children = list(
                (
                    await session.scalars(
                        select(Object)
                        .where(
                            Object.in_reply_to.in_(frontier),
                            Object.deleted_at.is_(None),
                            visible_to(caller.account),
                        )
                        .order_by(Object.id)
                        .limit(CONTEXT_LIMIT)
                    )
                ).all()
            )
            descendants.extend(children)
            frontier = [c.uri for c in children]
        renderer = Renderer(session, fed, caller.account)
        return {
            "ancestors": await renderer.statuses(list(reversed(ancestors))),
            "descendants": await renderer.statuses(descendants[:CONTEXT_LIMIT]),
        }


def _interaction(action, name: str):
    async def handler(request: web.Request, params: Params, caller: Caller):
        fed = request.app[FED]
        async with fed.db.session() as session:
            obj = await original_of(session, await visible_status(session, caller, object_id(request)))
            if obj is None:
                raise not_found()
            try:
                result = await action(session, fed, await session.get(Actor, caller.account_id), obj)
            except Refusal as error:
                raise ApiError(error.status, error.message) from None
            shown = result if isinstance(result, Object) else obj
            answer = await Renderer(session, fed, caller.account).status(shown)
        fed.deliveries_queued.set()
        return answer

    handler.__name__ = name
    return handler


for _name, _action, _summary, _scope in (
    ("favourite", like_post, "Favourite a status (sends Like)", "write:favourites"),
    ("unfavourite", unlike_post, "Undo a favourite (sends Undo{Like})", "write:favourites"),
    ("reblog", reblog, "Boost a status (sends Announce); answers the boost", "write:statuses"),
    ("unreblog", unreblog, "Undo a boost (sends Undo{Announce})", "write:statuses"),
):
    endpoint(
        "POST", f"/api/v1/statuses/{{id}}/{_name}", scope=_scope, user=True, summary=_summary, tag="statuses"
    )(_interaction(_action, _name))


@endpoint(
    "GET", "/api/v1/statuses/{id}/favourited_by", paginated=True, summary="Accounts that favourited a status"
)
async def favourited_by(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    page = page_of(params, 40, 80)
    async with fed.db.session() as session:
        obj = await visible_status(session, caller, object_id(request))
        query = (
            select(Favourite.id, Actor)
            .join(Actor, Actor.id == Favourite.actor_id)
            .where(Favourite.object_id == obj.id)
        )
        rows = in_order(list((await session.execute(paginate(query, Favourite.id, page))).all()), page)
        items = await Renderer(session, fed, caller.account).accounts([a for _, a in rows])
    return paged(request, items, [i for i, _ in rows])


@endpoint(
    "GET", "/api/v1/statuses/{id}/reblogged_by", paginated=True, summary="Accounts that boosted a status"
)
async def reblogged_by(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    page = page_of(params, 40, 80)
    async with fed.db.session() as session:
        obj = await visible_status(session, caller, object_id(request))
        query = (
            select(Object.id, Actor)
            .join(Actor, Actor.id == Object.attributed_to_id)
            .where(Object.reblog_of_id == obj.id, Object.deleted_at.is_(None))
        )
        rows = in_order(list((await session.execute(paginate(query, Object.id, page))).all()), page)
        items = await Renderer(session, fed, caller.account).accounts([a for _, a in rows])
    return paged(request, items, [i for i, _ in rows])


@endpoint(
    "GET",
    "/api/v1/favourites",
    scope="read:favourites",
    user=True,
    paginated=True,
    summary="Statuses the account favourited",
)
async def favourites(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    page = page_of(params)
    async with fed.db.session() as session:
        query = (
            select(Favourite.id, Object)
            .join(Object, Object.id == Favourite.object_id)
            .where(Favourite.actor_id == caller.account_id, Object.deleted_at.is_(None))
        )
        rows = in_order(list((await session.execute(paginate(query, Favourite.id, page))).all()), page)
        items = await Renderer(session, fed, caller.account).statuses([o for _, o in rows])
    return paged(request, items, [i for i, _ in rows])
