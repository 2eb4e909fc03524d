"""A Federation on a fresh, migrated SQLite database in a test's folder, for unit tests that need rows."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator


@asynccontextmanager
async def fresh_federation(folder: Path, name: str = "unit") -> AsyncIterator:
    from federation.context import Federation
    from federation.settings import Settings
    from models import Database
    from models.migrate import upgrade

    url = f"sqlite:///{folder / name}.db"
    db = Database(url)
    fed = Federation(Settings(base_url="http://127.0.0.1:8", database_url=url), db)
    try:
        await upgrade(db)
        yield fed
    finally:
        await fed.close()
        await db.close()
