"""Posting in spaces: a local space takes and Announces posts; local members join, open threads and reply."""

from __future__ import annotations

import json
import logging

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from federation.actors import ActorError, get_actor, resolve_handle
from federation.context import Federation
from federation.delivery import deliver_now, hold_for_caller
from federation.inbox import save_remote_object
from federation.outbox import (
    add_to_timelines,
    follow,
    follower_actors,
    iso,
    local_follower_ids,
    post_note,
    queue_deliveries,
    remote_inboxes,
    store_activity,
)
from federation.refusal import Refusal
from federation.richtext import Rendered, find_handles, render_post
from federation.spaces.access import is_private
from federation.spaces.documents import post_document
from federation.spaces.fetch import fetch_post
from federation.spaces.rules import check_may_join, check_may_post, is_banned
from federation.spaces.store import (
    SpaceView,
    ensure_remote_space,
    index_post,
    post_by_uri,
    remove_post,
    space_of_actor,
    thread_page_url,
)
from federation.vocabulary import AS, PUBLIC, as_list, id_of
from models import Activity, Actor, Follow, Object, utcnow
from models.actor import actors_by_uris
from models.content import object_by_uri
from models.delivery import DeliveryState
from models.space import Space, SpacePost

log = logging.getLogger(__name__)


async def store_local_post(
    session: AsyncSession,
    fed: Federation,
    author: Actor,
    space_actor: Actor,
    rendered: Rendered,
    text: str,
    title: str | None = None,
    parent: Object | None = None,
) -> tuple[Object, Activity]:
    """Stores a local author's thread or reply and its Create (not yet delivered)."""
    parent_author = (
        await session.get(Actor, parent.attributed_to_id) if parent and parent.attributed_to_id else None
    )
    object_id = fed.urls.new_object()
    members_only = is_private(await space_of_actor(session, space_actor))
    document = post_document(
        fed, author, space_actor, rendered, text, object_id, title, parent, parent_author, members_only
    )
    obj = Object(
        uri=object_id,
        type=document["type"],
        local=True,
        attributed_to_id=author.id,
        name=title,
        content=rendered.html,
        in_reply_to=parent.uri if parent else None,
        context=space_actor.uri,
        public=not members_only,
        published=utcnow(),
        document=document,
    )
    session.add(obj)
    await session.flush()
    if parent is None:  # Mastodon shows a Page as its name and a link: link to the readable thread page
        obj.document = {**document, "url": thread_page_url(fed, obj.id)}
    create = {
        "@context": AS,
        "id": fed.urls.new_activity(),
        "type": "Create",
        "actor": author.uri,
        "published": document["published"],
        "to": document["to"],
        "cc": document["cc"],
        "audience": space_actor.uri,
        "object": obj.document,
    }
    activity = await store_activity(session, author, create)
    return obj, activity


async def delivery_targets(session: AsyncSession, author: Actor, document: dict) -> tuple[set[str], set[int]]:
    """Remote inboxes (followers, mentioned and replied-to actors) and local owners of a post's timeline."""
    followers = await follower_actors(session, author.id)
    named = [
        uri for uri in as_list(document.get("cc")) if isinstance(uri, str) and uri != author.followers_url
    ]
    others = await actors_by_uris(session, named)
    return remote_inboxes([*followers, *others]), {a.id for a in [*followers, *others] if a.local}


async def announce(
    session: AsyncSession,
    fed: Federation,
    view: SpaceView,
    inner: dict,
    post_uri: str | None = None,
) -> list[Activity]:
    """Announce{inner activity} to every follower, plus Announce{post id} for Mastodon-style followers."""
    followers = await follower_actors(session, view.actor.id)
    inboxes = remote_inboxes(followers)
    to = [PUBLIC] if view.space.visibility == "public" else [view.actor.followers_url]
    made = []
    objects = [inner] + ([post_uri] if post_uri else [])
    for obj in objects:
        document = {
            "@context": AS,
            "id": fed.urls.new_activity(),
            "type": "Announce",
            "actor": view.actor.uri,
            "published": iso(utcnow()),
            "to": to,
            "cc": [view.actor.followers_url],
            "audience": view.actor.uri,
            "object": obj,
        }
        activity = await store_activity(session, view.actor, document)
        await queue_deliveries(session, activity, view.actor, inboxes)
        made.append(activity)
    return made


