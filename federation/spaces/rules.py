"""The rules a space applies: who may join, post and moderate (bans, members-only spaces, locked threads)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.refusal import Refusal
from federation.spaces.store import allowed_movements, is_moderator, post_by_uri, thread_row
from federation.vocabulary import host_of, id_of
from models import Actor
from models.space import Space, SpaceBan


async def may_moderate(session: AsyncSession, space: Space, actor: Actor) -> bool:
    """Listed moderators, and admins of the owning movement."""
    if await is_moderator(session, space, actor):
        return True
    return actor.movement_id is not None and actor.movement_id == space.owner_id and actor.role == "admin"


async def is_banned(session: AsyncSession, space: Space, actor_uri: str) -> bool:
    return bool(
        await session.scalar(
            select(SpaceBan.id).where(SpaceBan.space_id == space.id, SpaceBan.actor_uri == actor_uri)
        )
    )


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
        raise Refusal(403, f"{actor.uri} is banned from this space")
    if not await is_member(session, space, actor):
        raise Refusal(403, "this space is open to members of its movements only")


async def check_may_post(session: AsyncSession, space: Space, author: Actor, parent_uri: str | None) -> None:
    """Refuses banned or non-member authors, and replies in locked or removed threads."""
    await check_may_join(session, space, author)
    if parent_uri is None:
        return
    parent = await post_by_uri(session, parent_uri)
    if parent is None or parent.space_id != space.id:
        raise Refusal(400, f"{parent_uri} is not a post of this space")
    thread = await thread_row(session, parent)
    if thread.locked:
        raise Refusal(403, "this thread is locked")
    if thread.removed_at is not None or parent.removed_at is not None:
        raise Refusal(403, "this thread was removed")
