"""Moderation by the space itself (Delete, Lock, Block, their Undo), as followers apply it; reports."""

from __future__ import annotations

import json

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.context import Federation
from federation.outbox import (
    follower_actors,
    queue_deliveries,
    remote_inboxes,
    store_activity,
)
from federation.spaces.access import is_private
from federation.spaces.rules import is_banned
from federation.spaces.store import SpaceView, post_by_uri, remove_post, space_of_actor, thread_row
from federation.vocabulary import AS, PUBLIC, as_list, id_of
from models import Activity, Actor, Follow, Object
from models.space import Space, SpaceBan, SpacePost, SpaceReport


async def _moderation_activity(
    session: AsyncSession,
    fed: Federation,
    view: SpaceView,
    kind: str,
    obj: str | dict,
    summary: str | None,
    extra_inboxes: list[str] = (),
    **fields,
) -> Activity:
    document = {
        "@context": AS,
        "id": fed.urls.new_activity(),
        "type": kind,
        "actor": view.actor.uri,
        "to": [view.actor.followers_url] if is_private(view.space) else [PUBLIC],
        "cc": [view.actor.followers_url],
        "audience": view.actor.uri,
        "object": obj,
        **fields,
    }
    if summary:
        document["summary"] = summary
    activity = await store_activity(session, view.actor, document)
    inboxes = remote_inboxes(await follower_actors(session, view.actor.id)) | {i for i in extra_inboxes if i}
    await queue_deliveries(session, activity, view.actor, inboxes)
    return activity


async def moderate_remove(
    session: AsyncSession, fed: Federation, view: SpaceView, post: SpacePost, reason: str | None = None
) -> Activity:
    """Removes a post from the space and tells followers (and the author) with a Delete by the space."""
    obj = await session.get(Object, post.object_id)
    author = await session.get(Actor, obj.attributed_to_id) if obj.attributed_to_id else None
    await remove_post(session, post)
    extra = [author.delivery_inbox] if author is not None and not author.local else []
    return await _moderation_activity(session, fed, view, "Delete", obj.uri, reason, extra)


async def moderate_lock(
    session: AsyncSession, fed: Federation, view: SpaceView, post: SpacePost, reason: str | None = None
) -> Activity:
    thread = await thread_row(session, post)
    thread.locked = True
    obj = await session.get(Object, thread.object_id)
    return await _moderation_activity(session, fed, view, "Lock", obj.uri, reason)


async def moderate_ban(
    session: AsyncSession, fed: Federation, view: SpaceView, target: Actor, reason: str | None = None
) -> Activity:
    """Bans an actor: its follow ends, its posts are refused, and a Block by the space tells everyone."""
    if not await is_banned(session, view.space, target.uri):
        session.add(SpaceBan(space_id=view.space.id, actor_uri=target.uri, reason=reason))
    await session.execute(
        delete(Follow).where(Follow.follower_id == target.id, Follow.followee_id == view.actor.id)
    )
    extra = [target.delivery_inbox] if not target.local else []
    return await _moderation_activity(
        session, fed, view, "Block", target.uri, reason, extra, target=view.actor.uri
    )


async def _undo_moderation(
    session: AsyncSession,
    fed: Federation,
    view: SpaceView,
    kind: str,
    object_uri: str,
    reason: str | None,
    extra_inboxes: list[str] = (),
) -> Activity:
    """An Undo by the space embedding its latest `kind` (Lock, Block) of object_uri, as Lemmy sends it."""
    done = await session.scalar(
        select(Activity)
        .where(
            Activity.actor_id == view.actor.id,
            Activity.local.is_(True),
            Activity.type == kind,
            Activity.object_uri == object_uri,
        )
        .order_by(Activity.id.desc())
        .limit(1)
    )
    undone = (
        json.loads(done.payload)
        if done is not None
        else {"type": kind, "actor": view.actor.uri, "object": object_uri}
    )
    undone.pop("@context", None)
    return await _moderation_activity(session, fed, view, "Undo", undone, reason, extra_inboxes)


async def moderate_unlock(
    session: AsyncSession, fed: Federation, view: SpaceView, post: SpacePost, reason: str | None = None
) -> Activity:
    """Opens a locked thread again (Undo{Lock})."""
    thread = await thread_row(session, post)
    thread.locked = False
    obj = await session.get(Object, thread.object_id)
    return await _undo_moderation(session, fed, view, "Lock", obj.uri, reason)


async def moderate_unban(
    session: AsyncSession, fed: Federation, view: SpaceView, target: Actor, reason: str | None = None
) -> Activity:
    """Lifts a ban (Undo{Block}); the actor may join and post again."""
    await session.execute(
        delete(SpaceBan).where(SpaceBan.space_id == view.space.id, SpaceBan.actor_uri == target.uri)
    )
    extra = [target.delivery_inbox] if not target.local else []
    return await _undo_moderation(session, fed, view, "Block", target.uri, reason, extra)


async def apply_remote_moderation(session: AsyncSession, space_actor: Actor, document: dict) -> bool:
    """Applies a Delete, Lock or Block (or an Undo of a Lock or Block) sent by a remote space we know; False
    when it is not one."""
    space = await space_of_actor(session, space_actor)
    if space is None or space.local:
        return False
    kind, target = document["type"], id_of(document.get("object"))
    if kind == "Undo":
        return await _apply_remote_undo(session, space, space_actor, document.get("object"))
    if kind == "Block":
        if target and not await is_banned(session, space, target):
            session.add(SpaceBan(space_id=space.id, actor_uri=target, reason=document.get("summary")))
            await session.flush()
        return True
    post = await post_by_uri(session, target or "")
    if post is None or post.space_id != space.id:
        return True  # not (or no longer) in our index: nothing to undo
    if kind == "Delete":
        await remove_post(session, post)
    elif kind == "Lock":
        (await thread_row(session, post)).locked = True
    return True


async def _apply_remote_undo(session: AsyncSession, space: Space, space_actor: Actor, undone) -> bool:
    if not isinstance(undone, dict) or id_of(undone.get("actor")) != space_actor.uri:
        return False  # only the space's own moderation is undone here
    kind, target = undone.get("type"), id_of(undone.get("object"))
    if kind == "Block" and target:
        await session.execute(
            delete(SpaceBan).where(SpaceBan.space_id == space.id, SpaceBan.actor_uri == target)
        )
    elif kind == "Lock" and target:
        post = await post_by_uri(session, target)
        if post is not None and post.space_id == space.id:
            (await thread_row(session, post)).locked = False
    return True


async def record_report(session: AsyncSession, view: SpaceView, reporter: Actor, document: dict) -> int:
    """Stores a Flag for the space's moderators; returns how many objects it names."""
    objects = [id_of(o) for o in as_list(document.get("object")) if id_of(o)]
    reason = document.get("summary") or document.get("content")
    for uri in objects:
        session.add(
            SpaceReport(
                space_id=view.space.id,
                reporter_uri=reporter.uri,
                object_uri=uri,
                reason=reason if isinstance(reason, str) else None,
            )
        )
    await session.flush()
    return len(objects)
