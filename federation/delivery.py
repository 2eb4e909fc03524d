"""Durable delivery: claims queued rows, signs and POSTs them, records the outcome, retries with backoff."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from collections import defaultdict
from dataclasses import dataclass

import aiohttp
from sqlalchemy import and_, bindparam, or_, select, update

from federation.context import Federation
from federation.fetch import FetchError, check_url
from federation.keys import secret_for
from federation.signatures import prepare_request, sign_request, signature_header
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


def classify(status: int | None, error: str | None) -> str:
    """'delivered', 'retry' (network trouble, 5xx, 429) or 'fail' (other 4xx: the peer refuses)."""
    if status is not None and 200 <= status < 300:
        return "delivered"
    if status is None or status == 429 or status >= 500 or status == 408:
        return "retry"
    return "fail"


class DeliveryWorker:
    """Sends queued deliveries. Several workers (processes) may share a PostgreSQL queue."""

    def __init__(self, fed: Federation):
        self.fed = fed
        self.settings = fed.settings
        self._host_slots: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self.settings.delivery_per_host))
        self._claimed_per_host: dict[str, int] = defaultdict(int)
        self._in_flight: set[asyncio.Task] = set()
        self._outcomes: list[Outcome] = []
        self._flush_lock = asyncio.Lock()
        self._bodies: dict[int, bytes] = {}
        self._secrets: dict[int, tuple[float, object, str]] = {}
        self._pending = 0  # claimed rows not yet sent and recorded
        self.signer = SigningPool(self.settings.signing_processes)

    # ------------------------------------------------------------ claiming

    async def recover_expired_leases(self) -> int:
        """Rows a crashed worker had claimed go back to the queue."""
        check_transition(S.delivering.value, S.retrying)
        async with self.fed.db.session() as session:
            result = await session.execute(
                update(Delivery)
                .where(Delivery.state == S.delivering.value, Delivery.lease_until < utcnow())
                .values(state=S.retrying.value, lease_until=None, next_attempt_at=utcnow(), updated_at=utcnow())
            )
            return result.rowcount or 0

    async def claim(self, limit: int, only_ids: list[int] | None = None) -> list[Claimed]:
        now = utcnow()
        lease = now + dt.timedelta(seconds=self.settings.delivery_timeout + self.settings.delivery_lease_margin)
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
        async with self.fed.db.session() as session:
            rows = (await session.execute(
                update(Delivery)
                .where(Delivery.id.in_(candidates.scalar_subquery()))
                .values(state=S.delivering.value, lease_until=lease, updated_at=now)
                .returning(Delivery.id, Delivery.activity_id, Delivery.signer_id, Delivery.inbox, Delivery.host,
                           Delivery.attempts, Delivery.created_at)
            )).all()
        claimed = [Claimed(*row) for row in rows]
        for item in claimed:
            self._claimed_per_host[item.host] += 1
        return claimed

    # ------------------------------------------------------------ sending

    async def _body(self, activity_id: int) -> bytes:
        body = self._bodies.get(activity_id)
        if body is None:
            async with self.fed.db.session() as session:
                payload = await session.scalar(select(Activity.payload).where(Activity.id == activity_id))
            body = (payload or "").encode("utf-8")
            if len(self._bodies) > 256:
                self._bodies.clear()
            self._bodies[activity_id] = body
        return body

    async def _signing_key(self, signer_id: int) -> tuple[object, str]:
        """The signer's private key, parsed and as its PEM (which the signing processes load), kept a
        minute: one query per batch rather than per request."""
        cached = self._secrets.get(signer_id)
        if cached is None or time.monotonic() - cached[0] > 60:
            key = await self.fed.private_key_of(signer_id)
            cached = (time.monotonic(), secret_for(key.uri, key.private, "rsa"), key.private)
            self._secrets[signer_id] = cached
        return cached[1], cached[2]

    async def _request_of(self, item: Claimed) -> tuple[object, str, bytes]:
        """What signing a row's request needs: its signer's key (parsed, and as PEM) and its body.
        Raises FetchError for an inbox we must never call."""
        check_url(item.inbox, self.fed.allow_private)
        secret, pem = await self._signing_key(item.signer_id)
        return secret, pem, await self._body(item.activity_id)

    async def send(self, item: Claimed, signed: tuple[bytes, dict[str, str]] | None = None) -> Outcome:
        """One POST, signed by the activity's actor (here, unless `signed` gives body and headers); never raises."""
        status, error = None, None
        try:
            if signed is None:
                secret, _, body = await self._request_of(item)
                headers = sign_request("post", item.inbox, secret, body)
            else:
                body, headers = signed
            headers["content-type"] = AP_CONTENT_TYPE
            async with self._host_slots[item.host]:
                async with self.fed.http.post(
                    item.inbox, data=body, headers=headers, allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=self.settings.delivery_timeout),
                ) as response:
                    status = response.status
                    if status >= 300:
                        error = f"HTTP {status}: {(await response.content.read(300)).decode('utf-8', 'replace')}"
        except FetchError as refused:
            status, error = 400, str(refused)  # an inbox we must never call: give up at once
        except asyncio.TimeoutError:
            error = f"no answer within {self.settings.delivery_timeout:.0f}s"
        except (aiohttp.ClientError, OSError) as failure:
            error = f"cannot connect: {failure}"
        except Exception as failure:  # a bug must not lose the row: retry it later
            log.exception("delivery %s failed unexpectedly", item.id)
            error = f"internal error: {failure!r}"
        return self._outcome(item, status, error)

    def _outcome(self, item: Claimed, status: int | None, error: str | None) -> Outcome:
        attempts = item.attempts + 1
        now = utcnow()
        verdict = classify(status, error)
        if verdict == "delivered":
            return Outcome(item.id, S.delivered, attempts, now, None)
        age = (now - item.created_at).total_seconds()
        if verdict == "fail" or age > self.settings.delivery_give_up_after:
            return Outcome(item.id, S.failed, attempts, now, error)
        delay = min(self.settings.delivery_retry_base * 2 ** (attempts - 1), self.settings.delivery_retry_max)
        delay *= random.uniform(0.85, 1.15)
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
        async with self.fed.db.session() as session:
            conn = await session.connection()
            for state, group in by_state.items():
                # executemany cannot expand IN (...), so the allowed sources are bound one by one.
                sources = {f"b_src{i}": source for i, source in enumerate(sources_of(state))}
                statement = (
                    update(table)
                    .where(and_(table.c.id == bindparam("b_id"),
                                or_(*(table.c.state == bindparam(name) for name in sources))))
                    .values(state=state.value, attempts=bindparam("b_attempts"),
                            next_attempt_at=bindparam("b_next"), last_error=bindparam("b_error"),
                            lease_until=None, updated_at=now)
                )
                await conn.execute(statement, [
                    {"b_id": o.id, "b_attempts": o.attempts, "b_next": o.next_attempt_at, "b_error": o.error,
                     **sources}
                    for o in group
                ])

    # ------------------------------------------------------------ loops

    async def deliver_ids(self, ids: list[int]) -> list[Outcome]:
        """Delivers the given rows now (the CLI uses this for an immediate answer). Rows that a running
        server's worker took first are waited for, so their answer is reported all the same."""
        claimed = await self.claim(len(ids), only_ids=ids)
        outcomes = list(await asyncio.gather(*(self.send(item) for item in claimed)))
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
                rows = (await session.execute(select(
                    Delivery.id, Delivery.state, Delivery.attempts, Delivery.next_attempt_at, Delivery.last_error,
                ).where(Delivery.id.in_(ids)))).all()
            if all(row.state != S.delivering.value for row in rows) or time.monotonic() > deadline:
                return [Outcome(row.id, DeliveryState(row.state), row.attempts, row.next_attempt_at, row.last_error)
                        for row in rows]
            await asyncio.sleep(0.05)

    async def _run_one(self, item: Claimed, signed: tuple[bytes, dict[str, str]] | None = None) -> None:
        try:
            outcome = await self.send(item, signed)
            self._outcomes.append(outcome)
        finally:
            self._pending -= 1
            self._claimed_per_host[item.host] -= 1
            if self._claimed_per_host[item.host] <= 0:
                del self._claimed_per_host[item.host]

    def _start(self, item: Claimed, signed: tuple[bytes, dict[str, str]] | None = None) -> None:
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
        by_key: dict[str, list[tuple[Claimed, bytes, dict[str, str], bytes]]] = defaultdict(list)  # by key id
        pems: dict[str, str] = {}
        started: set[int] = set()
        try:
            try:  # the signing processes start while the requests are prepared
                first, first_pem = await self._signing_key(claimed[0].signer_id)
                self.signer.start(first_pem, first.private_key)
            except Exception as error:  # the loop below sends that row the plain way and reports it
                log.debug("signing processes not started early: %r", error)
            for item in claimed:
                try:
                    secret, pem, body = await self._request_of(item)
                except Exception:
                    started.add(item.id)
                    self._start(item)  # send() reports what is wrong with it
                    continue
                headers, message = prepare_request("post", item.inbox, body)
                pems[secret.key_id] = pem
                by_key[secret.key_id].append((item, body, headers, message))
            for key_id, batch in by_key.items():
                async for first, signatures in self.signer.sign(pems[key_id], [message for *_, message in batch]):
                    for (item, body, headers, _), signature in zip(batch[first:], signatures):
                        headers["signature"] = signature_header(key_id, headers, signature)
                        started.add(item.id)
                        self._start(item, (body, headers))
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
                log.exception("could not record %d delivery outcomes; their leases will expire", len(outcomes))

    async def run_once(self) -> int:
        """Claims what is due and starts sending it; returns how many rows were claimed."""
        room = self.settings.delivery_concurrency * 4 - self._pending
        if room <= 0:
            return 0
        claimed = await self.claim(min(room, 512))
        if claimed:
            self._pending += len(claimed)
            task = asyncio.create_task(self._launch(claimed))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return len(claimed)

    async def run(self, stop: asyncio.Event) -> None:
        """The worker loop: until stop is set, deliver what is due and record outcomes."""
        await self.recover_expired_leases()
        last_recovery = asyncio.get_running_loop().time()
        while not stop.is_set():
            try:
                claimed = await self.run_once()
                await asyncio.sleep(0)
                if self._outcomes:
                    await self._flush()
                now = asyncio.get_running_loop().time()
                if now - last_recovery > min(30.0, self.settings.delivery_lease_margin):
                    await self.recover_expired_leases()
                    last_recovery = now
                if claimed == 0 and not self._outcomes:
                    await self._wait(stop)
            except Exception:
                log.exception("delivery loop error; continuing")
                await asyncio.sleep(1)
        await self.drain()

    async def _wait(self, stop: asyncio.Event) -> None:
        """Sleeps until work is queued here, a send finishes, stop, or the poll interval passes."""
        self.fed.deliveries_queued.clear()
        waiters = [asyncio.create_task(self.fed.deliveries_queued.wait()), asyncio.create_task(stop.wait())]
        if self._in_flight:
            waiters.append(asyncio.create_task(asyncio.wait(set(self._in_flight), return_when=asyncio.FIRST_COMPLETED)))
        done, pending = await asyncio.wait(waiters, timeout=self.settings.delivery_poll_interval,
                                           return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()

    async def drain(self) -> None:
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=self.settings.delivery_timeout)
        await self._flush()
        self.signer.close()


async def pending_count(fed: Federation) -> int:
    from sqlalchemy import func
    async with fed.db.session() as session:
        return await session.scalar(select(func.count()).select_from(Delivery).where(Delivery.state.in_(PENDING))) or 0


# ---------------------------------------------------------------- delivering now, from the CLI

HOLD_FOR_CALLER = dt.timedelta(seconds=60)


async def hold_for_caller(session, activity: Activity | None) -> None:
    """Keeps a running server's worker off the activity's deliveries for a minute, in the transaction that
    queued them: the process that queued them delivers them itself, to hear the answer (a refused follow,
    a space refusing a post). Should that process die, the worker takes them after the minute."""
    if activity is not None:
        await session.execute(update(Delivery).where(Delivery.activity_id == activity.id)
                              .values(next_attempt_at=utcnow() + HOLD_FOR_CALLER))


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
