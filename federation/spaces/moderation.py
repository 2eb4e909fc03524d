"""Moderation by the space itself (Delete, Lock, Block, their Undo; Add/Remove of pinned threads and
moderators), as followers apply it; the moderation log; reports."""

from __future__ import annotations

import json

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.context import Federation
from federation.outbox import (
    follower_actors,
    queue_deliveries,
    remote_inboxes,
    store_activity,
)
from federation.refusal import Refusal
from federation.spaces.access import is_private
from federation.spaces.rules import is_banned
from federation.spaces.store import SpaceView, post_by_uri, remove_post, space_of_actor, thread_row
from federation.vocabulary import AS, PUBLIC, as_list, id_of
from models import Activity, Actor, Follow, Object, utcnow
from models.space import ModerationEntry, Space, SpaceBan, SpaceModerator, SpacePost, SpaceReport


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


async def log_moderation(
    session: AsyncSession,
    space: Space,
    moderator: Actor | None,
    action: str,
    target_uri: str,
    reason: str | None,
) -> None:
    """A line of the space's public moderation log."""
    session.add(
        ModerationEntry(
            space_id=space.id,
            moderator_id=moderator.id if moderator is not None else None,
            action=action,
            target_uri=target_uri,
            reason=reason,
            created_at=utcnow(),
        )
    )
    await session.flush()


async def moderate_remove(
    session: AsyncSession,
    fed: Federation,
    view: SpaceView,
    post: SpacePost,
    reason: str | None = None,
    moderator: Actor | None = None,
) -> Activity:
    """Removes a post from the space and tells followers (and the author) with a Delete by the space."""
    obj = await session.get(Object, post.object_id)
    author = await session.get(Actor, obj.attributed_to_id) if obj.attributed_to_id else None
    await remove_post(session, post)
    await log_moderation(session, view.space, moderator, "remove", obj.uri, reason)
    extra = [author.delivery_inbox] if author is not None and not author.local else []
    return await _moderation_activity(session, fed, view, "Delete", obj.uri, reason, extra)


async def moderate_lock(
    session: AsyncSession,
    fed: Federation,
    view: SpaceView,
    post: SpacePost,
    reason: str | None = None,
    moderator: Actor | None = None,
) -> Activity:
    thread = await thread_row(session, post)
    thread.locked = True
    obj = await session.get(Object, thread.object_id)
    await log_moderation(session, view.space, moderator, "lock", obj.uri, reason)
    return await _moderation_activity(session, fed, view, "Lock", obj.uri, reason)


async def moderate_ban(
    session: AsyncSession,
    fed: Federation,
    view: SpaceView,
    target: Actor,
    reason: str | None = None,
    moderator: Actor | None = None,
) -> Activity:
    """Bans an actor: its follow ends, its posts are refused, and a Block by the space tells everyone."""
    if moderator is not None and moderator.id == target.id:
        raise Refusal(400, "you cannot ban yourself")
    await log_moderation(session, view.space, moderator, "ban", target.uri, reason)
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
    session: AsyncSession,
    fed: Federation,
    view: SpaceView,
    post: SpacePost,
    reason: str | None = None,
    moderator: Actor | None = None,
) -> Activity:
    """Opens a locked thread again (Undo{Lock})."""
    thread = await thread_row(session, post)
    thread.locked = False
    obj = await session.get(Object, thread.object_id)
    await log_moderation(session, view.space, moderator, "unlock", obj.uri, reason)
    return await _undo_moderation(session, fed, view, "Lock", obj.uri, reason)


async def moderate_unban(
    session: AsyncSession,
    fed: Federation,
    view: SpaceView,
    target: Actor,
    reason: str | None = None,
    moderator: Actor | None = None,
) -> Activity:
    """Lifts a ban (Undo{Block}); the actor may join and post again."""
    await log_moderation(session, view.space, moderator, "unban", target.uri, reason)
    await session.execute(
        delete(SpaceBan).where(SpaceBan.space_id == view.space.id, SpaceBan.actor_uri == target.uri)
    )
    extra = [target.delivery_inbox] if not target.local else []
    return await _undo_moderation(session, fed, view, "Block", target.uri, reason, extra)


async def moderate_pin(
    session: AsyncSession,
    fed: Federation,
    view: SpaceView,
    post: SpacePost,
    reason: str | None = None,
    moderator: Actor | None = None,
    pinned: bool = True,
) -> Activity:
    """Pins (or unpins) a thread: it shows first, and Add (Remove) on the space's `featured` collection
    tells followers, as Lemmy does."""
    thread = await thread_row(session, post)
    thread.pinned = pinned
    obj = await session.get(Object, thread.object_id)
    await log_moderation(session, view.space, moderator, "pin" if pinned else "unpin", obj.uri, reason)
    return await _moderation_activity(
        session, fed, view, "Add" if pinned else "Remove", obj.uri, reason, target=featured_url(view.actor)
    )


async def moderate_unpin(
    session: AsyncSession,
    fed: Federation,
    view: SpaceView,
    post: SpacePost,
    reason: str | None = None,
    moderator: Actor | None = None,
) -> Activity:
    return await moderate_pin(session, fed, view, post, reason, moderator, pinned=False)


