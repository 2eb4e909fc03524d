"""Accounts: the signed-in account, profiles, lookups, relationships, follows, follow requests, and the
statuses and follow lists of an account."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from federation.actors import parse_handle
from federation.content import markdown_to_html
from federation.interactions import answer_follow_request, update_profile
from federation.outbox import follow as send_follow
from federation.outbox import unfollow as send_unfollow
from federation.urls import INSTANCE_ACTOR
from models import Actor, Follow, FollowState, Object
from models.actor import actor_by_handle, local_actor
from server.keys import FED
from server.mastodon.api import (
    ApiError,
    Caller,
    Params,
    endpoint,
    forget_account,
    in_order,
    not_found,
    object_id,
    page_of,
    paged,
    paginate,
)
from server.mastodon.entities import Renderer


async def account_by_id(session, account_id: int) -> Actor:
    actor = await session.get(Actor, account_id)
    if actor is None or actor.username == INSTANCE_ACTOR:
        raise not_found()
    return actor


@endpoint(
    "GET",
    "/api/v1/accounts/verify_credentials",
    scope="read:accounts",
    user=True,
    summary="The account the token acts as, with its source",
)
async def verify_credentials(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    async with fed.db.session() as session:
        return await Renderer(session, fed, caller.account).credential_account(
            await session.get(Actor, caller.account_id)
        )


@endpoint(
    "PATCH",
    "/api/v1/accounts/update_credentials",
    scope="write:accounts",
    user=True,
    summary="Change display name and bio (sends Update to followers)",
)
async def update_credentials(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    name = params.str("display_name")
    note = params.str("note")
    if name is not None and len(name) > 100:
        raise ApiError(422, "Validation failed: Display name is too long (maximum is 100 characters)")
    async with fed.db.session() as session:
        actor = await session.get(Actor, caller.account_id)
        await update_profile(session, fed, actor, name, markdown_to_html(note) if note is not None else None)
        answer = await Renderer(session, fed, actor).credential_account(actor)
    forget_account(request.app, actor.id)
    fed.deliveries_queued.set()
    return answer


@endpoint(
    "GET", "/api/v1/accounts/lookup", summary="An account by its acct (name or name@host), without fetching"
)
async def lookup(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    acct = (params.str("acct") or "").strip().lstrip("@")
    if not acct:
        raise not_found()
    name, host = (acct, fed.settings.host.lower()) if "@" not in acct else parse_handle(acct)
    async with fed.db.session() as session:
        if host == fed.settings.host.lower():
            actor = await local_actor(session, name)
        else:
            actor = await actor_by_handle(session, name, host)
        if actor is None or actor.username == INSTANCE_ACTOR:
            raise not_found()
        return await Renderer(session, fed, caller.account).account(actor)


@endpoint(
    "GET",
    "/api/v1/accounts/relationships",
    scope="read:follows",
    user=True,
    summary="Relationships of the signed-in account with the given accounts (id[]=...)",
)
async def relationships(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    ids = [int(i) for i in params.list("id") if str(i).isdigit() and len(str(i)) <= 18]
    async with fed.db.session() as session:
        return await Renderer(session, fed, caller.account).relationships(ids)


@endpoint(
    "GET", "/api/v1/accounts/search", scope="read:accounts", summary="Accounts matching a name (and resolve)"
)
async def search_accounts(request: web.Request, params: Params, caller: Caller):
    from server.mastodon.search import find_accounts

    return await find_accounts(request, params, caller)


@endpoint("GET", "/api/v1/accounts/{id}", summary="One account")
async def get_account(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    async with fed.db.session() as session:
        return await Renderer(session, fed, caller.account).account(
            await account_by_id(session, object_id(request))
        )


@endpoint(
    "GET",
    "/api/v1/accounts/{id}/statuses",
    paginated=True,
    summary="Statuses an account made (known here), newest first",
)
async def account_statuses(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    page = page_of(params)
    async with fed.db.session() as session:
        actor = await account_by_id(session, object_id(request))
        query = select(Object).where(Object.attributed_to_id == actor.id, Object.deleted_at.is_(None))
        if params.bool("exclude_reblogs"):
            query = query.where(Object.reblog_of_id.is_(None))
        if params.bool("exclude_replies"):
            query = query.where(Object.in_reply_to.is_(None))
        if params.bool("pinned") or params.bool("only_media"):
            return paged(request, [])
        from server.mastodon.timelines import visible_to

        query = query.where(visible_to(caller.account))
        rows = in_order(list((await session.scalars(paginate(query, Object.id, page))).all()), page)
        items = await Renderer(session, fed, caller.account).statuses(rows)
    return paged(request, items, [r.id for r in rows])


def _follow_list(direction: str):
    async def handler(request: web.Request, params: Params, caller: Caller):
        fed = request.app[FED]
        page = page_of(params, 40, 80)
        async with fed.db.session() as session:
            actor = await account_by_id(session, object_id(request))
            mine, theirs = (
                (Follow.followee_id, Follow.follower_id)
                if direction == "followers"
                else (Follow.follower_id, Follow.followee_id)
            )
            query = (
                select(Follow.id, Actor)
                .join(Actor, Actor.id == theirs)
                .where(mine == actor.id, Follow.state == FollowState.accepted.value)
            )
            rows = in_order(list((await session.execute(paginate(query, Follow.id, page))).all()), page)
            items = await Renderer(session, fed, caller.account).accounts([a for _, a in rows])
        return paged(request, items, [i for i, _ in rows])

    handler.__name__ = direction
    return handler


endpoint(
    "GET",
    "/api/v1/accounts/{id}/followers",
    paginated=True,
    summary="Accounts following an account",
    tag="accounts",
)(_follow_list("followers"))
endpoint(
    "GET",
    "/api/v1/accounts/{id}/following",
    paginated=True,
    summary="Accounts an account follows",
    tag="accounts",
)(_follow_list("following"))


@endpoint(
    "POST",
    "/api/v1/accounts/{id}/follow",
    scope="write:follows",
    user=True,
    summary="Follow an account (a Follow activity for remote ones)",
)
async def follow(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    async with fed.db.session() as session:
        target = await account_by_id(session, object_id(request))
        if target.id == caller.account_id:
            raise ApiError(403, "This action is not allowed")
        await send_follow(session, fed, await session.get(Actor, caller.account_id), target)
        [answer] = await Renderer(session, fed, caller.account).relationships([target.id])
    fed.deliveries_queued.set()
    return answer


@endpoint(
    "POST",
    "/api/v1/accounts/{id}/unfollow",
    scope="write:follows",
    user=True,
    summary="Unfollow an account (Undo Follow for remote ones)",
)
async def unfollow(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    async with fed.db.session() as session:
        target = await account_by_id(session, object_id(request))
        await send_unfollow(session, fed, await session.get(Actor, caller.account_id), target)
        [answer] = await Renderer(session, fed, caller.account).relationships([target.id])
    fed.deliveries_queued.set()
    return answer


@endpoint(
    "GET",
    "/api/v1/follow_requests",
    scope="read:follows",
    user=True,
    paginated=True,
    summary="Accounts waiting for the signed-in account to accept their follow",
)
async def follow_requests(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    page = page_of(params, 40, 80)
    async with fed.db.session() as session:
        query = (
            select(Follow.id, Actor)
            .join(Actor, Actor.id == Follow.follower_id)
            .where(Follow.followee_id == caller.account_id, Follow.state == FollowState.pending.value)
        )
        rows = in_order(list((await session.execute(paginate(query, Follow.id, page))).all()), page)
        items = await Renderer(session, fed, caller.account).accounts([a for _, a in rows])
    return paged(request, items, [i for i, _ in rows])


def _answer(accept: bool):
    async def handler(request: web.Request, params: Params, caller: Caller):
        fed = request.app[FED]
        async with fed.db.session() as session:
            follower = await account_by_id(session, object_id(request))
            me = await session.get(Actor, caller.account_id)
            if await answer_follow_request(session, fed, me, follower, accept) is None:
                raise not_found()
            [answer] = await Renderer(session, fed, caller.account).relationships([follower.id])
        fed.deliveries_queued.set()
        return answer

    handler.__name__ = "authorize" if accept else "reject"
    return handler


endpoint(
    "POST",
    "/api/v1/follow_requests/{id}/authorize",
    scope="write:follows",
    user=True,
    summary="Accept a follow request (sends Accept)",
    tag="accounts",
)(_answer(True))
endpoint(
    "POST",
    "/api/v1/follow_requests/{id}/reject",
    scope="write:follows",
    user=True,
    summary="Reject a follow request (sends Reject)",
    tag="accounts",
)(_answer(False))
