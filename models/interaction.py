"""What actors do with each other's posts (favourites, hashtags they carry) and what local accounts are told
about it (notifications)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow
from models.types import IdType

NOTIFICATION_TYPES = ("follow", "follow_request", "mention", "reblog", "favourite", "status")


class Favourite(Base):
    """A Like of an object, by a local or a remote actor."""

    __tablename__ = "favourites"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    object_id: Mapped[int] = mapped_column(ForeignKey("objects.id", ondelete="CASCADE"))
    activity_uri: Mapped[str] = mapped_column(String(2048), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_favourites_actor_object", "actor_id", "object_id", unique=True),
        Index("ix_favourites_object", "object_id"),
    )


class Hashtag(Base):
    """A hashtag an object carries (lower-case, without '#'), for tag timelines."""

    __tablename__ = "hashtags"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255))
    object_id: Mapped[int] = mapped_column(ForeignKey("objects.id", ondelete="CASCADE"))

    __table_args__ = (Index("ix_hashtags_name_object", "name", "object_id", unique=True),)


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    from_actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    object_id: Mapped[int | None] = mapped_column(ForeignKey("objects.id", ondelete="CASCADE"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_notifications_owner_id", "owner_id", "id"),)
