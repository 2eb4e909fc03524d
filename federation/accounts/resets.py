"""Password resets by a one-time link an admin makes (no e-mail needed), and password changes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from federation.accounts.tokens import hash_token, new_token
from federation.context import Federation
from federation.refusal import Refusal
from models import Actor, utcnow
from models.account import PasswordReset

RESET_HOURS = 48


def reset_url(fed: Federation, token: str) -> str:
    return f"{fed.settings.base_url}/reset/{token}"


async def create_reset(session: AsyncSession, member: Actor, by: Actor | None = None) -> str:
    """A new reset link's secret for a member; earlier unused links of the member stop working."""
    if not member.local or member.type != "Person":
        raise Refusal(400, "Only members have passwords.")
    now = utcnow()
    await session.execute(
        update(PasswordReset)
        .where(PasswordReset.member_id == member.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )
    token, digest = new_token()
    session.add(
        PasswordReset(
            token_hash=digest,
            member_id=member.id,
            expires_at=now + dt.timedelta(hours=RESET_HOURS),
            created_by_id=by.id if by else None,
        )
    )
    await session.flush()
    return token


async def open_reset(session: AsyncSession, token: str) -> tuple[PasswordReset, Actor]:
    reset = await session.scalar(select(PasswordReset).where(PasswordReset.token_hash == hash_token(token)))
    member = await session.get(Actor, reset.member_id) if reset else None
    if reset is None or member is None:
        raise Refusal(404, "This reset link is not known here. Ask an admin for a new one.")
    if reset.used_at is not None:
        raise Refusal(410, "This reset link was already used. Ask an admin for a new one.")
    if reset.expires_at <= utcnow():
        raise Refusal(410, "This reset link has expired. Ask an admin for a new one.")
    return reset, member


async def use_reset(session: AsyncSession, token: str, password_hash: str) -> Actor:
    reset, member = await open_reset(session, token)
    used = await session.execute(
        update(PasswordReset)
        .where(PasswordReset.id == reset.id, PasswordReset.used_at.is_(None))
        .values(used_at=utcnow())
    )
    if used.rowcount != 1:
        raise Refusal(410, "This reset link was already used. Ask an admin for a new one.")
    member.password_hash = password_hash
    return member
