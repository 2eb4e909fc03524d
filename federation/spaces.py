"""Forum spaces (FEP-1b12 groups): creating them, the rules a post must pass, the thread index, and Announce.

Shapes (see docs/spaces.md): threads are `Page`s with a `name`, replies `Note`s with `inReplyTo`; both carry
`audience` (and `to`) naming the space. The space Announces every accepted Create/Update/Delete/Like as
received, and also Announces a new post's id for followers that are plain Mastodon-style accounts.
Moderation is done by the space itself: `Delete` (removal), `Lock` (thread) and `Block` (ban), and `Undo` of
the last two.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from federation.refusal import Refusal
from federation.actors import ActorError, actor_document, create_local_actor, get_actor
from federation.content import markdown_to_html
from federation.context import Federation
from federation.outbox import (
    add_to_timelines, follower_actors, iso, local_follower_ids, queue_deliveries, remote_inboxes, store_activity,
)
from federation.richtext import Rendered
from federation.vocabulary import AS, PUBLIC, as_list, host_of, id_of
from models import Activity, Actor, Follow, Object, TimelineEntry, utcnow
from models.base import insert_unless_present
from models.space import Space, SpaceBan, SpaceModerator, SpaceMovement, SpacePost, SpaceReport

log = logging.getLogger(__name__)

POST_TYPES = frozenset({"Page", "Note", "Article", "Question"})
ANCESTOR_LIMIT = 8


class SpaceError(Refusal):
    """A post, join or moderation the space refuses; `status` is the HTTP answer for a remote sender."""


def space_uri(fed: Federation, slug: str) -> str:
    return f"{fed.urls.base}/spaces/{slug}"


def thread_page_url(fed: Federation, object_db_id: int) -> str:
    return f"{fed.urls.base}/threads/{object_db_id}"


# ---------------------------------------------------------------- spaces


@dataclass
class SpaceView:
    """A space with its actor, as most callers need both."""

    space: Space
    actor: Actor


async def create_space(
    session: AsyncSession, fed: Federation, slug: str, name: str, owner: Actor, description: str | None = None,
    rules: str | None = None, members_only: list[Actor] = (), moderators: list[Actor] = (),
) -> SpaceView:
    """A new local space owned by a local movement; the movement's admins moderate it."""
    if not owner.local or owner.type != "Group" or owner.movement_id is not None:
        raise SpaceError(400, f"{owner.username} is not a local movement")
    actor = await create_local_actor(session, fed, slug, "Group", name=name,
                                     summary=markdown_to_html(description) if description else None,
                                     uri=space_uri(fed, slug))
    space = Space(actor_id=actor.id, local=True, owner_id=owner.id, rules=rules,
                  visibility="members" if members_only else "public")
    session.add(space)
    await session.flush()
    for movement_uri in {owner.uri, *(m.uri for m in members_only)} if members_only else ():
        session.add(SpaceMovement(space_id=space.id, movement_uri=movement_uri))
    admins = (await session.scalars(select(Actor).where(Actor.movement_id == owner.id, Actor.role == "admin"))).all()
    for moderator_id in {a.id for a in admins} | {m.id for m in moderators}:
        session.add(SpaceModerator(space_id=space.id, actor_id=moderator_id))
    await session.flush()
    return SpaceView(space, actor)


async def space_of_actor(session: AsyncSession, actor: Actor) -> Space | None:
    return await session.scalar(select(Space).where(Space.actor_id == actor.id))


async def ensure_remote_space(session: AsyncSession, actor: Actor) -> Space:
    """The index row of a remote space this instance hears from (created on first contact)."""
    space = await space_of_actor(session, actor)
    if space is None:
        space = Space(actor_id=actor.id, local=False, visibility="public")
        session.add(space)
        await session.flush()
    return space


async def local_space_by_slug(session: AsyncSession, slug: str) -> SpaceView | None:
    row = (await session.execute(
        select(Space, Actor).join(Actor, Actor.id == Space.actor_id)
        .where(Space.local.is_(True), Actor.username == slug))).first()
    return SpaceView(*row) if row else None


async def moderator_uris(session: AsyncSession, space: Space) -> list[str]:
    return list((await session.scalars(
        select(Actor.uri).join(SpaceModerator, SpaceModerator.actor_id == Actor.id)
        .where(SpaceModerator.space_id == space.id).order_by(Actor.uri))).all())


async def is_moderator(session: AsyncSession, space: Space, actor: Actor) -> bool:
    return bool(await session.scalar(select(SpaceModerator.id).where(
        SpaceModerator.space_id == space.id, SpaceModerator.actor_id == actor.id)))


