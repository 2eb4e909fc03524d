"""The inbox journal: durable, group-committed appends of verified activities, and claims for processing.

An inbox request is answered once its activity is committed here. Processors (federation/inbox_worker.py,
one per `serve` process) claim entries in journal order; an entry waits while an earlier unfinished entry
shares its order key (the object it is about), so an Update or Delete never overtakes its Create.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import random
from dataclasses import dataclass

from sqlalchemy import Connection, and_, delete, exists, select, update
from sqlalchemy.orm import aliased

from federation.context import Federation
from federation.refusal import Refusal
from federation.vocabulary import dumps, id_of, iso_or_none
from models import InboxEntry, InboxPayload, utcnow
from models.base import is_busy, postgresql_insert
from models.inbox_entry import CLAIMABLE, FINISHED, UNFINISHED, InboxState, sources_of

log = logging.getLogger(__name__)
S = InboxState
PRUNABLE = (S.done.value, S.refused.value)
MAX_APPEND_BATCH = 512
PRUNE_BATCH = 5000  # rows deleted per transaction, so pruning never holds the database for long
APPEND_TRIES = 2  # a busy database is tried again once before the request is answered 503
_WRAPPERS = ("Undo", "Accept", "Reject", "Announce")


def order_key(document: dict) -> str:
    """What an activity is about, for ordering: the id of its object, looking through Undo/Accept/Reject/
    Announce of an embedded activity (Undo{Like{post}} is about the post); the activity's own id otherwise."""
    own_id = document["id"]  # a string: the inbox refuses an activity without one
    value = document.get("object")
    for _ in range(3):
        if (
            document.get("type") in _WRAPPERS
            and isinstance(value, dict)
            and isinstance(value.get("type"), str)
            and value.get("object") is not None
            and "actor" in value
        ):
            document, value = value, value.get("object")
            continue
        break
    key = id_of(value) or id_of(document.get("id")) or own_id
    return key[:2048]


@dataclass
class Claimed:
    id: int
    activity_uri: str
    recipient_id: int | None
    payload: str
    attempts: int
    received_at: dt.datetime | None = None


@dataclass
class Outcome:
    """What processing an entry came to."""

    state: InboxState
    error: str | None = None
    status: int = 202  # for a refusal: the HTTP status a waiting request answers with


@dataclass
class _Append:
    values: dict
    payload: str
    answer: asyncio.Future


