"""Declarative base, engine creation and session handling for SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import AsyncIterator, Awaitable, Callable, TypeVar

from sqlalchemy import Connection, DateTime, Engine, MetaData, Table, create_engine, event, insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both backends (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        if value is not None and dialect.name == "sqlite":
            return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def async_url(url: str) -> str:
    """Map plain database URLs to the async drivers we ship with."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    # WAL lets the CLI and the server share the file; NORMAL keeps commits durable
    # across process crashes (only an OS crash can lose the last transaction).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


T = TypeVar("T")
READERS = (
    2  # reader threads (and sqlite3 connections) of run_read: one's SQLite work beside the other's Python
)


def postgresql_insert(table):
    """PostgreSQL's INSERT (with ON CONFLICT); its dialect is imported only where PostgreSQL is used."""
    from sqlalchemy.dialects.postgresql import insert

    return insert(table)


def _insert_skipping_conflicts(session: AsyncSession, model: type, keys: list[str]):
    dialect_insert = postgresql_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    return dialect_insert(model).on_conflict_do_nothing(index_elements=keys)


async def insert_unless_present(session: AsyncSession, model: type, key: str, values: dict) -> int | None:
    """Inserts one row unless a row with the same unique `key` exists (a concurrent writer may have just
    added it); the new row's id, or None when it was already there."""
    return await session.scalar(
        _insert_skipping_conflicts(session, model, [key]).values(**values).returning(model.id)
    )


async def insert_all_unless_present(
    session: AsyncSession, model: type, keys: list[str], rows: list[dict]
) -> None:
    """Inserts rows, skipping those whose unique `keys` another writer has already stored."""
    await session.execute(_insert_skipping_conflicts(session, model, keys), rows)


def insert_rows(conn: Connection, table: Table, rows: list[dict]) -> list[int]:
    """Inserts rows (dicts with the same keys) in one statement's worth of work; their new ids, in order.

    For bulk writes inside run_in_transaction. On SQLite the rows go straight to the sqlite3
    connection (values converted by the columns' own types), which costs a fraction of SQLAlchemy's
    per-row work; elsewhere an INSERT .. RETURNING through SQLAlchemy.
    """
    if not rows:
        return []
    names = list(rows[0])
    if conn.dialect.name != "sqlite":
        return list(
            conn.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
            .scalars()
            .all()
        )
    processors = [table.c[name].type._cached_bind_processor(conn.dialect) for name in names]
    converting = [(i, p) for i, p in enumerate(processors) if p is not None]
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    cursor = conn.connection.driver_connection.cursor()
    ids = []
    # Rows often share one value object (the batch's `now`): convert each object once. Every row is
    # alive until we return, so id() names one object for the whole call.
    converted: dict[tuple[int, int], object] = {}
    try:
        for row in rows:
            values = [row[name] for name in names]
            for i, process in converting:
                value = values[i]
                key = (i, id(value))
                done = converted.get(key, converted)
                if done is converted:
                    done = converted[key] = process(value)
                values[i] = done
            cursor.execute(sql, values)
            ids.append(cursor.lastrowid)
    finally:
        cursor.close()
    return ids


def is_busy(error: BaseException) -> bool:
    """Whether an error is SQLite's lock not had within busy_timeout (a retry may succeed), raw or wrapped
    by SQLAlchemy."""
    original = getattr(error, "orig", error)
    return isinstance(original, sqlite3.OperationalError) and (
        "locked" in str(original) or "busy" in str(original)
    )