async def may_moderate(session: AsyncSession, space: Space, actor: Actor) -> bool:
    """Listed moderators, and admins of the owning movement."""
    if await is_moderator(session, space, actor):
        return True
    return actor.movement_id is not None and actor.movement_id == space.owner_id and actor.role == "admin"


async def allowed_movements(session: AsyncSession, space: Space) -> list[str]:
    return list((await session.scalars(
        select(SpaceMovement.movement_uri).where(SpaceMovement.space_id == space.id)
        .order_by(SpaceMovement.movement_uri))).all())


async def space_document(session: AsyncSession, fed: Federation, view: SpaceView) -> dict:
    """The Group actor of a local space, with FEP-1b12's moderators collection as attributedTo."""
    document = await actor_document(session, fed, view.actor)
    uri = view.actor.uri
    rules = markdown_to_html(view.space.rules) if view.space.rules else ""
    owner = await session.get(Actor, view.space.owner_id) if view.space.owner_id else None
    document.update({
        "attributedTo": f"{uri}/moderators",
        "moderators": f"{uri}/moderators",
        "replies": f"{uri}/threads",
        "postingRestrictedToMods": False,
        "summary": (view.actor.summary or "") + (f"<h3>Rules</h3>{rules}" if rules else ""),
        "source": {"content": view.space.rules or "", "mediaType": "text/markdown"},
    })
    if owner is not None:
        document["generator"] = {"type": "Group", "id": owner.uri, "name": owner.name or owner.username}
    return document


# ---------------------------------------------------------------- rules


async def is_banned(session: AsyncSession, space: Space, actor_uri: str) -> bool:
    return bool(await session.scalar(select(SpaceBan.id).where(
        SpaceBan.space_id == space.id, SpaceBan.actor_uri == actor_uri)))


def claimed_movement(actor: Actor) -> str | None:
    """The movement a remote member says it belongs to; only believed when it lives on the same host."""
    claimed = id_of((actor.document or {}).get("attributedTo"))
    return claimed if claimed and host_of(claimed) == host_of(actor.uri) else None


async def is_member(session: AsyncSession, space: Space, actor: Actor) -> bool:
    """Whether an actor may take part: anyone in a public space, else members of the named movements."""
    if space.visibility == "public":
        return True
    if await is_moderator(session, space, actor):
        return True
    allowed = set(await allowed_movements(session, space))
    if actor.uri in allowed:
        return True
    if actor.local and actor.movement_id is not None:
        movement = await session.get(Actor, actor.movement_id)
        return movement is not None and movement.uri in allowed
    return claimed_movement(actor) in allowed


async def check_may_join(session: AsyncSession, space: Space, actor: Actor) -> None:
    if await is_banned(session, space, actor.uri):
        raise SpaceError(403, f"{actor.uri} is banned from this space")
    if not await is_member(session, space, actor):
        raise SpaceError(403, "this space is open to members of its movements only")


async def check_may_post(session: AsyncSession, space: Space, author: Actor, parent_uri: str | None) -> None:
    """Refuses banned or non-member authors, and replies in locked or removed threads."""
    await check_may_join(session, space, author)
    if parent_uri is None:
        return
    parent = await post_by_uri(session, parent_uri)
    if parent is None or parent.space_id != space.id:
        raise SpaceError(400, f"{parent_uri} is not a post of this space")
    thread = await thread_row(session, parent)
    if thread.locked:
        raise SpaceError(403, "this thread is locked")
    if thread.removed_at is not None or parent.removed_at is not None:
        raise SpaceError(403, "this thread was removed")


# ---------------------------------------------------------------- the thread index


async def post_by_uri(session: AsyncSession, uri: str) -> SpacePost | None:
    return await session.scalar(select(SpacePost).join(Object, Object.id == SpacePost.object_id).where(Object.uri == uri))


async def thread_row(session: AsyncSession, post: SpacePost) -> SpacePost:
    if post.is_thread:
        return post
    return await session.scalar(select(SpacePost).where(SpacePost.object_id == post.thread_id))