def _payload(body: bytes, document: dict) -> str:
    """The JSON text as received (it parsed, so it is JSON)."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return dumps(document)


def _insert_sqlite(conn: Connection, rows: list[dict], payloads: list[str]) -> list[int | None]:
    """INSERT OR IGNORE straight on the sqlite3 connection (values converted by the columns' types)."""
    table = InboxEntry.__table__
    names = list(rows[0])
    processors = [table.c[name].type._cached_bind_processor(conn.dialect) for name in names]
    sql = f"INSERT OR IGNORE INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    body_sql = f"INSERT INTO {InboxPayload.__tablename__} (entry_id, payload) VALUES (?, ?)"
    cursor = conn.connection.driver_connection.cursor()
    ids: list[int | None] = []
    try:
        for row, payload in zip(rows, payloads):
            cursor.execute(sql, [p(row[n]) if p else row[n] for n, p in zip(names, processors)])
            new_id = cursor.lastrowid if cursor.rowcount == 1 else None
            if new_id is not None:
                cursor.execute(body_sql, (new_id, payload))
            ids.append(new_id)
    finally:
        cursor.close()
    return ids


@functools.cache
def _append_on_postgresql():
    """The journal's INSERT on PostgreSQL: an activity id already journaled is skipped (no row returned).
    Built at first use: the PostgreSQL dialect is imported only where PostgreSQL is used."""
    return (
        postgresql_insert(InboxEntry.__table__)
        .on_conflict_do_nothing(index_elements=["activity_uri"])
        .returning(InboxEntry.id, InboxEntry.activity_uri)
    )


def _insert_entries(conn: Connection, rows: list[dict], payloads: list[str]) -> list[int | None]:
    """Appends entries and their payloads in one transaction; each one's new id, or None for an activity id
    already journaled."""
    if conn.dialect.name == "sqlite":
        return _insert_sqlite(conn, rows, payloads)
    # One statement for every batch size (executemany, which SQLAlchemy sends as multi-row INSERTs): compiled
    # once, where .values(rows) compiled a new statement for each batch (a quarter of the inbox's CPU).
    inserted = dict((uri, id_) for id_, uri in conn.execute(_append_on_postgresql(), rows).all())
    ids = [inserted.get(row["activity_uri"]) for row in rows]
    bodies = [{"entry_id": id_, "payload": payload} for id_, payload in zip(ids, payloads) if id_ is not None]
    if bodies:
        conn.execute(InboxPayload.__table__.insert(), bodies)
    return ids


class Journal:
    """Appends verified activities (group commit) and hands out entries for processing."""

    def __init__(self, fed: Federation):
        self.fed = fed
        self.settings = fed.settings
        self.appended = asyncio.Event()  # wakes this process's processor
        self._waiting: list[_Append] = []
        self._writer: asyncio.Task | None = None
        self._watchers: dict[int, asyncio.Future] = {}

    # ------------------------------------------------------------ appending

    async def append(self, document: dict, body: bytes, recipient_id: int | None) -> int | None:
        """Commits the activity to the journal; its entry id, or None when that activity id is already there.

        Requests arriving while a batch is being written make up the next batch (one commit for all)."""
        now = utcnow()
        values = {
            "activity_uri": document["id"],
            "activity_type": str(document["type"])[:64],
            "actor_uri": id_of(document["actor"]),
            "order_key": order_key(document),
            "recipient_id": recipient_id,
            "state": S.received.value,
            "attempts": 0,
            "next_attempt_at": now,
            "received_at": now,
        }
        pending = _Append(values, _payload(body, document), asyncio.get_running_loop().create_future())
        self._waiting.append(pending)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        return await pending.answer

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_APPEND_BATCH], self._waiting[MAX_APPEND_BATCH:]
            rows, payloads, seen, firsts = [], [], {}, []
            for item in batch:  # the same id twice in one batch: the second is a duplicate
                uri = item.values["activity_uri"]
                firsts.append(uri not in seen)
                if uri not in seen:
                    seen[uri] = len(rows)
                    rows.append(item.values)
                    payloads.append(item.payload)
            try:
                ids = await self._insert(rows, payloads)
            except Exception as error:
                for item in batch:
                    if not item.answer.done():
                        item.answer.set_exception(error)
                continue
            for item, first in zip(batch, firsts):
                if not item.answer.done():
                    item.answer.set_result(ids[seen[item.values["activity_uri"]]] if first else None)
            self.appended.set()

    async def _insert(self, rows: list[dict], payloads: list[str]) -> list[int | None]:
        """The batch committed; a database that stays busy (SQLite's lock not had within busy_timeout, as
        on a machine starved of CPU) is tried again once, then refused with 503: nothing was stored, and
        the sender's retry delivers it later."""
        for attempt in range(APPEND_TRIES):
            try:
                return await self.fed.db.run_in_transaction(_insert_entries, rows, payloads)
            except Exception as error:
                if not is_busy(error):
                    raise
                log.warning("inbox journal: database busy, %d activities not yet stored", len(rows))
                if attempt + 1 < APPEND_TRIES:
                    await asyncio.sleep(0.5)
        raise Refusal(503, "the database is busy: the activity was not stored; send it again later")

    # ------------------------------------------------------------ waiting for an outcome (in this process)

    async def outcome(self, entry_id: int, timeout: float) -> Outcome | None:
        """The entry's outcome when this process finishes it within timeout; None otherwise."""
        future = self._watchers.setdefault(entry_id, asyncio.get_running_loop().create_future())
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            return None
        finally:
            self._watchers.pop(entry_id, None)

    @property
    def awaited(self) -> bool:
        """Whether a request in this process is waiting for an entry's outcome."""
        return bool(self._watchers)

    def tell(self, entry_id: int, outcome: Outcome) -> None:
        future = self._watchers.get(entry_id)
        if future is not None and not future.done():
            future.set_result(outcome)

    # ------------------------------------------------------------ claiming

    async def recover(self, everything: bool = False) -> int:
        """Entries claimed by a process that died go back to the queue: those whose lease ran out, or (one
        process owning a SQLite journal, at start) every claimed one."""
        condition = InboxEntry.state == S.processing.value
        if not everything:
            condition = and_(condition, InboxEntry.lease_until < utcnow())
        async with self.fed.db.session() as session:
            result = await session.execute(
                update(InboxEntry)
                .where(condition)
                .values(state=S.retrying.value, lease_until=None, next_attempt_at=utcnow())
            )
            return result.rowcount or 0

    async def prune(self) -> int:
        """Deletes entries processed (done or refused) more than `inbox_keep_days` ago, a batch at a time;
        how many. Parked and unfinished entries stay: they still need someone or something."""
        cutoff = utcnow() - dt.timedelta(days=self.settings.inbox_keep_days)
        pruned = 0
        while True:
            old = (
                select(InboxEntry.id)
                .where(InboxEntry.state.in_(PRUNABLE), InboxEntry.processed_at < cutoff)
                .limit(PRUNE_BATCH)
            )
            async with self.fed.db.session() as session:
                result = await session.execute(
                    delete(InboxEntry).where(InboxEntry.id.in_(old.scalar_subquery()))
                )
            pruned += result.rowcount or 0
            if (result.rowcount or 0) < PRUNE_BATCH:
                return pruned

    async def release(self, entry_ids: list[int]) -> None:
        """Entries this process claimed but will not finish (it is stopping) go back to the queue."""
        async with self.fed.db.session() as session:
            await session.execute(
                update(InboxEntry)
                .where(InboxEntry.id.in_(entry_ids), InboxEntry.state == S.processing.value)
                .values(state=S.retrying.value, lease_until=None, next_attempt_at=utcnow())
            )

    async def claim(self, limit: int) -> list[Claimed]:
        """Takes up to `limit` due entries, oldest first, none held back by an earlier unfinished entry about
        the same object (so a batch never holds two entries with one key)."""
        now = utcnow()
        earlier = aliased(InboxEntry)
        blocked = exists().where(
            earlier.order_key == InboxEntry.order_key,
            earlier.id < InboxEntry.id,
            earlier.state.in_(UNFINISHED),
        )
        candidates = (
            select(InboxEntry.id)
            .where(InboxEntry.state.in_(CLAIMABLE), InboxEntry.next_attempt_at <= now, ~blocked)
            .order_by(InboxEntry.id)
            .limit(limit)
        )
        if not self.fed.db.is_sqlite:
            candidates = candidates.with_for_update(skip_locked=True)
        lease = now + dt.timedelta(seconds=self.settings.inbox_lease)
        async with self.fed.db.session() as session:
            rows = (
                await session.execute(
                    update(InboxEntry)
                    .where(InboxEntry.id.in_(candidates.scalar_subquery()))
                    .values(state=S.processing.value, lease_until=lease)
                    .returning(
                        InboxEntry.id,
                        InboxEntry.activity_uri,
                        InboxEntry.recipient_id,
                        InboxEntry.attempts,
                        InboxEntry.received_at,
                    )
                )
            ).all()
            bodies = dict(
                (
                    await session.execute(
                        select(InboxPayload.entry_id, InboxPayload.payload).where(
                            InboxPayload.entry_id.in_([row.id for row in rows])
                        )
                    )
                ).all()
                if rows
                else ()
            )
        return sorted(
            (
                Claimed(
                    row.id,
                    row.activity_uri,
                    row.recipient_id,
                    bodies[row.id],
                    row.attempts,
                    row.received_at,
                )
                for row in rows
            ),
            key=lambda c: c.id,
        )

    # ------------------------------------------------------------ outcomes

    def outcome_values(self, entry: Claimed, outcome: Outcome) -> dict:
        """The columns an outcome writes. A failure is retried with backoff, then parked with its error."""
        now = utcnow()
        attempts = entry.attempts + 1
        values = {
            "state": outcome.state.value,
            "attempts": attempts,
            "error": outcome.error,
            "lease_until": None,
        }
        if outcome.state is S.retrying:
            if attempts >= self.settings.inbox_max_attempts:
                values["state"] = S.parked.value
            else:
                delay = self.settings.inbox_retry_base * 2 ** (attempts - 1) * random.uniform(0.85, 1.15)
                values["next_attempt_at"] = now + dt.timedelta(seconds=delay)
        if values["state"] in FINISHED:
            values["processed_at"] = now
        return values

    @staticmethod
    def finish_statement(entry_id: int, values: dict):
        """The UPDATE recording an outcome; it moves the entry only along the allowed transitions."""
        return (
            update(InboxEntry)
            .where(InboxEntry.id == entry_id, InboxEntry.state.in_(sources_of(S(values["state"]))))
            .values(**values)
        )

    async def finish(self, entry: Claimed, outcome: Outcome) -> str:
        """Records an outcome in its own transaction; the state written."""
        values = self.outcome_values(entry, outcome)
        async with self.fed.db.session() as session:
            await session.execute(self.finish_statement(entry.id, values))
        return values["state"]


