"""Follow relations between actors, local or remote."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow
from models.types import IdType


class FollowState(str, enum.Enum):
    pending = "pending"
    accepted = "accepted"
    rejected = "rejected"


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
    )
