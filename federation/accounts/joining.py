"""Join requests: with open sign-up, someone asks to join a movement; an admin approves or refuses."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.accounts.members import MAX_MESSAGE, create_member, name_is_free
from federation.context import Federation
from federation.refusal import Refusal
from models import Actor, utcnow
from models.account import JOIN_TRANSITIONS, JoinRequest, JoinState


async def request_to_join(
    session: AsyncSession,
    movement: Actor,
    username: str,
    password_hash: str,
    name: str | None = None,
    message: str | None = None,
) -> JoinRequest:
    await name_is_free(session, username)
    message = (message or "").strip()
    if len(message) > MAX_MESSAGE:
        raise Refusal(400, f"The message may have at most {MAX_MESSAGE} characters.")
    request = JoinRequest(
        movement_id=movement.id,
        username=username,
        name=name,
        password_hash=password_hash,
        message=message or None,
        state=JoinState.pending.value,
    )
    session.add(request)
    await session.flush()
    return request


async def decide(
    session: AsyncSession, fed: Federation, request_id: int, approve: bool, by: Actor
) -> Actor | None:
    """Approves (making the member, who may then sign in) or refuses a pending request."""
    request = await session.get(JoinRequest, request_id)
    if request is None:
        raise Refusal(404, "There is no such join request.")
    target = JoinState.approved if approve else JoinState.refused
    if target not in JOIN_TRANSITIONS[JoinState(request.state)]:
        raise Refusal(409, f"This join request was already {request.state}.")
    request.state = target.value
    request.decided_by_id = by.id
    request.decided_at = utcnow()
    if not approve:
        return None
    movement = await session.get(Actor, request.movement_id)
    await session.flush()  # the name is no longer held by a pending request
    return await create_member(session, fed, movement, request.username, request.password_hash, request.name)


async def pending_requests(session: AsyncSession) -> list[tuple[JoinRequest, Actor]]:
    rows = await session.execute(
        select(JoinRequest, Actor)
        .join(Actor, Actor.id == JoinRequest.movement_id)
        .where(JoinRequest.state == JoinState.pending.value)
        .order_by(JoinRequest.id)
    )
    return [tuple(row) for row in rows.all()]