async def retry_parked(fed: Federation, entry_id: int | None = None) -> int:
    """Sends parked entries (one, or all) back to the journal's queue; how many."""
    condition = InboxEntry.state.in_(sources_of(S.received))
    if entry_id is not None:
        condition = and_(condition, InboxEntry.id == entry_id)
    async with fed.db.session() as session:
        result = await session.execute(
            update(InboxEntry)
            .where(condition)
            .values(
                state=S.received.value, next_attempt_at=utcnow(), attempts=0, error=None, processed_at=None
            )
        )
        return result.rowcount or 0


def entry_row(entry: InboxEntry) -> dict:
    """An entry as the CLI and the admin page show it."""
    return {
        "id": entry.id,
        "state": entry.state,
        "attempts": entry.attempts,
        "error": entry.error,
        "activity": entry.activity_uri,
        "type": entry.activity_type,
        "actor": entry.actor_uri,
        "received": iso_or_none(entry.received_at),
        "processed": iso_or_none(entry.processed_at),
        "next_attempt": iso_or_none(entry.next_attempt_at) if entry.state == S.retrying.value else None,
    }


async def list_entries(fed: Federation, states: list[str] | None = None, limit: int = 200) -> list[dict]:
    query = select(InboxEntry).order_by(InboxEntry.id.desc()).limit(limit)
    if states:
        query = query.where(InboxEntry.state.in_(states))
    async with fed.db.session() as session:
        return [entry_row(entry) for entry in (await session.scalars(query)).all()]
