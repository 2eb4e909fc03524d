"""Durable delivery: claims queued rows, signs and POSTs them, records the outcome, retries with backoff."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from sqlalchemy import and_, bindparam, delete, func, or_, select, update

from federation.context import Federation
from federation.delivery_client import DeliveryClient, Target, target_of
from federation.fetch import FetchError
from federation.keys import secret_for
from federation.signatures import body_digest, prepare_request, signature_header
from federation.signing_pool import SigningPool
from federation.vocabulary import AP_CONTENT_TYPE
from models import Activity, Delivery, utcnow
from models.delivery import PENDING, DeliveryState, check_transition, sources_of

log = logging.getLogger(__name__)
S = DeliveryState


@dataclass
class Claimed:
    id: int
    activity_id: int
    signer_id: int
    inbox: str
    host: str
    attempts: int
    created_at: dt.datetime


@dataclass
class Outcome:
    id: int
    state: DeliveryState
    attempts: int
    next_attempt_at: dt.datetime
    error: str | None


FLUSH_AT = 256  # outcomes recorded in one transaction once this many wait ...
FLUSH_AFTER = 0.2  # ... or once the oldest has waited this long (s)
CLAIM_FROM = 64  # the loop claims more once this many can be taken (or nothing is pending)
QUERY_EVERY = 1.0  # an idle worker reads the queue at least this often, even when its files look unchanged
PRUNE_EVERY = 600.0  # seconds between deletions of rows delivered long ago (when idle)
PRUNE_BATCH = 5000  # rows deleted per transaction, so pruning never holds the database for long


# ---------------------------------------------------------------- pure steps: verdict, delay, next state


def classify(status: int | None, error: str | None) -> str:
    """'delivered', 'retry' (network trouble, 5xx, 429, 408) or 'fail' (other 4xx: the peer refuses)."""
    if status is not None and 200 <= status < 300:
        return "delivered"
    if status is None or status == 429 or status >= 500 or status == 408:
        return "retry"
    return "fail"


def retry_after_seconds(value: str | None, now: dt.datetime) -> float | None:
    """The wait a Retry-After header asks for (delta-seconds or an HTTP-date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (moment - now).total_seconds())


def retry_delay(
    attempts: int, base: float, maximum: float, retry_after: float | None = None, jitter: float = 1.0
) -> float:
    """Seconds until attempt number `attempts + 1`: the peer's Retry-After when it gave one (at least 1 s),
    else `base` doubled per attempt made, with jitter; never more than `maximum`."""
    if retry_after is not None:
        return min(max(retry_after, 1.0), maximum)
    return min(base * 2.0 ** min(attempts - 1, 64), maximum) * jitter


def next_state(verdict: str, age: float, give_up_after: float) -> DeliveryState:
    """Where a delivering row goes after an attempt whose verdict (classify) is given; `age` in seconds."""
    if verdict == "delivered":
        return S.delivered
    if verdict == "fail" or age > give_up_after:
        return S.failed
    return S.retrying


