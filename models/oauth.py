"""Client apps of the Mastodon API: registered apps, authorization codes, access tokens (all secrets hashed),
idempotency keys of posted statuses, and read markers."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, validates

from models.base import Base, UTCDateTime, utcnow
from models.types import IdType, WebUrl, web_url


def digest(secret: str) -> str:
    """What is stored in place of a secret: its SHA-256 (secrets are long random strings, so no salt is needed)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class OAuthApp(Base):
    __tablename__ = "oauth_apps"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    website: Mapped[str | None] = mapped_column(WebUrl, nullable=True)  # http(s) only
    redirect_uris: Mapped[str] = mapped_column(Text)  # one a line
    scopes: Mapped[str] = mapped_column(String(1024))  # space-separated
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    @validates("website")
    def _only_web_urls(self, key: str, value: str | None) -> str | None:
        return web_url(value)

    @property
    def redirect_uri_list(self) -> list[str]:
        return [u for u in self.redirect_uris.splitlines() if u.strip()]


class AuthorizationCode(Base):
    """A one-time code from the consent page, exchanged for a token within minutes."""

    __tablename__ = "oauth_codes"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("oauth_apps.id", ondelete="CASCADE"))
    # The account the app will act as (a member, or a movement the member administers) and who consented.
    account_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    scopes: Mapped[str] = mapped_column(String(1024))
    code_challenge: Mapped[str | None] = mapped_column(String(255), nullable=True)
    code_challenge_method: Mapped[str | None] = mapped_column(String(16), nullable=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AccessToken(Base):
    __tablename__ = "oauth_tokens"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("oauth_apps.id", ondelete="CASCADE"), index=True)
    # None for an app token (client_credentials grant).
    account_id: Mapped[int | None] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), nullable=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), nullable=True)
    scopes: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class IdempotencyKey(Base):
    """A status posted with an Idempotency-Key: the same key from the same account returns the same status."""

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    object_id: Mapped[int] = mapped_column(ForeignKey("objects.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_idempotency_account_key", "account_id", "key", unique=True),)


class Marker(Base):
    """Where an account stopped reading a timeline (home, notifications)."""

    __tablename__ = "markers"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    timeline: Mapped[str] = mapped_column(String(32))
    last_read_id: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_markers_account_timeline", "account_id", "timeline", unique=True),)
