"""`interpeople migrate-db --to postgresql://...`: moves an instance from SQLite to PostgreSQL."""

from __future__ import annotations

import tomllib

from sqlalchemy import Table, func, insert, inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from federation.settings import SettingsError, check_database_url
from models import Base, Database
from models.migrate import upgrade
from server.commands.progress import Progress, note
from server.config import (
    check_database,
    check_sqlite_file,
    config_path,
    load_settings,
    sqlite_file,
    write_settings,
)

BATCH = 500


def _error(message: str) -> Exception:
    from server.commands.errors import CliError

    return CliError(message)


async def _counts(conn: AsyncConnection, tables: list[Table]) -> dict[str, int]:
    return {t.name: await conn.scalar(select(func.count()).select_from(t)) for t in tables}


async def _without_foreign_key_checks(target: AsyncConnection) -> bool:
    """Rows referring to later rows of their own table (a boost of a post fetched afterwards) need the
    checks off while copying; PostgreSQL allows that to superusers only, else rows go in id order."""
    try:
        async with target.begin_nested():
            await target.execute(text("SET LOCAL session_replication_role = replica"))
        return True
    except DBAPIError:
        return False


async def _copy_table(source: AsyncConnection, target: AsyncConnection, table: Table, total: int) -> None:
    if not total:
        return
    progress = Progress(f"copying {table.name}", total, "rows")
    done = 0
    order = list(table.primary_key.columns)
    result = await source.stream(select(table).order_by(*order))
    async for rows in result.mappings().partitions(BATCH):
        await target.execute(insert(table), [dict(row) for row in rows])
        done += len(rows)
        progress.update(done)
    progress.done()


async def _reset_sequences(target: AsyncConnection, tables: list[Table]) -> None:
    """Next ids continue after the copied ones (the copy wrote ids explicitly, past the sequences)."""
    for table in tables:
        if "id" not in table.c or not table.c.id.autoincrement:
            continue
        sequence = await target.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name})
        if sequence:
            await target.execute(
                text(f'SELECT setval(:s, COALESCE((SELECT MAX(id) FROM "{table.name}"), 0) + 1, false)'),
                {"s": sequence},
            )


async def _copy_all(source_db: Database, target_db: Database) -> dict[str, int]:
    async with source_db.engine.connect() as source, target_db.engine.connect() as target:
        present = set(await source.run_sync(lambda c: inspect(c).get_table_names()))
        tables = [t for t in Base.metadata.sorted_tables if t.name in present]
        unknown = present - {t.name for t in tables} - {"alembic_version"}
        if unknown:
            raise _error(
                f"the SQLite database has tables this version does not know: {', '.join(sorted(unknown))}"
            )
        targets = await _counts(target, tables)
        if any(targets.values()):
            raise _error("the target database already holds data; migrate into an empty database")
        wanted = await _counts(source, tables)
        note(f"copying {sum(wanted.values())} rows in {len(tables)} tables")
        unchecked = await _without_foreign_key_checks(target)
        for table in tables:
            await _copy_table(source, target, table, wanted[table.name])
        if unchecked:
            await target.execute(text("SET LOCAL session_replication_role = origin"))
        await _reset_sequences(target, tables)
        copied = await _counts(target, tables)
        if copied != wanted:
            differing = [
                f"{name}: {wanted[name]} -> {copied[name]}" for name in wanted if copied[name] != wanted[name]
            ]
            raise _error(f"row counts differ after the copy ({'; '.join(differing)}); nothing was changed")
        await target.commit()
    return wanted


async def cmd_migrate_db(args) -> None:
    settings = load_settings(args.data)
    if not settings.database_url.startswith("sqlite:///"):
        raise _error("this instance is not on SQLite; migrate-db moves an instance from SQLite to PostgreSQL")
    try:
        check_database_url(args.to)
    except SettingsError as error:
        raise _error(str(error)) from None
    if args.to.startswith("sqlite"):
        raise _error("--to must be a postgresql:// URL")
    check_sqlite_file(settings.database_url)
    source, target = Database(settings.database_url, pool_size=1), Database(args.to, pool_size=1)
    try:
        await check_database(source)
        await check_database(target)
        note("bringing both schemas up to date")
        await upgrade(source)
        await upgrade(target)
        counts = await _copy_all(source, target)
    except DBAPIError as error:
        raise _error(f"the copy failed, nothing was changed: {str(error.orig).splitlines()[0]}") from None
    finally:
        await source.close()
        await target.close()
    values = tomllib.loads(config_path(args.data).read_text(encoding="utf-8"))
    values["database_url"] = args.to
    write_settings(args.data, values)
    print(
        f"copied {sum(counts.values())} rows in {len(counts)} tables (row counts verified); config.toml now "
        f"uses PostgreSQL. The SQLite file {sqlite_file(settings.database_url)} is kept: remove it when "
        "satisfied."
    )


def add_commands(sub) -> None:
    p = sub.add_parser(
        "migrate-db",
        help="copy the instance from SQLite to PostgreSQL (stop `serve` first), "
        "verify the row counts, then switch config.toml to it",
    )
    p.add_argument(
        "--to",
        required=True,
        metavar="URL",
        help="postgresql://user[:password]@host[:port]/dbname (an empty database)",
    )
    p.set_defaults(run=cmd_migrate_db)
