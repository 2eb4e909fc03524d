"""The inbox worker: claims journal entries in order and processes them, plain posts in bulk, the rest each
by itself (several at once); failures are retried with backoff, then parked."""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from pathlib import Path

from sqlalchemy import Connection, bindparam, update

from federation.inbox import Inbox
from federation.inbox_batch import PlainPost, store_posts
from federation.journal import Claimed, Outcome
from federation.vocabulary import id_of
from models import InboxEntry, InboxState, utcnow

log = logging.getLogger(__name__)
S = InboxState
CLAIM_BATCH = 256
GIVE_WAY_STEP = 0.01  # how often a processor giving way looks at the door again (s)
PRUNE_EVERY = 600.0  # seconds between deletions of old processed entries
_MARK_DONE = (
    update(InboxEntry.__table__)
    .where(InboxEntry.__table__.c.id == bindparam("b_id"), InboxEntry.__table__.c.state == S.processing.value)
    .values(
        state=S.done.value,
        attempts=bindparam("b_attempts"),
        lease_until=None,
        error=None,
        processed_at=bindparam("b_now"),
    )
)


def _store_and_finish(conn: Connection, entries: list[Claimed], posts: list[PlainPost]) -> list[bool]:
    """Stores plain posts and marks their entries done, in one transaction; which ones were taken."""
    answers = store_posts(conn, posts)
    now = utcnow()
    done = [
        {"b_id": entry.id, "b_attempts": entry.attempts + 1, "b_now": now}
        for entry, answer in zip(entries, answers)
        if answer is not None
    ]
    if done:
        conn.execute(_MARK_DONE, done)
    return [answer is not None for answer in answers]


def failure_text(error: BaseException) -> str:
    """What a failed entry records: the error and where it was raised (so a parked entry can be reported)."""
    text = f"{type(error).__name__}: {error}"
    frames = traceback.extract_tb(error.__traceback__)
    if frames:
        where = frames[-1]
        text += f" (at {Path(where.filename).name}:{where.lineno} in {where.name})"
    return text[:2000]


