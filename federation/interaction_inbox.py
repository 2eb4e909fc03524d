"""Inbox hooks for what the Mastodon API shows: visibility and hashtags of received posts, remote favourites
and boosts, and the notifications they bring to local accounts (routed by federation/routing.py)."""

from __future__ import annotations

from sqlalchemy import delete, select

from federation.hashtags import index_hashtags
from federation.inbox import Incoming
from federation.interactions import boost_of, store_boost
from federation.notifications import notify, notify_followers, notify_mentions, withdraw
from federation.outbox import add_to_timelines
from federation.vocabulary import as_list, host_of, id_of, linked_objects
from models import Actor, Follow, FollowState, Object, TimelineEntry
from models.actor import local_actor_by_uri
from models.content import object_by_uri
from models.interaction import Favourite, Notification


async def _object(incoming: Incoming, uri: str | None) -> Object | None:
    if not uri:
        return None
    return await object_by_uri(incoming.session, uri)


# Plain posts stored in bulk (federation/inbox_batch.py) index their hashtags there, and name no local actor.
async def received_post(incoming: Incoming) -> None:
    obj = await _object(incoming, incoming.object_id)
    if obj is None or obj.local or obj.attributed_to_id != incoming.actor.id:
        return
    await index_hashtags(incoming.session, obj)
    mentioned = [
        id_of(t.get("href"))
        for t in as_list((obj.document or {}).get("tag"))
        if isinstance(t, dict) and t.get("type") == "Mention"
    ]
    await notify_mentions(incoming.session, incoming.actor.id, obj.id, mentioned)
    if _is_notice(obj.document or {}, incoming.actor):
        await notify_followers(incoming.session, incoming.actor.id, obj.id)


def _is_notice(document: dict, actor: Actor) -> bool:
    """A movement pointing its followers at one of its own objects (a proposal, a signed agreement)."""
    host = host_of(actor.uri)
    return actor.type == "Group" and any(host_of(link) == host for link in linked_objects(document))


async def received_like(incoming: Incoming) -> None:
    obj = await _object(incoming, incoming.object_id)
    if obj is None or obj.deleted_at is not None:
        return
    session, actor = incoming.session, incoming.actor
    if await session.scalar(
        select(Favourite.id).where(Favourite.actor_id == actor.id, Favourite.object_id == obj.id)
    ):
        return
    session.add(Favourite(actor_id=actor.id, object_id=obj.id, activity_uri=incoming.document["id"]))
    if obj.attributed_to_id is not None:  # notify keeps local authors only
        await notify(session, [obj.attributed_to_id], "favourite", actor.id, obj.id)


async def received_boost(incoming: Incoming) -> None:
    inner = incoming.object
    if isinstance(inner, dict) and "actor" in inner:
        if inner.get("type") != "Create" or not isinstance(inner.get("object"), dict):
            return  # a relayed Like, Delete, Update or Undo
        boosted_uri = id_of(inner["object"])
    else:
        boosted_uri = incoming.object_id
    obj = await _object(incoming, boosted_uri)
    if obj is None or obj.deleted_at is not None or obj.reblog_of_id is not None:
        return
    session, actor = incoming.session, incoming.actor
    wrapper = await boost_of(session, actor.id, obj.id)
    if wrapper is None:
        wrapper = await store_boost(session, actor, obj, incoming.document, local=False)
    owners = set(
        (
            await session.scalars(
                select(TimelineEntry.owner_id).where(TimelineEntry.activity_id == incoming.activity.id)
            )
        ).all()
    )
    await add_to_timelines(session, wrapper, actor, owners, incoming.activity.id)
    if obj.attributed_to_id is not None:  # notify keeps local authors only
        await notify(session, [obj.attributed_to_id], "reblog", actor.id, obj.id)


async def received_undo(incoming: Incoming) -> None:
    session, actor, inner = incoming.session, incoming.actor, incoming.object
    undone_type = inner.get("type") if isinstance(inner, dict) else None
    favourite = await session.scalar(
        select(Favourite).where(Favourite.activity_uri == incoming.object_id, Favourite.actor_id == actor.id)
    )
    if favourite is None and undone_type == "Like" and isinstance(inner, dict):
        target = await _object(incoming, id_of(inner.get("object")))
        if target is not None:
            favourite = await session.scalar(
                select(Favourite).where(Favourite.actor_id == actor.id, Favourite.object_id == target.id)
            )
    if favourite is not None:
        await withdraw(session, "favourite", actor.id, favourite.object_id)
        await session.delete(favourite)
        return
    wrapper = await session.scalar(
        select(Object).where(
            Object.uri == incoming.object_id,
            Object.attributed_to_id == actor.id,
            Object.reblog_of_id.is_not(None),
        )
    )
    if wrapper is not None:
        await withdraw(session, "reblog", actor.id, wrapper.reblog_of_id)
        await session.execute(delete(TimelineEntry).where(TimelineEntry.object_id == wrapper.id))
        await session.execute(delete(Object).where(Object.id == wrapper.id))
    elif undone_type == "Follow" or (isinstance(inner, dict) and inner.get("type") == "Follow"):
        await withdraw(session, "follow_request", actor.id)


async def received_follow(incoming: Incoming) -> None:
    session, actor = incoming.session, incoming.actor
    target = await local_actor_by_uri(session, incoming.object_id)
    if target is None:
        return
    state = await session.scalar(
        select(Follow.state).where(Follow.follower_id == actor.id, Follow.followee_id == target.id)
    )
    kind = "follow" if state == FollowState.accepted.value else "follow_request"
    await notify(session, [target.id], kind, actor.id)


async def received_delete(incoming: Incoming) -> None:
    obj = await _object(incoming, incoming.object_id)
    if obj is not None and obj.deleted_at is not None:
        await incoming.session.execute(delete(Notification).where(Notification.object_id == obj.id))
