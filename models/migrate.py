"""Applies Alembic migrations to an instance database (SQLite or PostgreSQL)."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from models.base import Database

MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant will do: it serialises concurrent `serve` processes starting on PostgreSQL.
PG_LOCK_KEY = 0x1A7E_9E0B


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _upgrade(connection, cfg: Config) -> None:
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "heads")


def _pending(connection, cfg: Config) -> bool:
    heads = set(ScriptDirectory.from_config(cfg).get_heads())
    current = set(MigrationContext.configure(connection).get_current_heads())
    return heads != current


async def upgrade(db: Database) -> None:
    """Bring the schema to the newest revision; safe to call from several processes."""
    cfg = alembic_config()
    async with db.engine.connect() as conn:
        if not db.is_sqlite:
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": PG_LOCK_KEY})
        try:
            if await conn.run_sync(_pending, cfg):
                await conn.run_sync(_upgrade, cfg)
            await conn.commit()
        finally:
            if not db.is_sqlite:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_LOCK_KEY})
                await conn.commit()
