"""Favourites (Like), boosts (Announce), their undoing, and answers to follow requests, sent by local actors.

A boost is also stored as an object of type Announce (`reblog_of_id` pointing at the boosted post), which is
how the Mastodon API shows it: a status of its own, with its own id, wrapping the original.
"""

from __future__ import annotations

import json

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.content import published_of
from federation.context import Federation
from federation.notifications import notify, withdraw
from federation.outbox import (
    add_to_timelines,
    follower_actors,
    iso,
    queue_deliveries,
    remote_inboxes,
    reply_to_follow,
    store_activity,
)
from federation.refusal import Refusal
from federation.vocabulary import AS, PUBLIC
from models import Activity, Actor, Follow, Object, TimelineEntry, utcnow
from models.content import activity_by_uri
from models.follow import follow_allows, follow_between, move_follow
from models.interaction import Favourite


async def count_like(session: AsyncSession, actor: Actor, object_id: int, activity_uri: str) -> bool:
    """Records one actor's like of a post once; whether it is new."""
    if await session.scalar(
        select(Favourite.id).where(Favourite.actor_id == actor.id, Favourite.object_id == object_id)
    ):
        return False
    session.add(Favourite(actor_id=actor.id, object_id=object_id, activity_uri=activity_uri))
    await session.flush()
    return True


async def uncount_like(session: AsyncSession, actor: Actor, object_id: int) -> None:
    await session.execute(
        delete(Favourite).where(Favourite.actor_id == actor.id, Favourite.object_id == object_id)
    )


async def _author(session: AsyncSession, obj: Object) -> Actor | None:
    return await session.get(Actor, obj.attributed_to_id) if obj.attributed_to_id else None


async def original_of(session: AsyncSession, obj: Object) -> Object | None:
    """The post itself: a boost (an Announce object) stands for the post it boosts."""
    return await session.get(Object, obj.reblog_of_id) if obj.reblog_of_id is not None else obj


async def favourite(session: AsyncSession, fed: Federation, actor: Actor, obj: Object) -> Activity | None:
    """Likes a post once (a boost's post, when given a boost); a remote author gets the Like."""
    obj = await original_of(session, obj)
    if obj is None or obj.deleted_at is not None:
        raise Refusal(404, "Record not found")
    if await session.scalar(
        select(Favourite.id).where(Favourite.actor_id == actor.id, Favourite.object_id == obj.id)
    ):
        return None
    author = await _author(session, obj)
    like = {
        "@context": AS,
        "id": fed.urls.new_activity(),
        "type": "Like",
        "actor": actor.uri,
        "object": obj.uri,
    }
    if author is not None:
        like["to"] = [author.uri]
    activity = await store_activity(session, actor, like)
    session.add(Favourite(actor_id=actor.id, object_id=obj.id, activity_uri=like["id"]))
    if author is not None and not author.local:
        await queue_deliveries(session, activity, actor, remote_inboxes([author]))
    elif author is not None:
        await notify(session, [author.id], "favourite", actor.id, obj.id)
    await session.flush()
    return activity


async def unfavourite(session: AsyncSession, fed: Federation, actor: Actor, obj: Object) -> Activity | None:
    obj = await original_of(session, obj)
    found = await session.scalar(
        select(Favourite).where(Favourite.actor_id == actor.id, Favourite.object_id == obj.id)
    )
    if found is None:
        return None
    author = await _author(session, obj)
    undo = {
        "@context": AS,
        "id": fed.urls.new_activity(),
        "type": "Undo",
        "actor": actor.uri,
        "object": {"id": found.activity_uri, "type": "Like", "actor": actor.uri, "object": obj.uri},
    }
    activity = await store_activity(session, actor, undo)
    await session.delete(found)
    if author is not None and not author.local:
        await queue_deliveries(session, activity, actor, remote_inboxes([author]))
    await withdraw(session, "favourite", actor.id, obj.id)
    await session.flush()
    return activity


async def boost_of(session: AsyncSession, actor_id: int, obj_id: int) -> Object | None:
    return await session.scalar(
        select(Object).where(
            Object.reblog_of_id == obj_id, Object.attributed_to_id == actor_id, Object.deleted_at.is_(None)
        )
    )


async def store_boost(
    session: AsyncSession, booster: Actor, obj: Object, document: dict, local: bool
) -> Object:
    """The Announce-typed object that shows a boost as a status of its own."""
    wrapper = Object(
        uri=document["id"],
        type="Announce",
        local=local,
        attributed_to_id=booster.id,
        reblog_of_id=obj.id,
        public=True,
        visibility="public",
        published=published_of(document),
        document={k: v for k, v in document.items() if k != "@context"},
    )
    session.add(wrapper)
    await session.flush()
    return wrapper


