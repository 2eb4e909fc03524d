"""Failed sign-in attempts, kept in the database so every web process of an instance counts the same ones."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, String, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow
from models.types import IdType


class LoginFailure(Base):
    """One failed attempt, counted against a key: "account:NAME" or "address:IP"."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(320))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)


async def failures_since(
    session: AsyncSession, key: str, since: dt.datetime
) -> tuple[int, dt.datetime | None]:
    """How many failures key has had since `since`, and the oldest of them."""
    count, oldest = (
        await session.execute(
            select(func.count(), func.min(LoginFailure.at)).where(
                LoginFailure.key == key, LoginFailure.at >= since
            )
        )
    ).one()
    return count, oldest


async def record_failure(session: AsyncSession, keys: list[str], before: dt.datetime) -> None:
    """Records a failure against each key, and forgets failures older than `before`."""
    session.add_all([LoginFailure(key=key) for key in keys])
    await session.execute(delete(LoginFailure).where(LoginFailure.at < before))


async def forget_failures(session: AsyncSession, key: str) -> None:
    await session.execute(delete(LoginFailure).where(LoginFailure.key == key))
