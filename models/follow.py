"""Follow relations between actors, local or remote."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow
from models.types import IdType


class FollowState(str, enum.Enum):
    pending = "pending"
    accepted = "accepted"
    rejected = "rejected"


F = FollowState
# The one table of allowed moves: (state, event) -> next state; None is a follow not stored yet.
# "request" is a Follow (sent or received), "accept"/"reject" the followed actor's answer (automatic,
# or a peer's Accept/Reject, which may also come late or again), "approve"/"deny" a local actor's
# review of a pending request. Anything not listed is refused.
TRANSITIONS: dict[tuple[FollowState | None, str], FollowState] = {
    (None, "request"): F.pending,
    (F.pending, "request"): F.pending,
    (F.accepted, "request"): F.pending,  # a peer follows again: asked again (accepted at once if automatic)
    (F.rejected, "request"): F.pending,
    (F.pending, "accept"): F.accepted,
    (F.accepted, "accept"): F.accepted,  # a repeated Accept
    (F.rejected, "accept"): F.accepted,  # the peer changed its mind
    (F.pending, "reject"): F.rejected,
    (F.accepted, "reject"): F.rejected,  # the followed peer removed its follower
    (F.rejected, "reject"): F.rejected,
    (F.pending, "approve"): F.accepted,
    (F.pending, "deny"): F.rejected,
}


def next_follow_state(state: str | None, event: str) -> FollowState:
    """The state after event; ValueError when TRANSITIONS does not allow it."""
    try:
        return TRANSITIONS[(FollowState(state) if state is not None else None, event)]
    except (KeyError, ValueError):
        raise ValueError(f"a follow cannot {event} when it is {state or 'new'}") from None


def follow_allows(state: str | None, event: str) -> bool:
    try:
        next_follow_state(state, event)
    except ValueError:
        return False
    return True


def move_follow(follow: "Follow", event: str) -> FollowState:
    """Applies event to a follow through TRANSITIONS (the one place a follow's state changes)."""
    new = next_follow_state(follow.state, event)
    follow.state = new.value
    return new


class Follow(Base):
    __tablename__ = "follows"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    follower_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    followee_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default=FollowState.pending.value)
    activity_uri: Mapped[str] = mapped_column(String(2048), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("ix_follows_pair", "follower_id", "followee_id", unique=True),
        Index("ix_follows_followee_state", "followee_id", "state"),
        Index("ix_follows_follower_state", "follower_id", "state"),
    )


async def follow_between(session: AsyncSession, follower_id: int, followee_id: int) -> Follow | None:
    """The follow relation of one actor to another, if any."""
    return await session.scalar(
        select(Follow).where(Follow.follower_id == follower_id, Follow.followee_id == followee_id)
    )