async def reblog(session: AsyncSession, fed: Federation, actor: Actor, obj: Object) -> Object:
    """Boosts a public post: an Announce to the booster's followers and the post's author."""
    obj = await original_of(session, obj)
    if obj is None or obj.deleted_at is not None:
        raise Refusal(404, "Record not found")
    if (obj.visibility or ("public" if obj.public else "private")) not in ("public", "unlisted"):
        raise Refusal(422, "Validation failed: This status cannot be boosted")
    existing = await boost_of(session, actor.id, obj.id)
    if existing is not None:
        return existing
    author = await _author(session, obj)
    announce = {
        "@context": AS,
        "id": fed.urls.new_activity(),
        "type": "Announce",
        "actor": actor.uri,
        "published": iso(utcnow()),
        "to": [PUBLIC],
        "cc": [actor.followers_url] + ([author.uri] if author is not None else []),
        "object": obj.uri,
    }
    activity = await store_activity(session, actor, announce)
    followers = await follower_actors(session, actor.id)
    await queue_deliveries(
        session, activity, actor, remote_inboxes([*followers, *([author] if author else [])])
    )
    wrapper = await store_boost(session, actor, obj, announce, local=True)
    owners = {f.id for f in followers if f.local}
    await add_to_timelines(session, obj, actor, owners, activity.id)
    await add_to_timelines(session, wrapper, actor, owners, activity.id)
    if author is not None and author.local:
        await notify(session, [author.id], "reblog", actor.id, obj.id)
    return wrapper


async def unreblog(session: AsyncSession, fed: Federation, actor: Actor, obj: Object) -> Object:
    """Undoes a boost; returns the boosted post."""
    obj = await original_of(session, obj)
    wrapper = await boost_of(session, actor.id, obj.id)
    if wrapper is None:
        return obj
    announce = await activity_by_uri(session, wrapper.uri)
    author = await _author(session, obj)
    undo = {
        "@context": AS,
        "id": fed.urls.new_activity(),
        "type": "Undo",
        "actor": actor.uri,
        "to": [PUBLIC],
        "cc": [actor.followers_url],
        "object": {
            k: v
            for k, v in (json.loads(announce.payload) if announce else wrapper.document).items()
            if k != "@context"
        },
    }
    activity = await store_activity(session, actor, undo)
    followers = await follower_actors(session, actor.id)
    await queue_deliveries(
        session, activity, actor, remote_inboxes([*followers, *([author] if author else [])])
    )
    if announce is not None:
        await session.execute(delete(TimelineEntry).where(TimelineEntry.activity_id == announce.id))
    await session.execute(delete(Object).where(Object.id == wrapper.id))
    await withdraw(session, "reblog", actor.id, obj.id)
    return obj


async def answer_follow_request(
    session: AsyncSession,
    fed: Federation,
    followee: Actor,
    follower: Actor,
    accept: bool,
) -> Follow | None:
    """Accepts or rejects a pending follow of a local actor that reviews its followers."""
    follow = await follow_between(session, follower.id, followee.id)
    event = "approve" if accept else "deny"
    if follow is None or not follow_allows(follow.state, event):
        return None
    move_follow(follow, event)
    if not follower.local:
        received = await activity_by_uri(session, follow.activity_uri)
        document = (
            json.loads(received.payload)
            if received
            else {"id": follow.activity_uri, "type": "Follow", "actor": follower.uri, "object": followee.uri}
        )
        await reply_to_follow(session, fed, followee, follower, document, accept)
    if accept:
        await notify(session, [followee.id], "follow", follower.id)
    await withdraw(session, "follow_request", follower.id)
    if not accept:
        await session.delete(follow)
    await session.flush()
    return follow


async def update_profile(
    session: AsyncSession, fed: Federation, actor: Actor, name: str | None, summary_html: str | None
) -> Activity | None:
    """Changes a local actor's name or summary and sends Update{actor} to its followers."""
    from federation.actors import actor_document

    if name is not None:
        actor.name = name
    if summary_html is not None:
        actor.summary = summary_html
    await session.flush()
    followers = await follower_actors(session, actor.id)
    inboxes = remote_inboxes(followers)
    if not inboxes:
        return None
    document = await actor_document(session, fed, actor)
    update = {
        "@context": AS,
        "id": fed.urls.new_activity(),
        "type": "Update",
        "actor": actor.uri,
        "to": [PUBLIC],
        "cc": [actor.followers_url],
        "object": {k: v for k, v in document.items() if k != "@context"},
    }
    activity = await store_activity(session, actor, update)
    await queue_deliveries(session, activity, actor, inboxes)
    return activity
