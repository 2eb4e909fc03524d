"""Objects (Notes and other content), activities, and what local actors have received."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow
from models.types import IdType, JsonType


class Object(Base):
    __tablename__ = "objects"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    uri: Mapped[str] = mapped_column(String(2048), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    local: Mapped[bool] = mapped_column(Boolean, default=False)
    attributed_to_id: Mapped[int | None] = mapped_column(
        ForeignKey("actors.id", ondelete="CASCADE"), nullable=True
    )
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    content: Mapped[str | None] = mapped_column(Text, nullable=True)  # sanitised HTML
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(2048), nullable=True, index=True)
    context: Mapped[str | None] = mapped_column(String(2048), nullable=True, index=True)
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    published: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    document: Mapped[dict] = mapped_column(JsonType)
    # A boost, as the Mastodon API shows it: an object of type Announce pointing at what it boosts.
    reblog_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("objects.id", ondelete="CASCADE"), nullable=True
    )
    # public, unlisted, private or direct (None: derived from `public`).
    visibility: Mapped[str | None] = mapped_column(String(16), nullable=True)

    __table_args__ = (
        Index("ix_objects_author_published", "attributed_to_id", "published"),
        Index("ix_objects_author_id", "attributed_to_id", "deleted_at", "id"),
        Index("ix_objects_reblog_of_id", "reblog_of_id"),
    )


class Activity(Base):
    """Every activity sent or received, stored once by id (duplicates are ignored)."""

    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    uri: Mapped[str] = mapped_column(String(2048), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), nullable=True)
    object_uri: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    local: Mapped[bool] = mapped_column(Boolean, default=False)
    # The exact JSON text: sent as is to every inbox, so each signature covers the same body.
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_activities_actor_local", "actor_id", "local", "id"),)


class ObjectVersion(Base):
    """An earlier version of an edited post (title, HTML, source), kept for its edit history."""

    __tablename__ = "object_versions"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    object_id: Mapped[int] = mapped_column(ForeignKey("objects.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    content: Mapped[str | None] = mapped_column(Text, nullable=True)  # sanitised HTML
    source: Mapped[str | None] = mapped_column(Text, nullable=True)
    # When this version was written (the post's published or previous updated time).
    written_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    replaced_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_object_versions_object", "object_id", "id"),)


class TimelineEntry(Base):
    """An object that reached a local actor from someone it follows, or addressed to it."""

    __tablename__ = "timeline_entries"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    object_id: Mapped[int] = mapped_column(ForeignKey("objects.id", ondelete="CASCADE"))
    via_actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("actors.id", ondelete="CASCADE"), nullable=True
    )
    activity_id: Mapped[int | None] = mapped_column(
        ForeignKey("activities.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_timeline_owner_object", "owner_id", "object_id", unique=True),
        Index("ix_timeline_owner_id", "owner_id", "id"),
    )


async def object_by_uri(session: AsyncSession, uri: str) -> Object | None:
    """A known object (post) by its id."""
    return await session.scalar(select(Object).where(Object.uri == uri))


async def local_object_by_uri(session: AsyncSession, uri: str) -> Object | None:
    """An object created here, by its id."""
    return await session.scalar(select(Object).where(Object.uri == uri, Object.local.is_(True)))


async def activity_by_uri(session: AsyncSession, uri: str) -> Activity | None:
    """A stored activity (sent or received) by its id."""
    return await session.scalar(select(Activity).where(Activity.uri == uri))


async def local_activity_by_uri(session: AsyncSession, uri: str) -> Activity | None:
    """An activity sent from here, by its id."""
    return await session.scalar(select(Activity).where(Activity.uri == uri, Activity.local.is_(True)))