class InboxWorker:
    """Processes the journal of one process's Inbox until stopped. Several processes may share a PostgreSQL
    journal: claims skip locked rows, and per-object order holds across processes."""

    def __init__(self, inbox: Inbox):
        self.inbox = inbox
        self.fed = inbox.fed
        self.journal = inbox.journal
        self.settings = inbox.fed.settings
        self._slots = asyncio.Semaphore(max(1, self.settings.inbox_concurrency))
        self._in_flight: dict[asyncio.Task, int] = {}
        self._lag = 0.0  # how long the oldest entry of the last claim had waited (s)

    async def run(self, stop: asyncio.Event) -> None:
        # One process owns a SQLite journal: whatever it had claimed when it died is taken again at once.
        recovered = await self.journal.recover(everything=self.fed.db.is_sqlite)
        if recovered:
            log.info(
                "inbox journal: %d entries left unfinished by a stopped process are taken again", recovered
            )
        loop = asyncio.get_running_loop()
        last_recovery = loop.time()
        last_prune = loop.time() - PRUNE_EVERY
        while not stop.is_set():
            try:
                self.journal.appended.clear()
                await self._give_way()
                claimed = await self.run_once()
                if loop.time() - last_recovery > min(30.0, self.settings.inbox_lease):
                    await self.journal.recover()
                    last_recovery = loop.time()
                if claimed == 0 and loop.time() - last_prune > PRUNE_EVERY:
                    last_prune = loop.time()
                    if pruned := await self.journal.prune():
                        log.info("inbox journal: %d entries processed long ago deleted", pruned)
                if claimed == 0:
                    await self._wait(stop)
            except Exception:
                log.exception("inbox worker error; continuing")
                await asyncio.sleep(1)
        await self.drain()

    async def _give_way(self) -> None:
        """Waits (up to `inbox_give_way`) while inbox requests are being answered: on one core, answering
        first keeps senders from timing out and retrying, and what waits is safe in the journal. Not once the
        journal is `inbox_max_lag` behind, nor while a request waits for its activity's outcome."""
        limit = self.settings.inbox_give_way
        if limit <= 0 or self._lag > self.settings.inbox_max_lag:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while (
            self.inbox.busy(loop.time(), GIVE_WAY_STEP * 2)
            and not self.journal.awaited
            and loop.time() < deadline
        ):
            await asyncio.sleep(GIVE_WAY_STEP)

    async def run_once(self) -> int:
        """Claims due entries and processes them: plain posts now, in bulk; the others started as tasks."""
        room = self.settings.inbox_concurrency * 4 - len(self._in_flight)
        if room <= 0:
            await asyncio.wait(set(self._in_flight), return_when=asyncio.FIRST_COMPLETED)
            return 1
        claimed = await self.journal.claim(CLAIM_BATCH)
        oldest = claimed[0].received_at if claimed else None
        self._lag = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        plain: list[tuple[Claimed, PlainPost]] = []
        general: list[tuple[Claimed, dict]] = []
        for entry in claimed:
            document = json.loads(entry.payload)  # it parsed when it was received
            if self.inbox.is_plain_post(document, id_of(document["actor"])):
                plain.append((entry, PlainPost(document, entry.payload, entry.recipient_id)))
            else:
                general.append((entry, document))
        if plain:
            general += await self._store_plain(plain)
        for entry, document in general:
            task = asyncio.create_task(self._process(entry, document))
            self._in_flight[task] = entry.id
            task.add_done_callback(self._finished)
        return len(claimed)

    async def _store_plain(self, plain: list[tuple[Claimed, PlainPost]]) -> list[tuple[Claimed, dict]]:
        """Stores plain posts in one transaction; those it cannot take go to the general path."""
        entries = [entry for entry, _ in plain]
        try:
            taken = await self.fed.db.run_in_transaction(
                _store_and_finish, entries, [post for _, post in plain]
            )
        except Exception as error:  # e.g. another path stored one of the objects meanwhile
            log.info("batch of %d posts handed to the general path: %r", len(plain), error)
            taken = [False] * len(plain)
        return [(entry, post.document) for (entry, post), ok in zip(plain, taken) if not ok]

    async def _process(self, entry: Claimed, document: dict) -> None:
        async with self._slots:
            try:
                outcome = await self.inbox.process(entry, document)
            except Exception as error:
                outcome = Outcome(S.retrying, failure_text(error))
                log.info("inbox entry %d (%s) failed: %s", entry.id, entry.activity_uri, outcome.error)
            if outcome.state is not S.done:  # done is written in the transaction that applied it
                state = await self.journal.finish(entry, outcome)
                if state == S.refused.value:
                    log.warning(
                        "inbox refused %s %s from %s while processing it (%d): %s",
                        document.get("type"),
                        entry.activity_uri,
                        id_of(document.get("actor")),
                        outcome.status,
                        outcome.error,
                    )
                elif state == S.parked.value:
                    log.error(
                        "inbox entry %d (%s) parked after %d attempts: %s",
                        entry.id,
                        entry.activity_uri,
                        entry.attempts + 1,
                        outcome.error,
                    )
            self.journal.tell(entry.id, outcome)

    def _finished(self, task: asyncio.Task) -> None:
        self._in_flight.pop(task, None)
        self.journal.appended.set()  # a later entry about the same object may be due now

    async def _wait(self, stop: asyncio.Event) -> None:
        """Sleeps until an entry is appended here, a task finishes, stop, or the poll interval passes."""
        waiters = [asyncio.create_task(self.journal.appended.wait()), asyncio.create_task(stop.wait())]
        await asyncio.wait(
            waiters, timeout=self.settings.inbox_poll_interval, return_when=asyncio.FIRST_COMPLETED
        )
        for task in waiters:
            task.cancel()

    async def drain(self, timeout: float = 10.0) -> None:
        """Lets entries being processed finish; those that do not in time are given back to the queue."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=timeout)
        unfinished = list(self._in_flight.values())
        for task in list(self._in_flight):
            task.cancel()
        if unfinished:
            await self.journal.release(unfinished)
