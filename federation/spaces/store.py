"""Spaces and their thread index in the database: creating and finding spaces, indexing posts."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from federation.actors import create_local_actor
from federation.content import markdown_to_html
from federation.context import Federation
from federation.refusal import Refusal
from federation.vocabulary import as_list, audience_of, id_of
from models import Actor, Object, TimelineEntry, utcnow
from models.base import insert_unless_present
from models.space import Space, SpaceModerator, SpaceMovement, SpacePost

log = logging.getLogger(__name__)
MAX_HELD_ANCESTORS = 32  # held parents indexed on the way up to a thread


def space_uri(fed: Federation, slug: str) -> str:
    return f"{fed.urls.base}/spaces/{slug}"


def thread_page_url(fed: Federation, object_db_id: int) -> str:
    return f"{fed.urls.base}/threads/{object_db_id}"


@dataclass
class SpaceView:
    """A space with its actor, as most callers need both."""

    space: Space
    actor: Actor


async def create_space(
    session: AsyncSession,
    fed: Federation,
    slug: str,
    name: str,
    owner: Actor,
    description: str | None = None,
    rules: str | None = None,
    members_only: list[Actor] = (),
    moderators: list[Actor] = (),
) -> SpaceView:
    """A new local space owned by a local movement; the movement's admins moderate it."""
    if not owner.local or owner.type != "Group" or owner.movement_id is not None:
        raise Refusal(400, f"{owner.username} is not a local movement")
    actor = await create_local_actor(
        session,
        fed,
        slug,
        "Group",
        name=name,
        summary=markdown_to_html(description) if description else None,
        uri=space_uri(fed, slug),
    )
    space = Space(
        actor_id=actor.id,
        local=True,
        owner_id=owner.id,
        rules=rules,
        visibility="members" if members_only else "public",
    )
    session.add(space)
    await session.flush()
    for movement_uri in {owner.uri, *(m.uri for m in members_only)} if members_only else ():
        session.add(SpaceMovement(space_id=space.id, movement_uri=movement_uri))
    admins = (
        await session.scalars(select(Actor).where(Actor.movement_id == owner.id, Actor.role == "admin"))
    ).all()
    for moderator_id in {a.id for a in admins} | {m.id for m in moderators}:
        session.add(SpaceModerator(space_id=space.id, actor_id=moderator_id))
    await session.flush()
    return SpaceView(space, actor)


async def space_of_actor(session: AsyncSession, actor: Actor) -> Space | None:
    return await session.scalar(select(Space).where(Space.actor_id == actor.id))


def remote_visibility(actor: Actor) -> str:
    """What a remote space's actor document says of its readers: `membersOnly` (Interpeople's context)."""
    document = actor.document if isinstance(actor.document, dict) else {}
    return "members" if document.get("membersOnly") is True else "public"


async def ensure_remote_space(session: AsyncSession, actor: Actor) -> Space:
    """The index row of a remote space this instance hears from (created on first contact), its
    visibility as the space's latest actor document says."""
    space = await space_of_actor(session, actor)
    if space is None:
        space = Space(actor_id=actor.id, local=False, visibility=remote_visibility(actor))
        session.add(space)
        await session.flush()
    elif not space.local:
        space.visibility = remote_visibility(actor)
    return space


async def local_space_by_slug(session: AsyncSession, slug: str) -> SpaceView | None:
    row = (
        await session.execute(
            select(Space, Actor)
            .join(Actor, Actor.id == Space.actor_id)
            .where(Space.local.is_(True), Actor.username == slug)
        )
    ).first()
    return SpaceView(*row) if row else None


async def moderator_uris(session: AsyncSession, space: Space) -> list[str]:
    return list(
        (
            await session.scalars(
                select(Actor.uri)
                .join(SpaceModerator, SpaceModerator.actor_id == Actor.id)
                .where(SpaceModerator.space_id == space.id)
                .order_by(Actor.uri)
            )
        ).all()
    )


async def is_moderator(session: AsyncSession, space: Space, actor: Actor) -> bool:
    return bool(
        await session.scalar(
            select(SpaceModerator.id).where(
                SpaceModerator.space_id == space.id, SpaceModerator.actor_id == actor.id
            )
        )
    )


async def allowed_movements(session: AsyncSession, space: Space) -> list[str]:
    return list(
        (
            await session.scalars(
                select(SpaceMovement.movement_uri)
                .where(SpaceMovement.space_id == space.id)
                .order_by(SpaceMovement.movement_uri)
            )
        ).all()
    )


