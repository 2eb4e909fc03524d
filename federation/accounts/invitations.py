"""Invitation links: an admin makes one for a movement; whoever opens it picks a name and a password."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from federation.accounts.members import create_member, name_is_free
from federation.accounts.tokens import hash_token, new_token
from federation.context import Federation
from federation.refusal import Refusal
from models import Actor, utcnow
from models.account import Invitation
from models.actor import ROLES

MAX_USES = 1000
MAX_DAYS = 365


def invitation_url(fed: Federation, token: str) -> str:
    return f"{fed.settings.base_url}/invite/{token}"


async def create_invitation(
    session: AsyncSession,
    movement: Actor,
    role: str = "member",
    uses: int = 1,
    days: float = 7,
    by: Actor | None = None,
) -> tuple[Invitation, str]:
    """A new invitation and the secret of its link (shown once: only its hash is kept)."""
    if role not in ROLES:
        raise Refusal(400, f"the role must be one of {', '.join(ROLES)}")
    if not 1 <= uses <= MAX_USES:
        raise Refusal(400, f"an invitation is used between 1 and {MAX_USES} times")
    if not 0 < days <= MAX_DAYS:
        raise Refusal(400, f"an invitation lasts more than 0 and at most {MAX_DAYS} days")
    token, digest = new_token()
    invitation = Invitation(
        token_hash=digest,
        movement_id=movement.id,
        role=role,
        uses=uses,
        used=0,
        expires_at=utcnow() + dt.timedelta(days=days),
        created_by_id=by.id if by else None,
    )
    session.add(invitation)
    await session.flush()
    return invitation, token


def state_of(invitation: Invitation, now: dt.datetime | None = None) -> str:
    """open, used up, expired or revoked."""
    now = now or utcnow()
    if invitation.revoked_at is not None:
        return "revoked"
    if invitation.used >= invitation.uses:
        return "used up"
    if invitation.expires_at <= now:
        return "expired"
    return "open"


async def open_invitation(session: AsyncSession, token: str) -> tuple[Invitation, Actor]:
    """The invitation of a link and its movement; 404 for an unknown link, 410 for one no longer open."""
    invitation = await session.scalar(select(Invitation).where(Invitation.token_hash == hash_token(token)))
    movement = await session.get(Actor, invitation.movement_id) if invitation else None
    if invitation is None or movement is None:
        raise Refusal(404, "This invitation link is not known here. Ask an admin for a new one.")
    state = state_of(invitation)
    if state != "open":
        raise Refusal(410, f"This invitation is {state}. Ask an admin for a new one.")
    return invitation, movement


async def accept_invitation(
    session: AsyncSession,
    fed: Federation,
    token: str,
    username: str,
    password_hash: str,
    name: str | None = None,
) -> Actor:
    """Makes the member an invitation lets in, and counts the use (never beyond its uses)."""
    invitation, movement = await open_invitation(session, token)
    await name_is_free(session, username)
    counted = await session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.used < Invitation.uses)
        .values(used=Invitation.used + 1)
    )
    if counted.rowcount != 1:
        raise Refusal(410, "This invitation is used up. Ask an admin for a new one.")
    return await create_member(session, fed, movement, username, password_hash, name, invitation.role)


async def list_invitations(session: AsyncSession, limit: int = 200) -> list[tuple[Invitation, Actor]]:
    rows = await session.execute(
        select(Invitation, Actor)
        .join(Actor, Actor.id == Invitation.movement_id)
        .order_by(Invitation.id.desc())
        .limit(limit)
    )
    return [tuple(row) for row in rows.all()]


async def revoke_invitation(session: AsyncSession, invitation_id: int) -> bool:
    done = await session.execute(
        update(Invitation)
        .where(Invitation.id == invitation_id, Invitation.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return done.rowcount == 1