async def accept_post(
    session: AsyncSession,
    fed: Federation,
    view: SpaceView,
    activity: dict,
    obj: Object,
    author: Actor,
) -> SpacePost:
    """A local space takes a new thread or reply: checks, indexes, Announces, fills local timelines."""
    await check_may_post(session, view.space, author, obj.in_reply_to)
    post = await index_post(session, view.space, obj)
    if post is None:
        raise Refusal(400, f"cannot place {obj.uri} in the space")
    await announce(session, fed, view, activity, obj.uri)
    owners = await local_follower_ids(session, view.actor.id)
    await add_to_timelines(session, obj, view.actor, owners)
    return post


async def accept_change(
    session: AsyncSession,
    fed: Federation,
    view: SpaceView,
    activity: dict,
    author: Actor,
    post: SpacePost,
) -> None:
    """A local space relays an Update, Delete or Like of one of its posts."""
    if await is_banned(session, view.space, author.uri):
        raise Refusal(403, f"{author.uri} is banned from this space")
    if activity["type"] == "Delete":
        await remove_post(session, post)
    await announce(session, fed, view, activity)


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
        raise Refusal(400, f"{space_actor.uri} is not a group")
    async with fed.db.session() as session:
        space = await space_of_actor(session, space_actor)
        if space is not None and space.local:
            await check_may_join(session, space, member)
        elif space is None and not space_actor.local:
            await ensure_remote_space(session, await session.get(Actor, space_actor.id))
        relation, activity = await follow(
            session, fed, await session.get(Actor, member.id), await session.get(Actor, space_actor.id)
        )
        await hold_for_caller(session, activity)
        follow_id = relation.id
    for outcome in await deliver_now(fed, activity):
        if outcome.state == DeliveryState.failed:
            async with fed.db.session() as session:
                await session.execute(delete(Follow).where(Follow.id == follow_id))
            raise Refusal(403, f"the space refused: {outcome.error}")
    async with fed.db.session() as session:
        return (await session.get(Follow, follow_id)).state


async def space_of_parent(fed: Federation, parent_uri: str) -> tuple[Object, Actor | None]:
    """The object replied to (fetched when unknown) and the space it belongs to, if any."""
    async with fed.db.session() as session:
        parent = await object_by_uri(session, parent_uri)
    if parent is None:
        fetched = await fetch_post(fed, parent_uri)
        if fetched is None:
            raise Refusal(404, f"cannot find {parent_uri}")
        document, author_uri = fetched
        parent = await save_remote_object(fed, document, author_uri)
    if parent.deleted_at is not None:
        raise Refusal(410, f"{parent_uri} was deleted")
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
    fed: Federation,
    author: Actor,
    space_actor: Actor,
    text: str,
    title: str | None = None,
    parent: Object | None = None,
) -> Object:
    """Opens a thread or replies in a space. A remote space is asked first: if it refuses, nothing stays."""
    if not text.strip():
        raise Refusal(400, "nothing to post: the text is empty")
    if parent is None and not (title or "").strip():
        raise Refusal(400, "a thread needs a title")
    rendered = await render_with_mentions(fed, text)
    async with fed.db.session() as session:
        author = await session.get(Actor, author.id)
        space_actor = await session.get(Actor, space_actor.id)
        space = await space_of_actor(session, space_actor)
        if not space_actor.local:  # its readers, as its actor document says, decide the addressing
            space = await ensure_remote_space(session, space_actor)
        obj, activity = await store_local_post(
            session, fed, author, space_actor, rendered, text, title, parent
        )
        if space is not None and space.local:
            await accept_post(
                session, fed, SpaceView(space, space_actor), activity_payload(activity), obj, author
            )
            if not is_private(space):  # members-only posts reach members through the space alone
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
        raise Refusal(403, f"the space refused the post: {outcomes[0].error}")
    async with fed.db.session() as session:
        obj = await session.get(Object, obj.id)
        space = await ensure_remote_space(session, await session.get(Actor, space_actor.id))
        await index_post(session, space, obj)
        if not is_private(space):  # a members-only space's posts reach its members through it alone
            await _spread(
                session, await session.get(Actor, author.id), obj, activity, skip={space_actor.inbox}
            )
    fed.deliveries_queued.set()
    return obj


def activity_payload(activity: Activity) -> dict:
    return json.loads(activity.payload)


async def _spread(
    session, author: Actor, obj: Object, activity: Activity, skip: set[str] = frozenset()
) -> None:
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
        obj, _ = await post_note(
            session,
            fed,
            await session.get(Actor, author.id),
            text,
            [parent_author] if parent_author else [],
            in_reply_to=parent.uri,
        )
    fed.deliveries_queued.set()
    return obj
