"""Who may read a forum space: anyone a public one; a members-only one only its members, in pages and in
ActivityPub fetches (signed by a member, or by the instance actor of a host where a member follows the space)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.spaces.rules import is_banned, is_member
from federation.spaces.store import allowed_movements
from federation.vocabulary import PUBLIC
from models import Actor, Follow, FollowState, Object
from models.space import Space, SpacePost

INSTANCE_TYPES = ("Application", "Service")


def is_private(space: Space | None) -> bool:
    return space is not None and space.visibility != "public"


async def may_read(session: AsyncSession, space: Space, reader: Actor | None) -> bool:
    """Anyone reads a public space; a members-only one is read by its members who are not banned."""
    if not is_private(space):
        return True
    if reader is None or await is_banned(session, space, reader.uri):
        return False
    return await is_member(session, space, reader)


async def may_fetch(session: AsyncSession, space: Space, signer: Actor | None) -> bool:
    """Whether a signed fetch may have the space's objects: a member signed it, or the instance actor of a host
    where a member follows the space (Mastodon and Interpeople sign their fetches with an instance actor)."""
    if await may_read(session, space, signer):
        return True
    if signer is None or signer.type not in INSTANCE_TYPES or signer.local:
        return False
    return bool(
        await session.scalar(
            select(Follow.id)
            .join(Actor, Actor.id == Follow.follower_id)
            .where(
                Follow.followee_id == space.actor_id,
                Follow.state == FollowState.accepted.value,
                Actor.host == signer.host,
            )
            .limit(1)
        )
    )


async def space_of_object(session: AsyncSession, obj: Object) -> Space | None:
    """The space a post belongs to (None for posts outside spaces)."""
    return await session.scalar(
        select(Space).join(SpacePost, SpacePost.space_id == Space.id).where(SpacePost.object_id == obj.id)
    )


async def readers(session: AsyncSession, space: Space) -> list[Actor | str]:
    """The movements whose members read a members-only space (actors when known here, else their ids)."""
    uris = await allowed_movements(session, space)
    known = {a.uri: a for a in (await session.scalars(select(Actor).where(Actor.uri.in_(uris)))).all()}
    return [known.get(uri, uri) for uri in uris]


def audience_of_post(space_actor: Actor, space: Space | None) -> tuple[list[str], list[str]]:
    """to and cc of a post in a space: public spaces add Public; members-only ones only the space and its
    followers (its members)."""
    if is_private(space):
        return [space_actor.uri], [space_actor.followers_url]
    return [space_actor.uri, PUBLIC], []