class Database:
    """One engine and session factory for an instance's database."""

    def __init__(self, url: str, pool_size: int = 10):
        self.url = async_url(url)
        kwargs: dict = {}
        if self.url.startswith("postgresql"):
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._sync_engine: Engine | None = None
        self._sync_thread: ThreadPoolExecutor | None = None
        self._read_engine: Engine | None = None
        self._read_thread: ThreadPoolExecutor | None = None
        self._readers = threading.local()
        self._reader_conns: list[Connection] = []
        self._write_gates: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def write_session(self) -> AsyncIterator[AsyncSession]:
        """A session for a short write transaction (no network waits inside). On SQLite these take turns
        within the process: SQLite writes one at a time anyway, and its busy handler is not fair, so many
        connections polling for the lock can starve the inbox journal's writer past busy_timeout."""
        if not self.is_sqlite:
            async with self.session() as session:
                yield session
            return
        loop = asyncio.get_running_loop()
        gate = self._write_gates.get(loop)
        if gate is None:
            self._write_gates.clear()  # a gate belongs to one event loop; the last loop's is done with
            gate = self._write_gates[loop] = asyncio.Lock()
        async with gate:
            async with self.session() as session:
                yield session

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed on success, rolled back on error."""
        async with self.sessions() as session:
            async with session.begin():
                yield session

    async def run_in_transaction(self, fn: Callable[..., T], *args) -> T:
        """Runs fn(connection, *args), written with plain (blocking) Core calls, in one transaction.

        For bulk writes: on SQLite, fn runs in one thread of its own on a plain sqlite3 connection,
        so a whole batch costs one hop to a thread instead of one per statement; on PostgreSQL it
        runs through the async driver (SQLAlchemy's run_sync).
        """
        if not self.is_sqlite:
            async with self.engine.begin() as conn:
                return await conn.run_sync(fn, *args)
        if self._sync_engine is None:
            self._sync_engine = create_engine(
                self.url.replace("+aiosqlite", "", 1), pool_size=1, max_overflow=0
            )
            event.listen(self._sync_engine, "connect", _sqlite_pragmas)
            self._sync_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")

        def run() -> T:
            with self._sync_engine.begin() as conn:
                return fn(conn, *args)

        return await asyncio.get_running_loop().run_in_executor(self._sync_thread, run)

    async def run_read(self, fn: Callable[..., T], *args) -> T:
        """Runs fn(connection, *args), plain (blocking) Core reads, in one read-only transaction.

        For hot read paths (API pages): on SQLite, fn runs in a reader thread of its own on a plain
        sqlite3 connection (WAL lets it read beside the writer), one hop for all its queries; on
        PostgreSQL it runs through the async driver (SQLAlchemy's run_sync).
        """
        if not self.is_sqlite:
            async with self.engine.connect() as conn:
                return await conn.run_sync(fn, *args)
        if self._read_engine is None:
            self._read_engine = create_engine(
                self.url.replace("+aiosqlite", "", 1), pool_size=READERS, max_overflow=0
            )
            event.listen(self._read_engine, "connect", _sqlite_pragmas)
            self._read_thread = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="sqlite-reader")
        engine, readers = self._read_engine, self._readers

        def run() -> T:
            # Each reader thread keeps its connection (no pool check-out per call).
            conn = getattr(readers, "conn", None)
            if conn is None or conn.engine is not engine:
                conn = readers.conn = engine.connect()
                self._reader_conns.append(conn)
            try:
                return fn(conn, *args)
            finally:
                try:
                    conn.rollback()
                except Exception:  # a broken connection: the next call opens another
                    readers.conn = None
                    conn.invalidate()

        return await asyncio.get_running_loop().run_in_executor(self._read_thread, run)

    async def session_retried_on_conflict(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Runs work(session) in its own transaction, and once more if a concurrent insert of the same
        unique row won the race (the second try finds that row and updates it)."""
        try:
            async with self.session() as session:
                return await work(session)
        except IntegrityError:
            async with self.session() as session:
                return await work(session)

    async def close(self) -> None:
        if self._sync_engine is not None:
            self._sync_thread.shutdown(wait=True)
            self._sync_engine.dispose()
            self._sync_engine = self._sync_thread = None
        if self._read_engine is not None:
            self._read_thread.shutdown(wait=True)
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()
            self._read_engine.dispose()
            self._read_engine = self._read_thread = None
        await self.engine.dispose()
