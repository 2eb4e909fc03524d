"""Local members and movements take part in spaces: join, open threads, reply (shared by CLI and pages)."""
from __future__ import annotations

import json
import logging

from sqlalchemy import delete, select

from federation.actors import ActorError, get_actor, resolve_handle
from federation.context import Federation
from federation.delivery import deliver_now, hold_for_caller
from federation.inbox import save_remote_object
from federation.outbox import add_to_timelines, follow, post_note, queue_deliveries
from federation.richtext import find_handles, render_post
from federation.spaces import (
    SpaceError, SpaceView, accept_post, check_may_join, ensure_remote_space, fetch_post, index_post,
    post_by_uri, space_of_actor, store_local_post, delivery_targets,
)
from federation.vocabulary import id_of
from models import Activity, Actor, Follow, Object
from models.delivery import DeliveryState
from models.space import Space

log = logging.getLogger(__name__)


async def render_with_mentions(fed: Federation, text: str):
    """Markdown to HTML with Mention/Hashtag tags; handles that do not resolve stay plain text."""
    actors = {}
    for handle in find_handles(text)[:20]:
        try:
            actor = await resolve_handle(fed, handle)
        except (ActorError, Exception) as error:  # noqa: BLE001 -- an unknown name is not an error
            log.info("mention %s not resolved: %s", handle, error)
            continue
        actors[handle] = (actor.uri, actor.url or actor.uri)
    return render_post(text, fed.urls.base, actors)


async def join_space(fed: Federation, member: Actor, space_actor: Actor) -> str:
    """Follows a space; a remote space's answer is awaited. Returns the follow's state."""
    if space_actor.type != "Group":
        raise SpaceError(400, f"{space_actor.uri} is not a group")
    async with fed.db.session() as session:
        space = await space_of_actor(session, space_actor)
        if space is not None and space.local:
            await check_may_join(session, space, member)
        elif space is None and not space_actor.local:
            await ensure_remote_space(session, await session.get(Actor, space_actor.id))
        relation, activity = await follow(session, fed, await session.get(Actor, member.id),
                                          await session.get(Actor, space_actor.id))
        await hold_for_caller(session, activity)
        follow_id = relation.id
    for outcome in await deliver_now(fed, activity):
        if outcome.state == DeliveryState.failed:
            async with fed.db.session() as session:
                await session.execute(delete(Follow).where(Follow.id == follow_id))
            raise SpaceError(403, f"the space refused: {outcome.error}")
    async with fed.db.session() as session:
        return (await session.get(Follow, follow_id)).state


async def space_of_parent(fed: Federation, parent_uri: str) -> tuple[Object, Actor | None]:
    """The object replied to (fetched when unknown) and the space it belongs to, if any."""
    async with fed.db.session() as session:
        parent = await session.scalar(select(Object).where(Object.uri == parent_uri))
    if parent is None:
        fetched = await fetch_post(fed, parent_uri)
        if fetched is None:
            raise SpaceError(404, f"cannot find {parent_uri}")
        document, author_uri = fetched
        parent = await save_remote_object(fed, document, author_uri)
    if parent.deleted_at is not None:
        raise SpaceError(410, f"{parent_uri} was deleted")
    async with fed.db.session() as session:
        post = await post_by_uri(session, parent.uri)
        if post is not None:
            space = await session.get(Space, post.space_id)
            return parent, await session.get(Actor, space.actor_id)
    audience = id_of((parent.document or {}).get("audience"))
    if not audience:
        return parent, None
    try:
        space_actor = await get_actor(fed, audience)
    except ActorError:
        return parent, None
    return parent, space_actor if space_actor.type == "Group" else None


async def publish(
    fed: Federation, author: Actor, space_actor: Actor, text: str, title: str | None = None,
    parent: Object | None = None,
) -> Object:
    """Opens a thread or replies in a space. A remote space is asked first: if it refuses, nothing stays."""
    if not text.strip():
        raise SpaceError(400, "nothing to post: the text is empty")
    if parent is None and not (title or "").strip():
        raise SpaceError(400, "a thread needs a title")
    rendered = await render_with_mentions(fed, text)
    async with fed.db.session() as session:
        author = await session.get(Actor, author.id)
        space_actor = await session.get(Actor, space_actor.id)
        space = await space_of_actor(session, space_actor)
        obj, activity = await store_local_post(session, fed, author, space_actor, rendered, text, title, parent)
        if space is not None and space.local:
            await accept_post(session, fed, SpaceView(space, space_actor), activity_payload(activity), obj, author)
            await _spread(session, author, obj, activity)
            fed.deliveries_queued.set()
            return obj
        await queue_deliveries(session, activity, author, [space_actor.inbox])
        await hold_for_caller(session, activity)
    outcomes = await deliver_now(fed, activity, space_actor.inbox)
    if any(o.state == DeliveryState.failed for o in outcomes):
        async with fed.db.session() as session:
            await session.execute(delete(Activity).where(Activity.id == activity.id))
            await session.execute(delete(Object).where(Object.id == obj.id))
        raise SpaceError(403, f"the space refused the post: {outcomes[0].error}")
    async with fed.db.session() as session:
        obj = await session.get(Object, obj.id)
        space = await ensure_remote_space(session, await session.get(Actor, space_actor.id))
        await index_post(session, space, obj)
        await _spread(session, await session.get(Actor, author.id), obj, activity, skip={space_actor.inbox})
    fed.deliveries_queued.set()
    return obj


def activity_payload(activity: Activity) -> dict:
    return json.loads(activity.payload)


async def _spread(session, author: Actor, obj: Object, activity: Activity, skip: set[str] = frozenset()) -> None:
    """The Create also goes to the author's followers and the actors it names."""
    inboxes, local_owners = await delivery_targets(session, author, obj.document)
    await queue_deliveries(session, activity, author, inboxes - set(skip))
    await add_to_timelines(session, obj, author, local_owners, activity.id)


async def reply(fed: Federation, author: Actor, parent_uri: str, text: str) -> Object:
    """A reply to any post: inside its space when it belongs to one, else a plain Note to its author."""
    parent, space_actor = await space_of_parent(fed, parent_uri)
    if space_actor is not None:
        return await publish(fed, author, space_actor, text, parent=parent)
    async with fed.db.session() as session:
        parent_author = await session.get(Actor, parent.attributed_to_id) if parent.attributed_to_id else None
        obj, _ = await post_note(session, fed, await session.get(Actor, author.id), text,
                                 [parent_author] if parent_author else [], in_reply_to=parent.uri)
    fed.deliveries_queued.set()
    return obj
