"""What a reader sees of a space's posts beyond their text: likes, edits, unread replies, a ban."""

from __future__ import annotations

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import Actor, Object, utcnow
from models.content import ObjectVersion
from models.interaction import Favourite
from models.space import Space, SpaceBan, SpacePost, ThreadRead


async def post_facts(session: AsyncSession, ids: list[int], viewer: Actor | None) -> dict:
    """Likes per post, the posts the viewer liked, and how many earlier versions each edited post has."""
    if not ids:
        return {"likes": {}, "liked": set(), "edits": {}}
    likes = dict(
        (
            await session.execute(
                select(Favourite.object_id, func.count())
                .where(Favourite.object_id.in_(ids))
                .group_by(Favourite.object_id)
            )
        ).all()
    )
    liked = set()
    if viewer is not None:
        liked = set(
            (
                await session.scalars(
                    select(Favourite.object_id).where(
                        Favourite.object_id.in_(ids), Favourite.actor_id == viewer.id
                    )
                )
            ).all()
        )
    edits = dict(
        (
            await session.execute(
                select(ObjectVersion.object_id, func.count())
                .where(ObjectVersion.object_id.in_(ids))
                .group_by(ObjectVersion.object_id)
            )
        ).all()
    )
    return {"likes": likes, "liked": liked, "edits": edits}


async def ban_of(session: AsyncSession, space: Space, viewer: Actor | None) -> SpaceBan | None:
    """The viewer's ban from the space, if any (to tell them why they cannot post)."""
    if viewer is None:
        return None
    return await session.scalar(
        select(SpaceBan).where(SpaceBan.space_id == space.id, SpaceBan.actor_uri == viewer.uri)
    )


async def mark_read(session: AsyncSession, reader: Actor, thread_object_id: int) -> None:
    """The reader opened the thread now."""
    now = utcnow()
    found = await session.scalar(
        select(ThreadRead.id).where(
            ThreadRead.actor_id == reader.id, ThreadRead.thread_id == thread_object_id
        )
    )
    if found is None:
        session.add(ThreadRead(actor_id=reader.id, thread_id=thread_object_id, read_at=now))
    else:
        await session.execute(update(ThreadRead).where(ThreadRead.id == found).values(read_at=now))
    await session.flush()


async def unread(session: AsyncSession, reader: Actor | None, thread_ids: list[int]) -> dict[int, int]:
    """Per thread: new replies since the reader last opened it (0 when none); threads never opened are
    left out, so a page can mark them as new."""
    if reader is None or not thread_ids:
        return {}
    reads = dict(
        (
            await session.execute(
                select(ThreadRead.thread_id, ThreadRead.read_at).where(
                    ThreadRead.actor_id == reader.id, ThreadRead.thread_id.in_(thread_ids)
                )
            )
        ).all()
    )
    counts = dict.fromkeys(reads, 0)
    if reads:
        counts.update(
            (
                await session.execute(
                    select(SpacePost.thread_id, func.count())
                    .join(Object, Object.id == SpacePost.object_id)
                    .join(
                        ThreadRead,
                        and_(ThreadRead.thread_id == SpacePost.thread_id, ThreadRead.actor_id == reader.id),
                    )
                    .where(
                        SpacePost.thread_id.in_(list(reads)),
                        SpacePost.is_thread.is_(False),
                        SpacePost.removed_at.is_(None),
                        SpacePost.created_at > ThreadRead.read_at,
                        Object.attributed_to_id != reader.id,
                    )
                    .group_by(SpacePost.thread_id)
                )
            ).all()
        )
    return counts