class DeliveryWorker:
    """Sends queued deliveries. Several workers (processes) may share a PostgreSQL queue."""

    def __init__(self, fed: Federation):
        self.fed = fed
        self.settings = fed.settings
        self._host_slots: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self.settings.delivery_per_host)
        )
        self._claimed_per_host: dict[str, int] = defaultdict(int)
        self._in_flight: set[asyncio.Task] = set()
        self._outcomes: list[Outcome] = []
        self._first_outcome_at = 0.0  # monotonic time the oldest unrecorded outcome came
        self._progress = asyncio.Event()  # set when enough outcomes wait or room for claims opened
        self._flush_lock = asyncio.Lock()
        self._bodies: dict[int, tuple[bytes, str]] = {}  # activity id -> body, its digest
        self._secrets: dict[int, tuple[float, str, str]] = {}  # signer -> (read at, key id, PEM)
        self._pending = 0  # claimed rows not yet sent and recorded
        self._idle = False  # the last claim found nothing: the next poll asks cheaply first
        self._sqlite_path = fed.db.engine.url.database if fed.db.is_sqlite else None
        self._files_seen: tuple | None = None
        self._due_asked_at = 0.0
        self._next_due: dt.datetime | None = None  # the earliest pending row's next attempt, when last asked
        self.signer = SigningPool(self.settings.signing_processes)
        self.client = DeliveryClient(
            fed.allow_private,
            self.settings.delivery_timeout,
            self.settings.delivery_per_host,
            self.settings.tls_ca_file,
        )

    # ------------------------------------------------------------ claiming

    async def recover_expired_leases(self) -> int:
        """Rows a crashed worker had claimed go back to the queue."""
        check_transition(S.delivering.value, S.retrying)
        async with self.fed.db.session() as session:
            result = await session.execute(
                update(Delivery)
                .where(Delivery.state == S.delivering.value, Delivery.lease_until < utcnow())
                .values(
                    state=S.retrying.value, lease_until=None, next_attempt_at=utcnow(), updated_at=utcnow()
                )
            )
            return result.rowcount or 0

    async def claim(self, limit: int, only_ids: list[int] | None = None) -> list[Claimed]:
        now = utcnow()
        lease = now + dt.timedelta(
            seconds=self.settings.delivery_timeout + self.settings.delivery_lease_margin
        )
        saturated = [h for h, n in self._claimed_per_host.items() if n >= self.settings.delivery_per_host]
        candidates = select(Delivery.id).where(Delivery.state.in_(sources_of(S.delivering)))
        if only_ids is not None:
            candidates = candidates.where(Delivery.id.in_(only_ids))
        else:
            candidates = candidates.where(Delivery.next_attempt_at <= now)
            if saturated:
                candidates = candidates.where(Delivery.host.not_in(saturated))
        candidates = candidates.order_by(Delivery.next_attempt_at, Delivery.id).limit(limit)
        if not self.fed.db.is_sqlite:
            candidates = candidates.with_for_update(skip_locked=True)
        table = Delivery.__table__  # a Core statement, in one hop to the database (no ORM session)
        statement = (
            update(table)
            .where(table.c.id.in_(candidates.scalar_subquery()))
            .values(state=S.delivering.value, lease_until=lease, updated_at=now)
            .returning(
                table.c.id,
                table.c.activity_id,
                table.c.signer_id,
                table.c.inbox,
                table.c.host,
                table.c.attempts,
                table.c.created_at,
            )
        )
        rows = await self.fed.db.run_in_transaction(lambda conn: conn.execute(statement).all())
        claimed = [Claimed(*row) for row in rows]
        for item in claimed:
            self._claimed_per_host[item.host] += 1
        return claimed

    # ------------------------------------------------------------ sending

    async def _body(self, activity_id: int) -> tuple[bytes, str]:
        """An activity's body and its digest, read once per batch rather than per request."""
        cached = self._bodies.get(activity_id)
        if cached is None:
            async with self.fed.db.session() as session:
                payload = await session.scalar(select(Activity.payload).where(Activity.id == activity_id))
            body = (payload or "").encode("utf-8")
            if len(self._bodies) > 256:
                self._bodies.clear()
            cached = self._bodies[activity_id] = (body, body_digest(body))
        return cached

    async def _signing_key(self, signer_id: int) -> tuple[str, str]:
        """The signer's key id and private key (PEM, which the signing processes load), kept a minute: one
        query per batch rather than per request. Parsed only where a request is signed here: a fan-out signed
        in the signing processes never loads bovine into the server process (a one-time cost of ~0.3 s)."""
        cached = self._secrets.get(signer_id)
        if cached is None or time.monotonic() - cached[0] > 60:
            key = await self.fed.private_key_of(signer_id)
            cached = (time.monotonic(), key.uri, key.private)
            self._secrets[signer_id] = cached
        return cached[1], cached[2]

    async def _request_of(self, item: Claimed) -> tuple[Target, str, str, bytes, dict[str, str], bytes]:
        """What sending a row's request needs: where it goes, its signer's key id and PEM, its body, the
        headers to sign and the signing string. Raises FetchError for an inbox we must never call."""
        target = target_of(item.inbox, self.fed.allow_private)
        key_id, pem = await self._signing_key(item.signer_id)
        body, digest = await self._body(item.activity_id)
        headers, message = prepare_request("post", item.inbox, body, digest=digest)
        return target, key_id, pem, body, headers, message

    async def send(
        self, item: Claimed, signed: tuple[Target, bytes, dict[str, str]] | None = None
    ) -> Outcome:
        """One POST, signed by the activity's actor (here, unless `signed` gives the target, body and signed
        headers); never raises."""
        status, error, retry_after = None, None, None
        try:
            if signed is None:
                target, key_id, pem, body, headers, message = await self._request_of(item)
                signature = secret_for(key_id, pem, "rsa").sign(message)
                headers["signature"] = signature_header(key_id, headers, signature)
            else:
                target, body, headers = signed
            headers["content-type"] = AP_CONTENT_TYPE
            data = self.client.request_bytes(target, headers, body)
            async with self._host_slots[item.host]:
                answer = await self.client.post(target, data)
            status = answer.status
            if status >= 300:
                error = f"HTTP {status}: {answer.body.decode('utf-8', 'replace')}"
                if status in (429, 503):
                    retry_after = retry_after_seconds(answer.headers.get("retry-after"), utcnow())
        except FetchError as refused:
            status, error = 400, str(refused)  # an inbox we must never call: give up at once
        except asyncio.TimeoutError:
            error = f"no answer within {self.settings.delivery_timeout:.0f}s"
        except OSError as failure:
            error = f"cannot connect: {failure}"
        except Exception as failure:  # a bug must not lose the row: retry it later
            log.exception("delivery %s failed unexpectedly", item.id)
            error = f"internal error: {failure!r}"
        return self._outcome(item, status, error, retry_after)

    def _outcome(
        self, item: Claimed, status: int | None, error: str | None, retry_after: float | None = None
    ) -> Outcome:
        attempts = item.attempts + 1
        now = utcnow()
        state = next_state(
            classify(status, error),
            (now - item.created_at).total_seconds(),
            self.settings.delivery_give_up_after,
        )
        if state is not S.retrying:
            return Outcome(item.id, state, attempts, now, None if state is S.delivered else error)
        delay = retry_delay(
            attempts,
            self.settings.delivery_retry_base,
            self.settings.delivery_retry_max,
            retry_after,
            random.uniform(0.85, 1.15),
        )
        return Outcome(item.id, S.retrying, attempts, now + dt.timedelta(seconds=delay), error)

    async def record(self, outcomes: list[Outcome]) -> None:
        """Writes outcomes in one transaction; a row moves only along the allowed transitions."""
        if not outcomes:
            return
        by_state: dict[DeliveryState, list[Outcome]] = defaultdict(list)
        for outcome in outcomes:
            by_state[outcome.state].append(outcome)
        now = utcnow()
        table = Delivery.__table__
        statements = []
        delivered = by_state.pop(S.delivered, [])
        if delivered:  # the common case, as one statement whatever the count
            statements.append(
                (
                    update(table)
                    .where(
                        table.c.id.in_([o.id for o in delivered]), table.c.state.in_(sources_of(S.delivered))
                    )
                    .values(
                        state=S.delivered.value,
                        attempts=table.c.attempts + 1,
                        next_attempt_at=now,
                        last_error=None,
                        lease_until=None,
                        updated_at=now,
                    ),
                    None,
                )
            )
        for state, group in by_state.items():
            # executemany cannot expand IN (...), so the allowed sources are bound one by one.
            sources = {f"b_src{i}": source for i, source in enumerate(sources_of(state))}
            statements.append(
                (
                    update(table)
                    .where(
                        and_(
                            table.c.id == bindparam("b_id"),
                            or_(*(table.c.state == bindparam(name) for name in sources)),
                        )
                    )
                    .values(
                        state=state.value,
                        attempts=bindparam("b_attempts"),
                        next_attempt_at=bindparam("b_next"),
                        last_error=bindparam("b_error"),
                        lease_until=None,
                        updated_at=now,
                    ),
                    [
                        {
                            "b_id": o.id,
                            "b_attempts": o.attempts,
                            "b_next": o.next_attempt_at,
                            "b_error": o.error,
                            **sources,
                        }
                        for o in group
                    ],
                )
            )

        def write(conn) -> None:
            for statement, parameters in statements:
                conn.execute(statement, parameters)

        await self.fed.db.run_in_transaction(write)

    # ------------------------------------------------------------ loops

    async def deliver_ids(self, ids: list[int]) -> list[Outcome]:
        """Delivers the given rows now (the CLI uses this for an immediate answer). Rows that a running
        server's worker took first are waited for, so their answer is reported all the same."""
        claimed = await self.claim(len(ids), only_ids=ids)
        try:
            outcomes = list(await asyncio.gather(*(self.send(item) for item in claimed)))
        finally:
            self.client.close()
        await self.record(outcomes)
        for item in claimed:
            self._claimed_per_host[item.host] -= 1
        taken_elsewhere = set(ids) - {item.id for item in claimed}
        return outcomes + (await self._outcomes_of(taken_elsewhere) if taken_elsewhere else [])

    async def _outcomes_of(self, ids: set[int]) -> list[Outcome]:
        """The outcomes of rows another worker is sending, once it has recorded them (or as they stand
        when it takes longer than one delivery may)."""
        deadline = time.monotonic() + self.settings.delivery_timeout + self.settings.delivery_lease_margin
        while True:
            async with self.fed.db.session() as session:
                rows = (
                    await session.execute(
                        select(
                            Delivery.id,
                            Delivery.state,
                            Delivery.attempts,
                            Delivery.next_attempt_at,
                            Delivery.last_error,
                        ).where(Delivery.id.in_(ids))
                    )
                ).all()
            if all(row.state != S.delivering.value for row in rows) or time.monotonic() > deadline:
                return [
                    Outcome(
                        row.id, DeliveryState(row.state), row.attempts, row.next_attempt_at, row.last_error
                    )
                    for row in rows
                ]
            await asyncio.sleep(0.05)

    async def _run_one(
        self, item: Claimed, signed: tuple[Target, bytes, dict[str, str]] | None = None
    ) -> None:
        try:
            outcome = await self.send(item, signed)
            if not self._outcomes:
                self._first_outcome_at = time.monotonic()
            self._outcomes.append(outcome)
        finally:
            self._pending -= 1
            self._claimed_per_host[item.host] -= 1
            if self._claimed_per_host[item.host] <= 0:
                del self._claimed_per_host[item.host]
            if len(self._outcomes) >= FLUSH_AT or self._pending == 0 or self._room() == CLAIM_FROM:
                self._progress.set()

    def _start(self, item: Claimed, signed: tuple[Target, bytes, dict[str, str]] | None = None) -> None:
        task = asyncio.create_task(self._run_one(item, signed))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _launch(self, claimed: list[Claimed]) -> None:
        """Starts sending claimed rows. A big batch is signed in the signing pool, and each request
        leaves as soon as its chunk is signed; anything unusual is sent (and signed) the plain way."""
        if not self.signer.wanted(len(claimed)):
            for item in claimed:
                self._start(item)
            return
        # by key id: (row, target, body, headers, signing string)
        by_key: dict[str, list[tuple[Claimed, Target, bytes, dict[str, str], bytes]]] = defaultdict(list)
        pems: dict[str, str] = {}
        started: set[int] = set()
        try:
            try:  # the signing processes start while the requests are prepared
                _, first_pem = await self._signing_key(claimed[0].signer_id)
                self.signer.start(first_pem)
            except Exception as error:  # the loop below sends that row the plain way and reports it
                log.debug("signing processes not started early: %r", error)
            for item in claimed:
                try:
                    target, key_id, pem, body, headers, message = await self._request_of(item)
                except Exception:
                    started.add(item.id)
                    self._start(item)  # send() reports what is wrong with it
                    continue
                pems[key_id] = pem
                by_key[key_id].append((item, target, body, headers, message))
            for key_id, batch in by_key.items():
                async for first, signatures in self.signer.sign(
                    pems[key_id], [request[-1] for request in batch]
                ):
                    for (item, target, body, headers, _), signature in zip(batch[first:], signatures):
                        headers["signature"] = signature_header(key_id, headers, signature)
                        started.add(item.id)
                        self._start(item, (target, body, headers))
        except Exception:
            log.exception("signing pool failed; signing in the server process")
            self.signer.close()
            for item in claimed:
                if item.id not in started:
                    self._start(item)

    async def _flush(self) -> None:
        async with self._flush_lock:
            outcomes, self._outcomes = self._outcomes, []
            try:
                await self.record(outcomes)
            except Exception:
                log.exception(
                    "could not record %d delivery outcomes; their leases will expire", len(outcomes)
                )

    def _room(self) -> int:
        return self.settings.delivery_concurrency * 4 - self._pending

    async def run_once(self) -> int:
        """Claims what is due and starts sending it; returns how many rows were claimed."""
        room = self._room()
        if room <= 0 or (room < CLAIM_FROM and self._pending > 0):
            return 0
        if self._idle and not self.fed.deliveries_queued.is_set() and not await self._anything_due():
            return 0
        claimed = await self.claim(min(room, 512))
        self._idle = not claimed and self._pending == 0
        if claimed:
            self._pending += len(claimed)
            task = asyncio.create_task(self._launch(claimed))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return len(claimed)

    def _files_state(self) -> tuple | None:
        """What a commit by any process changes: the SQLite file and its write-ahead log (None: not SQLite)."""
        if not self._sqlite_path:
            return None
        state = []
        for path in (self._sqlite_path, self._sqlite_path + "-wal"):
            try:
                status = os.stat(path)
                state.append((status.st_ino, status.st_size, status.st_mtime_ns))
            except OSError:
                state.append(None)
        return tuple(state)

    async def _anything_due(self) -> bool:
        """Whether a row waits to be claimed: a read, cheaper than a claim (and no write lock on SQLite).
        On SQLite the read is skipped while the database files are unchanged and no retry has come due
        (but made at least every QUERY_EVERY seconds)."""
        files, now = self._files_state(), time.monotonic()
        if (
            files is not None
            and files == self._files_seen
            and now - self._due_asked_at < QUERY_EVERY
            and (self._next_due is None or self._next_due > utcnow())
        ):
            return False
        self._files_seen, self._due_asked_at = files, now  # taken before the read: later commits show
        query = select(func.min(Delivery.next_attempt_at)).where(Delivery.state.in_(sources_of(S.delivering)))
        async with self.fed.db.engine.connect() as conn:
            self._next_due = await conn.scalar(query)
        return self._next_due is not None and self._next_due <= utcnow()

    def _flush_due(self) -> bool:
        return bool(self._outcomes) and (
            len(self._outcomes) >= FLUSH_AT
            or self._pending == 0
            or time.monotonic() - self._first_outcome_at >= FLUSH_AFTER
        )

    async def prune(self) -> int:
        """Deletes rows delivered more than `delivery_keep_days` ago, a batch at a time; how many. Failed
        rows stay: an operator may requeue them."""
        cutoff = utcnow() - dt.timedelta(days=self.settings.delivery_keep_days)
        pruned = 0
        while True:
            old = (
                select(Delivery.id)
                .where(Delivery.state == S.delivered.value, Delivery.updated_at < cutoff)
                .limit(PRUNE_BATCH)
            )
            async with self.fed.db.session() as session:
                result = await session.execute(delete(Delivery).where(Delivery.id.in_(old.scalar_subquery())))
            pruned += result.rowcount or 0
            if (result.rowcount or 0) < PRUNE_BATCH:
                return pruned

    async def run(self, stop: asyncio.Event) -> None:
        """The worker loop: until stop is set, deliver what is due and record outcomes (in batches)."""
        await self.recover_expired_leases()
        last_recovery = asyncio.get_running_loop().time()
        last_prune = last_recovery - PRUNE_EVERY
        while not stop.is_set():
            try:
                self._progress.clear()
                claimed = await self.run_once()
                if self._flush_due():
                    await self._flush()
                now = asyncio.get_running_loop().time()
                if now - last_recovery > min(30.0, self.settings.delivery_lease_margin):
                    await self.recover_expired_leases()
                    last_recovery = now
                if claimed == 0 and now - last_prune > PRUNE_EVERY:
                    last_prune = now
                    if pruned := await self.prune():
                        log.info("deliveries: %d rows delivered long ago deleted", pruned)
                if claimed == 0:
                    await self._wait(stop)
            except Exception:
                log.exception("delivery loop error; continuing")
                await asyncio.sleep(1)
        await self.drain()

    async def _wait(self, stop: asyncio.Event) -> None:
        """Sleeps until work is queued here, enough sends finished, stop, or the poll interval passes
        (at most FLUSH_AFTER while outcomes wait to be recorded)."""
        self.fed.deliveries_queued.clear()
        waiters = [
            asyncio.create_task(self.fed.deliveries_queued.wait()),
            asyncio.create_task(stop.wait()),
            asyncio.create_task(self._progress.wait()),
        ]
        timeout = self.settings.delivery_poll_interval
        if self._outcomes:
            timeout = max(0.0, min(timeout, self._first_outcome_at + FLUSH_AFTER - time.monotonic()))
        done, pending = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()

    async def drain(self) -> None:
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=self.settings.delivery_timeout)
        await self._flush()
        self.signer.close()
        self.client.close()


