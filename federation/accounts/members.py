"""Making members (from an invitation or an approved join request) and changing their passwords."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.actors import ActorError, create_local_actor
from federation.context import Federation
from federation.refusal import Refusal
from federation.urls import SLUG
from models import Actor
from models.account import JoinRequest, JoinState
from models.actor import ROLES, local_actor

MIN_PASSWORD = 8
MAX_PASSWORD = 1000
MAX_NAME = 100
MAX_MESSAGE = 2000


def check_username(username: str) -> str:
    username = username.strip().lower()
    if not SLUG.match(username):
        raise Refusal(400, "A member name uses a-z, 0-9, _ . - (up to 64 characters, no space).")
    return username


def check_password(password: str, repeated: str | None = None) -> str:
    if len(password) < MIN_PASSWORD:
        raise Refusal(400, f"The password needs at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise Refusal(400, f"The password may have at most {MAX_PASSWORD} characters.")
    if repeated is not None and repeated != password:
        raise Refusal(400, "The two passwords differ.")
    return password


def check_name(name: str | None) -> str | None:
    name = (name or "").strip()
    if len(name) > MAX_NAME:
        raise Refusal(400, f"A display name may have at most {MAX_NAME} characters.")
    return name or None


async def name_is_free(session: AsyncSession, username: str) -> None:
    """Refuses a name an actor has, or a pending join request asks for."""
    if await local_actor(session, username) is not None:
        raise Refusal(409, f"The name {username} is already taken on this instance.")
    pending = await session.scalar(
        select(JoinRequest.id).where(
            JoinRequest.username == username, JoinRequest.state == JoinState.pending.value
        )
    )
    if pending is not None:
        raise Refusal(409, f"The name {username} is already asked for in a join request.")


async def create_member(
    session: AsyncSession,
    fed: Federation,
    movement: Actor,
    username: str,
    password_hash: str,
    name: str | None = None,
    role: str = "member",
) -> Actor:
    """A new local member (Person) of a movement, with a password hash already made."""
    if role not in ROLES:
        raise Refusal(400, f"unknown role {role}")
    try:
        return await create_local_actor(
            session,
            fed,
            username,
            "Person",
            name=name or username,
            movement_id=movement.id,
            role=role,
            password_hash=password_hash,
        )
    except ActorError as error:
        raise Refusal(409, str(error)) from None