async def post_by_uri(session: AsyncSession, uri: str) -> SpacePost | None:
    return await session.scalar(
        select(SpacePost).join(Object, Object.id == SpacePost.object_id).where(Object.uri == uri)
    )


async def thread_row(session: AsyncSession, post: SpacePost) -> SpacePost:
    if post.is_thread:
        return post
    return await session.scalar(select(SpacePost).where(SpacePost.object_id == post.thread_id))


async def index_post(session: AsyncSession, space: Space, obj: Object, depth: int = 0) -> SpacePost | None:
    """Records a thread (no inReplyTo) or a reply (under a known parent) of the space, once.

    The same post can arrive twice at once (our own reply coming back in the space's Announce while
    the author's request still runs): the insert skips a row another writer just added. A parent we
    hold, but not as a post of the space, is indexed first when it was addressed to the space."""
    existing = await session.scalar(select(SpacePost).where(SpacePost.object_id == obj.id))
    if existing is not None:
        return existing
    values = dict(
        space_id=space.id,
        object_id=obj.id,
        author_id=obj.attributed_to_id,
        created_at=utcnow(),
        last_activity_at=obj.published,
    )
    parent = None
    if obj.in_reply_to is None:
        values.update(thread_id=obj.id, is_thread=True)
    else:
        parent = await post_by_uri(session, obj.in_reply_to)
        if parent is None:
            parent = await _index_held_parent(session, space, obj.in_reply_to, depth)
        if parent is None or parent.space_id != space.id:
            log.info("cannot place %s: its parent %s is not in the space", obj.uri, obj.in_reply_to)
            return None
        values.update(thread_id=parent.thread_id, parent_id=parent.object_id, is_thread=False)
    new_id = await insert_unless_present(session, SpacePost, "object_id", values)
    if new_id is not None and parent is not None:
        await session.execute(
            update(SpacePost)
            .where(SpacePost.object_id == parent.thread_id)
            .values(
                reply_count=SpacePost.reply_count + 1,
                last_activity_at=func.max(SpacePost.last_activity_at, obj.published)
                if session.bind.dialect.name == "sqlite"
                else func.greatest(SpacePost.last_activity_at, obj.published),
            )
        )
    return await session.scalar(select(SpacePost).where(SpacePost.object_id == obj.id))


async def _index_held_parent(session: AsyncSession, space: Space, uri: str, depth: int) -> SpacePost | None:
    """A parent we already hold as an object (it came as a plain post, or before we followed the space,
    so fetching it again is skipped): indexed when its audience or context is the space."""
    if depth >= MAX_HELD_ANCESTORS:
        return None
    held = await session.scalar(select(Object).where(Object.uri == uri))
    if held is None or held.deleted_at is not None:
        return None
    space_uri = await session.scalar(select(Actor.uri).where(Actor.id == space.actor_id))
    if space_uri not in audience_of(held.document or {}) and held.context != space_uri:
        return None
    return await index_post(session, space, held, depth + 1)


async def remove_post(session: AsyncSession, post: SpacePost) -> None:
    """Hides a post from its space (a reply also stops counting in its thread)."""
    if post.removed_at is not None:
        return
    post.removed_at = utcnow()
    if not post.is_thread:
        await session.execute(
            update(SpacePost)
            .where(SpacePost.object_id == post.thread_id)
            .values(reply_count=SpacePost.reply_count - 1)
        )
    await session.execute(delete(TimelineEntry).where(TimelineEntry.object_id == post.object_id))
    await session.flush()


async def addressed_local_spaces(session: AsyncSession, fed: Federation, *documents: dict) -> list[SpaceView]:
    uris = set()
    for document in documents:
        for name in ("audience", "to", "cc"):
            uris |= {id_of(v) for v in as_list(document.get(name)) if fed.urls.is_local(id_of(v))}
    if not uris:
        return []
    rows = (
        await session.execute(
            select(Space, Actor)
            .join(Actor, Actor.id == Space.actor_id)
            .where(Space.local.is_(True), Actor.uri.in_(uris))
        )
    ).all()
    return [SpaceView(*row) for row in rows]


async def space_view_of_post(session: AsyncSession, post: SpacePost) -> SpaceView:
    space = await session.get(Space, post.space_id)
    return SpaceView(space, await session.get(Actor, space.actor_id))
