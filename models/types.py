"""Column types shared by the models."""

from urllib.parse import urlsplit

from sqlalchemy import JSON, BigInteger, Integer, String
from sqlalchemy.types import TypeDecorator

# A 64-bit key on PostgreSQL; SQLite needs INTEGER to alias the rowid.
IdType = BigInteger().with_variant(Integer(), "sqlite")
MAX_URL = 2048


class JsonType(TypeDecorator):
    """JSON; JSONB on PostgreSQL. The PostgreSQL dialect (some 20 modules) is imported only when a
    PostgreSQL database is used, not by an instance on SQLite."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


def web_url(value: object) -> str | None:
    """value when it is an absolute http(s) URL with a host, else None (javascript:, data:, relative, ...)."""
    if not isinstance(value, str) or len(value) > MAX_URL or any(ord(c) < 0x21 or c == "\\" for c in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme.lower() in ("http", "https") and parts.hostname else None


class WebUrl(TypeDecorator):
    """A link to a web page taken from a remote actor or a client: only http(s) URLs are ever stored."""

    impl = String(MAX_URL)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return web_url(value)

    def process_result_value(self, value, dialect):
        return web_url(value)  # rows stored before this check are filtered when read