async def change_moderators(
    session: AsyncSession,
    fed: Federation,
    view: SpaceView,
    target: Actor,
    add: bool,
    moderator: Actor | None = None,
    reason: str | None = None,
) -> Activity | None:
    """Adds or removes a moderator of the space: Add (Remove) on its moderators collection, as Lemmy does.
    None when nothing changes."""
    row = await session.scalar(
        select(SpaceModerator).where(
            SpaceModerator.space_id == view.space.id, SpaceModerator.actor_id == target.id
        )
    )
    if add == (row is not None):
        return None
    if add:
        if await is_banned(session, view.space, target.uri):
            raise Refusal(400, f"{target.uri} is banned from this space")
        session.add(SpaceModerator(space_id=view.space.id, actor_id=target.id))
    else:
        remaining = await session.scalar(
            select(func.count()).select_from(SpaceModerator).where(SpaceModerator.space_id == view.space.id)
        )
        if remaining <= 1:
            raise Refusal(400, "a space keeps at least one moderator")
        await session.delete(row)
    await session.flush()
    action = "add-moderator" if add else "remove-moderator"
    await log_moderation(session, view.space, moderator, action, target.uri, reason)
    extra = [target.delivery_inbox] if not target.local else []
    return await _moderation_activity(
        session,
        fed,
        view,
        "Add" if add else "Remove",
        target.uri,
        reason,
        extra,
        target=moderators_url(view.actor),
    )


def featured_url(space_actor: Actor) -> str:
    document = space_actor.document if isinstance(space_actor.document, dict) else {}
    return id_of(document.get("featured")) or f"{space_actor.uri}/featured"


def moderators_url(space_actor: Actor) -> str:
    document = space_actor.document if isinstance(space_actor.document, dict) else {}
    return id_of(document.get("moderators")) or f"{space_actor.uri}/moderators"


async def apply_collection_change(
    session: AsyncSession, space_actor: Actor, document: dict, target_actor: Actor | None
) -> bool:
    """Applies Add/Remove by a remote space we follow: a pinned thread (`featured`) or a moderator."""
    space = await space_of_actor(session, space_actor)
    if space is None or space.local:
        return False
    add, collection = document["type"] == "Add", id_of(document.get("target"))
    target = id_of(document.get("object")) or ""
    reason = document.get("summary") if isinstance(document.get("summary"), str) else None
    if collection == featured_url(space_actor):
        post = await post_by_uri(session, target)
        if post is not None and post.space_id == space.id and post.is_thread:
            post.pinned = add
            await log_moderation(session, space, None, "pin" if add else "unpin", target, reason)
        return True
    if collection == moderators_url(space_actor) and target_actor is not None:
        row = await session.scalar(
            select(SpaceModerator).where(
                SpaceModerator.space_id == space.id, SpaceModerator.actor_id == target_actor.id
            )
        )
        if add and row is None:
            session.add(SpaceModerator(space_id=space.id, actor_id=target_actor.id))
        elif not add and row is not None:
            await session.delete(row)
        await log_moderation(
            session, space, None, "add-moderator" if add else "remove-moderator", target, reason
        )
        return True
    return False


async def apply_remote_moderation(
    session: AsyncSession, space_actor: Actor, document: dict, vouched: bool = False
) -> bool:
    """Applies a Delete, Lock or Block (or an Undo of a Lock or Block) sent by a remote space we know, or
    by one of its moderators and Announced by the space (`vouched`, Lemmy's shape); False when it is not
    one."""
    space = await space_of_actor(session, space_actor)
    if space is None or space.local:
        return False
    kind, target = document["type"], id_of(document.get("object"))
    if kind == "Undo":
        return await _apply_remote_undo(session, space, space_actor, document.get("object"), vouched)
    reason = document.get("summary") if isinstance(document.get("summary"), str) else None
    if kind == "Block":
        if target and not await is_banned(session, space, target):
            session.add(SpaceBan(space_id=space.id, actor_uri=target, reason=reason))
            await log_moderation(session, space, None, "ban", target, reason)
            await session.execute(  # the space ended the follow of a banned member of ours
                delete(Follow).where(
                    Follow.followee_id == space_actor.id,
                    Follow.follower_id.in_(
                        select(Actor.id).where(Actor.uri == target, Actor.local.is_(True))
                    ),
                )
            )
        return True
    post = await post_by_uri(session, target or "")
    if post is None or post.space_id != space.id:
        return True  # not (or no longer) in our index: nothing to undo
    if kind == "Delete":
        await remove_post(session, post)
        await log_moderation(session, space, None, "remove", target, reason)
    elif kind == "Lock":
        (await thread_row(session, post)).locked = True
        await log_moderation(session, space, None, "lock", target, reason)
    return True


async def _apply_remote_undo(
    session: AsyncSession, space: Space, space_actor: Actor, undone, vouched: bool = False
) -> bool:
    if not isinstance(undone, dict) or (not vouched and id_of(undone.get("actor")) != space_actor.uri):
        return False  # only the space's own moderation (or what it Announces) is undone here
    kind, target = undone.get("type"), id_of(undone.get("object"))
    if kind == "Block" and target:
        await session.execute(
            delete(SpaceBan).where(SpaceBan.space_id == space.id, SpaceBan.actor_uri == target)
        )
        await log_moderation(session, space, None, "unban", target, None)
    elif kind == "Lock" and target:
        post = await post_by_uri(session, target)
        if post is not None and post.space_id == space.id:
            (await thread_row(session, post)).locked = False
            await log_moderation(session, space, None, "unlock", target, None)
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


async def resolve_report(session: AsyncSession, view: SpaceView, report_id: int, moderator: Actor) -> bool:
    """Marks an open report of the space resolved (logged); False when there is no such open report."""
    report = await session.get(SpaceReport, report_id)
    if report is None or report.space_id != view.space.id or report.resolved:
        return False
    report.resolved, report.resolved_by_id, report.resolved_at = True, moderator.id, utcnow()
    await session.flush()
    return True