async def index_post(session: AsyncSession, space: Space, obj: Object) -> SpacePost | None:
    """Records a thread (no inReplyTo) or a reply (under a known parent) of the space, once.

    The same post can arrive twice at once (our own reply coming back in the space's Announce while
    the author's request still runs): the insert skips a row another writer just added."""
    existing = await session.scalar(select(SpacePost).where(SpacePost.object_id == obj.id))
    if existing is not None:
        return existing
    values = dict(space_id=space.id, object_id=obj.id, author_id=obj.attributed_to_id, created_at=utcnow(),
                  last_activity_at=obj.published)
    parent = None
    if obj.in_reply_to is None:
        values.update(thread_id=obj.id, is_thread=True)
    else:
        parent = await post_by_uri(session, obj.in_reply_to)
        if parent is None or parent.space_id != space.id:
            log.info("cannot place %s: its parent %s is not in the space", obj.uri, obj.in_reply_to)
            return None
        values.update(thread_id=parent.thread_id, parent_id=parent.object_id, is_thread=False)
    new_id = await insert_unless_present(session, SpacePost, "object_id", values)
    if new_id is not None and parent is not None:
        await session.execute(
            update(SpacePost).where(SpacePost.object_id == parent.thread_id)
            .values(reply_count=SpacePost.reply_count + 1,
                    last_activity_at=func.max(SpacePost.last_activity_at, obj.published)
                    if session.bind.dialect.name == "sqlite" else func.greatest(SpacePost.last_activity_at, obj.published))
        )
    return await session.scalar(select(SpacePost).where(SpacePost.object_id == obj.id))


async def remove_post(session: AsyncSession, post: SpacePost) -> None:
    """Hides a post from its space (a reply also stops counting in its thread)."""
    if post.removed_at is not None:
        return
    post.removed_at = utcnow()
    if not post.is_thread:
        await session.execute(update(SpacePost).where(SpacePost.object_id == post.thread_id)
                              .values(reply_count=SpacePost.reply_count - 1))
    await session.execute(delete(TimelineEntry).where(TimelineEntry.object_id == post.object_id))
    await session.flush()


# ---------------------------------------------------------------- posting


def post_document(
    fed: Federation, author: Actor, space_actor: Actor, rendered: Rendered, text: str, object_id: str,
    title: str | None = None, parent: Object | None = None, parent_author: Actor | None = None,
) -> dict:
    """A thread (`Page` with a name) or a reply (`Note` with inReplyTo), addressed as FEP-1b12 asks."""
    now = iso(utcnow())
    cc = [author.followers_url, *rendered.mentioned]
    tags = list(rendered.tags)
    if parent_author is not None and parent_author.uri != author.uri:
        cc.append(parent_author.uri)
        if not any(t.get("href") == parent_author.uri for t in tags):
            tags.append({"type": "Mention", "href": parent_author.uri,
                         "name": f"@{parent_author.username}@{parent_author.host}"})
    document = {
        "id": object_id, "type": "Page" if parent is None else "Note", "attributedTo": author.uri,
        "content": rendered.html, "mediaType": "text/html",
        "source": {"content": text, "mediaType": "text/markdown"},
        "published": now, "to": [space_actor.uri, PUBLIC], "cc": list(dict.fromkeys(cc)),
        "audience": space_actor.uri, "tag": tags, "url": object_id, "replies": f"{object_id}/replies",
        "sensitive": False,
    }
    if parent is None:
        document["name"] = title
        document["commentsEnabled"] = True
    else:
        document["inReplyTo"] = parent.uri
    return document


async def store_local_post(
    session: AsyncSession, fed: Federation, author: Actor, space_actor: Actor, rendered: Rendered, text: str,
    title: str | None = None, parent: Object | None = None,
) -> tuple[Object, Activity]:
    """Stores a local author's thread or reply and its Create (not yet delivered)."""
    parent_author = await session.get(Actor, parent.attributed_to_id) if parent and parent.attributed_to_id else None
    object_id = fed.urls.new_object()
    document = post_document(fed, author, space_actor, rendered, text, object_id, title, parent, parent_author)
    obj = Object(uri=object_id, type=document["type"], local=True, attributed_to_id=author.id, name=title,
                 content=rendered.html, in_reply_to=parent.uri if parent else None, context=space_actor.uri,
                 public=True, published=utcnow(), document=document)
    session.add(obj)
    await session.flush()
    if parent is None:  # Mastodon shows a Page as its name and a link: link to the readable thread page
        obj.document = {**document, "url": thread_page_url(fed, obj.id)}
    create = {"@context": AS, "id": fed.urls.new_activity(), "type": "Create", "actor": author.uri,
              "published": document["published"], "to": document["to"], "cc": document["cc"],
              "audience": space_actor.uri, "object": obj.document}
    activity = await store_activity(session, author, create)
    return obj, activity


async def delivery_targets(session: AsyncSession, author: Actor, document: dict) -> tuple[set[str], set[int]]:
    """Remote inboxes (followers, mentioned and replied-to actors) and local owners of a post's timeline."""
    followers = await follower_actors(session, author.id)
    named = [uri for uri in as_list(document.get("cc")) if isinstance(uri, str) and uri != author.followers_url]
    others = list((await session.scalars(select(Actor).where(Actor.uri.in_(named)))).all()) if named else []
    return remote_inboxes([*followers, *others]), {a.id for a in [*followers, *others] if a.local}


