"""Forum spaces: the Group actors that host threads, their rules, moderators, bans, and the thread index."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow
from models.types import IdType

VISIBILITIES = ("public", "members")


class Space(Base):
    """A forum space: a Group actor (local, or a remote one this instance has seen announce)."""

    __tablename__ = "spaces"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), unique=True)
    local: Mapped[bool] = mapped_column(Boolean, default=False)
    # The local movement that owns a local space.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("actors.id", ondelete="SET NULL"), nullable=True)
    rules: Mapped[str | None] = mapped_column(Text, nullable=True)
    # "public": anyone may join and post; "members": only members of the listed movements.
    visibility: Mapped[str] = mapped_column(String(16), default="public")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SpaceMovement(Base):
    """A movement whose members may take part in a members-only space."""

    __tablename__ = "space_movements"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"))
    movement_uri: Mapped[str] = mapped_column(String(2048))

    __table_args__ = (Index("ix_space_movements_pair", "space_id", "movement_uri", unique=True),)


class SpaceModerator(Base):
    __tablename__ = "space_moderators"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"))
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))

    __table_args__ = (Index("ix_space_moderators_pair", "space_id", "actor_id", unique=True),)


class SpaceBan(Base):
    """An actor the space refuses (sent as Block by the space)."""

    __tablename__ = "space_bans"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"))
    actor_uri: Mapped[str] = mapped_column(String(2048))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_space_bans_pair", "space_id", "actor_uri", unique=True),)


class SpacePost(Base):
    """A thread or reply as it belongs to a space; thread rows also carry the thread's aggregates."""

    __tablename__ = "space_posts"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"))
    object_id: Mapped[int] = mapped_column(ForeignKey("objects.id", ondelete="CASCADE"), unique=True)
    # The thread's root object (its own id for a thread).
    thread_id: Mapped[int] = mapped_column(ForeignKey("objects.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("objects.id", ondelete="CASCADE"), nullable=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), nullable=True)
    is_thread: Mapped[bool] = mapped_column(Boolean, default=False)
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Aggregates, kept on thread rows only.
    reply_count: Mapped[int] = mapped_column(Integer, default=0)
    last_activity_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    # A thread moderators pinned (the space's `featured` collection): shown first.
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index("ix_space_posts_threads", "space_id", "is_thread", "last_activity_at"),
        Index("ix_space_posts_thread_id", "thread_id", "id"),
    )


class SpaceReport(Base):
    """A Flag (report) about a post or an actor, for the space's moderators."""

    __tablename__ = "space_reports"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"))
    reporter_uri: Mapped[str] = mapped_column(String(2048))
    object_uri: Mapped[str] = mapped_column(String(2048))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("actors.id", ondelete="SET NULL"), nullable=True
    )
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_space_reports_space", "space_id", "resolved"),)


MODERATION_ACTIONS = (
    "remove",
    "lock",
    "unlock",
    "ban",
    "unban",
    "pin",
    "unpin",
    "add-moderator",
    "remove-moderator",
)


class ModerationEntry(Base):
    """One line of a space's public moderation log: who did what to which post or actor, and why."""

    __tablename__ = "space_moderation_log"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"))
    # The local moderator who acted (None when the space's own activity is all we know, on followers).
    moderator_id: Mapped[int | None] = mapped_column(
        ForeignKey("actors.id", ondelete="SET NULL"), nullable=True
    )
    action: Mapped[str] = mapped_column(String(32))
    target_uri: Mapped[str] = mapped_column(String(2048))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_space_moderation_log_space", "space_id", "id"),)


class ThreadRead(Base):
    """When a local member last opened a thread (unread markers)."""

    __tablename__ = "space_thread_reads"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    thread_id: Mapped[int] = mapped_column(ForeignKey("objects.id", ondelete="CASCADE"))
    read_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_space_thread_reads_pair", "actor_id", "thread_id", unique=True),)
