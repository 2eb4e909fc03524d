"""Ways into an instance without a shell: invitations, join requests (sign-up with approval), password resets."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow
from models.types import IdType


class Invitation(Base):
    """A link an admin makes: whoever opens it may become a member of the movement, `uses` times at most."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the secret in the link
    movement_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16), default="member")
    uses: Mapped[int] = mapped_column(Integer, default=1)
    used: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("actors.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class JoinState(str, enum.Enum):
    pending = "pending"
    approved = "approved"
    refused = "refused"


# The one table of allowed moves of a join request.
JOIN_TRANSITIONS: dict[JoinState, frozenset[JoinState]] = {
    JoinState.pending: frozenset({JoinState.approved, JoinState.refused}),
    JoinState.approved: frozenset(),
    JoinState.refused: frozenset(),
}


class JoinRequest(Base):
    """Someone asks to become a member of a movement; the instance's admins approve or refuse."""

    __tablename__ = "join_requests"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    movement_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default=JoinState.pending.value)
    decided_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("actors.id", ondelete="SET NULL"), nullable=True
    )
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_join_requests_state", "state", "id"),)


class PasswordReset(Base):
    """A one-time link an admin makes so a member who forgot the password can choose a new one."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("actors.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DomainBlock(Base):
    """A peer instance (and its subdomains) this instance refuses: its activities and our deliveries to it."""

    __tablename__ = "domain_blocks"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("actors.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