# ---------------------------------------------------------------- the space at work


async def announce(
    session: AsyncSession, fed: Federation, view: SpaceView, inner: dict, post_uri: str | None = None,
    exclude_inbox: str | None = None,
) -> list[Activity]:
    """Announce{inner activity} to every follower, plus Announce{post id} for Mastodon-style followers."""
    followers = await follower_actors(session, view.actor.id)
    inboxes = remote_inboxes(followers)
    to = [PUBLIC] if view.space.visibility == "public" else [view.actor.followers_url]
    made = []
    objects = [inner] + ([post_uri] if post_uri else [])
    for obj in objects:
        document = {"@context": AS, "id": fed.urls.new_activity(), "type": "Announce", "actor": view.actor.uri,
                    "published": iso(utcnow()), "to": to, "cc": [view.actor.followers_url],
                    "audience": view.actor.uri, "object": obj}
        activity = await store_activity(session, view.actor, document)
        await queue_deliveries(session, activity, view.actor, inboxes)
        made.append(activity)
    return made


async def accept_post(
    session: AsyncSession, fed: Federation, view: SpaceView, activity: dict, obj: Object, author: Actor,
) -> SpacePost:
    """A local space takes a new thread or reply: checks, indexes, Announces, fills local timelines."""
    await check_may_post(session, view.space, author, obj.in_reply_to)
    post = await index_post(session, view.space, obj)
    if post is None:
        raise SpaceError(400, f"cannot place {obj.uri} in the space")
    await announce(session, fed, view, activity, obj.uri)
    owners = await local_follower_ids(session, view.actor.id)
    await add_to_timelines(session, obj, view.actor, owners)
    return post


async def accept_change(
    session: AsyncSession, fed: Federation, view: SpaceView, activity: dict, author: Actor, post: SpacePost,
) -> None:
    """A local space relays an Update, Delete or Like of one of its posts."""
    if await is_banned(session, view.space, author.uri):
        raise SpaceError(403, f"{author.uri} is banned from this space")
    if activity["type"] == "Delete":
        await remove_post(session, post)
    await announce(session, fed, view, activity)


async def addressed_local_spaces(session: AsyncSession, fed: Federation, *documents: dict) -> list[SpaceView]:
    uris = set()
    for document in documents:
        for name in ("audience", "to", "cc"):
            uris |= {id_of(v) for v in as_list(document.get(name)) if fed.urls.is_local(id_of(v))}
    if not uris:
        return []
    rows = (await session.execute(select(Space, Actor).join(Actor, Actor.id == Space.actor_id)
                                  .where(Space.local.is_(True), Actor.uri.in_(uris)))).all()
    return [SpaceView(*row) for row in rows]


async def space_view_of_post(session: AsyncSession, post: SpacePost) -> SpaceView:
    space = await session.get(Space, post.space_id)
    return SpaceView(space, await session.get(Actor, space.actor_id))


# ---------------------------------------------------------------- moderation (by the space itself)


async def _moderation_activity(
    session: AsyncSession, fed: Federation, view: SpaceView, kind: str, obj: str | dict, summary: str | None,
    extra_inboxes: list[str] = (), **fields,
) -> Activity:
    document = {"@context": AS, "id": fed.urls.new_activity(), "type": kind, "actor": view.actor.uri,
                "to": [PUBLIC], "cc": [view.actor.followers_url], "audience": view.actor.uri, "object": obj,
                **fields}
    if summary:
        document["summary"] = summary
    activity = await store_activity(session, view.actor, document)
    inboxes = remote_inboxes(await follower_actors(session, view.actor.id)) | {i for i in extra_inboxes if i}
    await queue_deliveries(session, activity, view.actor, inboxes)
    return activity


async def moderate_remove(session: AsyncSession, fed: Federation, view: SpaceView, post: SpacePost,
                          reason: str | None = None) -> Activity:
    """Removes a post from the space and tells followers (and the author) with a Delete by the space."""
    obj = await session.get(Object, post.object_id)
    author = await session.get(Actor, obj.attributed_to_id) if obj.attributed_to_id else None
    await remove_post(session, post)
    extra = [author.delivery_inbox] if author is not None and not author.local else []
    return await _moderation_activity(session, fed, view, "Delete", obj.uri, reason, extra)


