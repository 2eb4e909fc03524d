"""Actors (local movements and members, remote actors) and their keys."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column, validates

from models.base import Base, UTCDateTime, utcnow
from models.types import IdType, JsonType, WebUrl, web_url

ROLES = ("member", "signatory", "admin")


class Actor(Base):
    __tablename__ = "actors"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    uri: Mapped[str] = mapped_column(String(2048), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    local: Mapped[bool] = mapped_column(Boolean, default=False)
    username: Mapped[str] = mapped_column(String(255))
    host: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    url: Mapped[str | None] = mapped_column(WebUrl, nullable=True)  # a profile page: http(s) only
    inbox: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    shared_inbox: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    outbox: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    followers_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    following_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    # Local members belong to a movement and have a role and a password.
    movement_id: Mapped[int | None] = mapped_column(ForeignKey("actors.id"), nullable=True)
    role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Whether Follow requests are accepted without review.
    auto_accept: Mapped[bool] = mapped_column(Boolean, default=True)
    document: Mapped[dict | None] = mapped_column(JsonType, nullable=True)
    fetched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_actors_username_host", "username", "host", unique=True),
        Index("ix_actors_movement_id", "movement_id"),
    )

    @validates("url")
    def _only_web_urls(self, key: str, value: str | None) -> str | None:
        return web_url(value)

    @property
    def handle(self) -> str:
        return f"{self.username}@{self.host}"

    @property
    def delivery_inbox(self) -> str | None:
        return self.shared_inbox or self.inbox


class Key(Base):
    """A public key an actor publishes; local keys also hold the private half."""

    __tablename__ = "keys"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    uri: Mapped[str] = mapped_column(String(2048), unique=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "rsa" (publicKeyPem) or "ed25519" (Multikey)
    public: Mapped[str] = mapped_column(Text)  # PEM for rsa, multibase for ed25519
    private: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


async def newest_private_key(session: AsyncSession, actor_id: int, kind: str) -> Key | None:
    """A local actor's newest key row of a kind ("rsa", "ed25519") that holds its private key."""
    return await session.scalar(
        select(Key)
        .where(Key.actor_id == actor_id, Key.kind == kind, Key.private.is_not(None))
        .order_by(Key.id.desc())
        .limit(1)
    )


async def local_actor(session: AsyncSession, name: str) -> Actor | None:
    """A local actor (movement or member) by username."""
    return await session.scalar(select(Actor).where(Actor.local.is_(True), Actor.username == name))


async def actor_by_uri(session: AsyncSession, uri: str) -> Actor | None:
    """A known actor (local or remote) by its id."""
    return await session.scalar(select(Actor).where(Actor.uri == uri))


async def actors_by_uris(session: AsyncSession, uris) -> list[Actor]:
    """The known actors among these ids (no query when there are none)."""
    uris = list(uris)
    if not uris:
        return []
    return list((await session.scalars(select(Actor).where(Actor.uri.in_(uris)))).all())


async def local_actor_by_uri(session: AsyncSession, uri: str) -> Actor | None:
    """A local actor by its id (None for remote ones)."""
    return await session.scalar(select(Actor).where(Actor.uri == uri, Actor.local.is_(True)))


async def actor_by_handle(session: AsyncSession, name: str, host: str) -> Actor | None:
    """A known actor by username and host (as stored: lower case)."""
    return await session.scalar(select(Actor).where(Actor.username == name, Actor.host == host))


async def local_person(session: AsyncSession, name: str) -> Actor | None:
    """A local member (a Person, who may sign in) by username."""
    return await session.scalar(
        select(Actor).where(Actor.local.is_(True), Actor.type == "Person", Actor.username == name)
    )


async def local_movement(session: AsyncSession, name: str) -> Actor | None:
    """A local movement by username: a Group that belongs to no movement (spaces are such Groups too)."""
    return await session.scalar(
        select(Actor).where(
            Actor.local.is_(True), Actor.username == name, Actor.type == "Group", Actor.movement_id.is_(None)
        )
    )
