"""Notifications for local accounts: follows, mentions, boosts, favourites, and `status` notices.

Feature modules call `notify_followers` when something a followed actor did deserves a notice (the agreements
feature: a followed movement proposes or signs an agreement). Nothing here speaks HTTP.
"""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.outbox import local_follower_ids
from models import Actor, utcnow
from models.interaction import NOTIFICATION_TYPES, Notification


async def notify(
    session: AsyncSession,
    owner_ids: Iterable[int],
    type_: str,
    from_actor_id: int,
    object_id: int | None = None,
) -> int:
    """One notification per local owner (never to the actor who caused it, never twice for the same thing)."""
    if type_ not in NOTIFICATION_TYPES:
        raise ValueError(f"unknown notification type {type_}")
    owners = set(owner_ids) - {from_actor_id}
    if not owners:
        return 0
    local = set(
        (await session.scalars(select(Actor.id).where(Actor.id.in_(owners), Actor.local.is_(True)))).all()
    )
    seen = select(Notification.owner_id).where(
        Notification.owner_id.in_(local),
        Notification.type == type_,
        Notification.from_actor_id == from_actor_id,
        Notification.object_id.is_(None) if object_id is None else Notification.object_id == object_id,
    )
    fresh = local - set((await session.scalars(seen)).all())
    if fresh:
        now = utcnow()
        await session.execute(
            insert(Notification),
            [
                {
                    "owner_id": o,
                    "type": type_,
                    "from_actor_id": from_actor_id,
                    "object_id": object_id,
                    "created_at": now,
                }
                for o in sorted(fresh)
            ],
        )
    return len(fresh)


async def withdraw(
    session: AsyncSession, type_: str, from_actor_id: int, object_id: int | None = None
) -> None:
    """Removes the notifications of something undone (an unfavourite, an unboost, an unfollow)."""
    query = delete(Notification).where(
        Notification.type == type_, Notification.from_actor_id == from_actor_id
    )
    if object_id is not None:
        query = query.where(Notification.object_id == object_id)
    await session.execute(query)


async def notify_followers(
    session: AsyncSession, actor_id: int, object_id: int, type_: str = "status"
) -> int:
    """Tells every local account that follows `actor_id` about an object it made (a `status` notification).

    For feature modules: e.g. when a followed movement proposes or signs an agreement, call this with the
    movement's actor id and the stored object of the proposal or agreement, in the same transaction.
    """
    return await notify(session, await local_follower_ids(session, actor_id), type_, actor_id, object_id)


async def notify_mentions(
    session: AsyncSession, author_id: int, object_id: int, mentioned_uris: Iterable[str]
) -> int:
    """A `mention` for every local actor named in a post's Mention tags."""
    uris = [u for u in set(mentioned_uris) if u]
    if not uris:
        return 0
    owners = (
        await session.scalars(select(Actor.id).where(Actor.uri.in_(uris)))
    ).all()  # notify keeps local ones
    return await notify(session, owners, "mention", author_id, object_id)
