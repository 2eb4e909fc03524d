"""An instance upgraded to a new release keeps what its database held: schema migrations move data, not
only tables (run on SQLite and, when configured, PostgreSQL)."""

import asyncio
import os

import pytest
from sqlalchemy import text

from models.base import Database
from models.migrate import alembic_config
from tests.harness import PG_ENV, PostgresDatabases


@pytest.fixture
def empty_database(tmp_path, backend):
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'upgrade.db'}"
        return
    databases = PostgresDatabases(os.environ[PG_ENV])
    yield databases.create(empty=True)
    databases.drop_all()


def _migrate(connection, revision: str, down: bool = False) -> None:
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(cfg, revision)


def run(url: str, *steps) -> list[list[tuple]]:
    """Runs each step (a revision to migrate to, or SQL to execute) in its own transaction; the rows of
    each SQL step that returns rows."""

    async def go():
        db = Database(url)
        found = []
        try:
            for step in steps:
                async with db.engine.begin() as connection:
                    if isinstance(step, tuple):
                        await connection.run_sync(_migrate, *step)
                    else:
                        result = await connection.execute(text(step))
                        if result.returns_rows:
                            found.append([tuple(row) for row in result.all()])
        finally:
            await db.close()
        return found

    return asyncio.run(go())


WAITING_ENTRY = (
    "INSERT INTO inbox_entries (activity_uri, activity_type, actor_uri, order_key, payload, state, attempts, "
    "next_attempt_at, received_at) VALUES ('https://peer.example/a/1', 'Create', 'https://peer.example/u', "
    "'https://peer.example/o/1', '{\"type\": \"Create\"}', 'received', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
)


def test_a_journal_entry_waiting_at_the_upgrade_keeps_its_body_in_inbox_payloads(empty_database):
    [bodies] = run(
        empty_database,
        ("0011_forum",),
        WAITING_ENTRY,
        ("heads",),
        "SELECT e.activity_uri, p.payload FROM inbox_entries e JOIN inbox_payloads p ON p.entry_id = e.id",
    )
    assert bodies == [("https://peer.example/a/1", '{"type": "Create"}')]


def test_a_downgrade_puts_the_bodies_back_into_the_journal(empty_database):
    [bodies] = run(
        empty_database,
        ("0011_forum",),
        WAITING_ENTRY,
        ("heads",),
        ("0011_forum", True),
        "SELECT activity_uri, payload FROM inbox_entries",
    )
    assert bodies == [("https://peer.example/a/1", '{"type": "Create"}')]
