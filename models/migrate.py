"""Applies Alembic migrations to an instance database (SQLite or PostgreSQL)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from models.base import Database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant will do: it serialises concurrent `serve` processes starting on PostgreSQL.
PG_LOCK_KEY = 0x1A7E_9E0B


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _upgrade(connection, cfg: Config) -> None:
    from alembic import command

    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "heads")


def _pending(connection, cfg: Config) -> bool:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(cfg).get_heads())
    current = set(MigrationContext.configure(connection).get_current_heads())
    return heads != current


def script_heads() -> set[str] | None:
    """The newest revisions of the migration scripts, read from their `revision` and `down_revision` lines
    without importing Alembic (which costs a serve process ~14 MB); None when a script cannot be read so."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        if path.name.startswith("__"):
            continue
        values = {}
        for node in ast.parse(path.read_text()).body:
            target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
            if isinstance(target, ast.Name):
                try:
                    values[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    continue
        if not isinstance(values.get("revision"), str):
            return None
        revisions.add(values["revision"])
        down = values.get("down_revision")
        parents.update(down if isinstance(down, (tuple, list)) else [down] if down else [])
    return revisions - parents or None


async def _stored_heads(db: Database) -> set[str] | None:
    try:
        async with db.engine.connect() as conn:
            return set((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars())
    except DBAPIError:  # no schema yet
        return None


async def upgrade(db: Database) -> None:
    """Bring the schema to the newest revision; safe to call from several processes. When the database
    already has the newest revisions (the usual start), Alembic is not even imported."""
    heads = script_heads()
    if heads is not None and await _stored_heads(db) == heads:
        return
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