async def pending_count(fed: Federation) -> int:
    from sqlalchemy import func

    async with fed.db.session() as session:
        return (
            await session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.state.in_(PENDING))
            )
            or 0
        )


# ---------------------------------------------------------------- delivering now, from the CLI

HOLD_FOR_CALLER = dt.timedelta(seconds=60)


async def hold_for_caller(session, activity: Activity | None) -> None:
    """Keeps a running server's worker off the activity's deliveries for a minute, in the transaction that
    queued them: the process that queued them delivers them itself, to hear the answer (a refused follow,
    a space refusing a post). Should that process die, the worker takes them after the minute."""
    if activity is not None:
        await session.execute(
            update(Delivery)
            .where(Delivery.activity_id == activity.id)
            .values(next_attempt_at=utcnow() + HOLD_FOR_CALLER)
        )


async def deliver_now(fed: Federation, activity: Activity | None, inbox: str | None = None) -> list[Outcome]:
    """Delivers an activity's queued rows (or the one to `inbox`) in this process; their outcomes."""
    if activity is None:
        return []
    async with fed.db.session() as session:
        query = select(Delivery.id).where(Delivery.activity_id == activity.id)
        if inbox:
            query = query.where(Delivery.inbox == inbox)
        ids = list((await session.scalars(query)).all())
    return await DeliveryWorker(fed).deliver_ids(ids)