async def moderate_lock(session: AsyncSession, fed: Federation, view: SpaceView, post: SpacePost,
                        reason: str | None = None) -> Activity:
    thread = await thread_row(session, post)
    thread.locked = True
    obj = await session.get(Object, thread.object_id)
    return await _moderation_activity(session, fed, view, "Lock", obj.uri, reason)


async def moderate_ban(session: AsyncSession, fed: Federation, view: SpaceView, target: Actor,
                       reason: str | None = None) -> Activity:
    """Bans an actor: its follow ends, its posts are refused, and a Block by the space tells everyone."""
    if not await is_banned(session, view.space, target.uri):
        session.add(SpaceBan(space_id=view.space.id, actor_uri=target.uri, reason=reason))
    await session.execute(delete(Follow).where(Follow.follower_id == target.id, Follow.followee_id == view.actor.id))
    extra = [target.delivery_inbox] if not target.local else []
    return await _moderation_activity(session, fed, view, "Block", target.uri, reason, extra,
                                      target=view.actor.uri)


async def _undo_moderation(session: AsyncSession, fed: Federation, view: SpaceView, kind: str, object_uri: str,
                           reason: str | None, extra_inboxes: list[str] = ()) -> Activity:
    """An Undo by the space embedding its latest `kind` (Lock, Block) of object_uri, as Lemmy sends it."""
    done = await session.scalar(select(Activity).where(
        Activity.actor_id == view.actor.id, Activity.local.is_(True), Activity.type == kind,
        Activity.object_uri == object_uri).order_by(Activity.id.desc()).limit(1))
    undone = json.loads(done.payload) if done is not None else {"type": kind, "actor": view.actor.uri,
                                                                "object": object_uri}
    undone.pop("@context", None)
    return await _moderation_activity(session, fed, view, "Undo", undone, reason, extra_inboxes)


async def moderate_unlock(session: AsyncSession, fed: Federation, view: SpaceView, post: SpacePost,
                          reason: str | None = None) -> Activity:
    """Opens a locked thread again (Undo{Lock})."""
    thread = await thread_row(session, post)
    thread.locked = False
    obj = await session.get(Object, thread.object_id)
    return await _undo_moderation(session, fed, view, "Lock", obj.uri, reason)


async def moderate_unban(session: AsyncSession, fed: Federation, view: SpaceView, target: Actor,
                         reason: str | None = None) -> Activity:
    """Lifts a ban (Undo{Block}); the actor may join and post again."""
    await session.execute(delete(SpaceBan).where(SpaceBan.space_id == view.space.id,
                                                 SpaceBan.actor_uri == target.uri))
    extra = [target.delivery_inbox] if not target.local else []
    return await _undo_moderation(session, fed, view, "Block", target.uri, reason, extra)


# ---------------------------------------------------------------- what a follower does with the space's news


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
        await session.execute(delete(SpaceBan).where(SpaceBan.space_id == space.id, SpaceBan.actor_uri == target))
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
        session.add(SpaceReport(space_id=view.space.id, reporter_uri=reporter.uri, object_uri=uri,
                                reason=reason if isinstance(reason, str) else None))
    await session.flush()
    return len(objects)


# ---------------------------------------------------------------- backfill


async def fetch_post(fed: Federation, uri: str) -> tuple[dict, str] | None:
    """A post from its origin and its (stored) author's id, or None when it cannot be had."""
    try:
        document = await fed.fetch_document(uri)
        author = await get_actor(fed, id_of(document.get("attributedTo")) or "")
    except Exception as error:  # noqa: BLE001 -- an unreachable ancestor only leaves a gap
        log.info("cannot fetch %s: %s", uri, error)
        return None
    if document.get("type") not in POST_TYPES or host_of(document["id"]) != host_of(author.uri):
        return None
    return document, author.uri


async def fetch_ancestors(fed: Federation, document: dict) -> list[tuple[dict, str]]:
    """The unknown posts above a reply, up to its thread, fetched from their origins (root first)."""
    found: list[tuple[dict, str]] = []
    parent = id_of(document.get("inReplyTo"))
    while parent and len(found) < ANCESTOR_LIMIT:
        async with fed.db.session() as session:
            if await session.scalar(select(Object.id).where(Object.uri == parent)):
                break
        if fed.urls.is_local(parent):
            break
        fetched = await fetch_post(fed, parent)
        if fetched is None:
            break
        found.append(fetched)
        parent = id_of(fetched[0].get("inReplyTo"))
    return list(reversed(found))


async def known_or_fetched_author(fed: Federation, document: dict) -> str | None:
    try:
        return (await get_actor(fed, id_of(document.get("attributedTo")) or "")).uri
    except ActorError as error:
        log.info("unknown author of %s: %s", document.get("id"), error)
        return None
