"""Signing big batches of requests in worker processes: RSA signing holds the GIL, so a large fan-out
is signed on the other cores while the event loop does the HTTP. Started on first need.

Each worker has one pipe; the event loop writes chunks of signing strings to it and reads the signatures
back when the pipe is readable (no executor threads in the server). Workers end when the server dies."""

from __future__ import annotations

import asyncio
import base64
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from typing import AsyncIterator

POOL_FROM = 64  # a batch at least this big starts the pool
CHUNK_MIN, CHUNK_MAX = 8, 64  # signatures per chunk: small enough that the first requests leave early
IN_FLIGHT = 2  # chunks sent ahead to each worker, so it never waits for the event loop
IDLE_AFTER = 300.0  # an unused pool is stopped after this many seconds
PR_SET_PDEATHSIG = 1  # Linux prctl: a signal the kernel sends when the parent exits
PARENT_CHECK = 0.5  # seconds between checks that the parent is alive (where prctl is missing)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


_keys: dict[str, object] = {}  # PEM -> loaded key; filled in the server before it forks the workers


def _private_key(pem: str):
    # cryptography (~11 MB) is imported at the first signature, not by an idle server
    from cryptography.hazmat.primitives import serialization

    key = _keys.get(pem)
    if key is None:
        if len(_keys) >= 64:
            _keys.clear()
        # Our own key, from our own database: cryptography's validation of it (~36 ms) proves nothing new.
        key = _keys[pem] = serialization.load_pem_private_key(
            pem.encode("ascii"), password=None, unsafe_skip_rsa_key_validation=True
        )
    return key


def _sign_chunk(pem: str, messages: list[bytes]) -> list[str]:
    """In a worker: RSA-2048 PKCS#1 v1.5 SHA-256 signatures, base64."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    key = _private_key(pem)
    return [
        base64.standard_b64encode(key.sign(m, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")
        for m in messages
    ]


def _exit_with_parent(parent: int) -> None:
    """Ends this worker when the server that started it dies, even by kill -9 (its pipe may never close
    then): at once through prctl on Linux, and by watching the parent's id everywhere."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK)
        os._exit(1)

    if os.getppid() != parent:  # died before prctl took effect
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _worker_main(conn, parent: int) -> None:
    """A worker: signs each (pem, messages) it reads and writes the signatures back, until None or EOF."""
    # A forked worker inherits the server's signal handling; its signals are its own.
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(parent)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            conn.send(_sign_chunk(*task))
        except Exception as error:  # a bad key: the server signs that batch itself
            conn.send(error)


class PoolBroken(RuntimeError):
    """A signing process died or failed; the caller signs in the server process instead."""


class _Worker:
    def __init__(self, context, parent: int):
        self.conn, child = context.Pipe(duplex=True)
        self.process = context.Process(
            target=_worker_main, args=(child, parent), daemon=True, name="interpeople-signer"
        )
        self.process.start()
        child.close()
        self.waiting: deque[asyncio.Future] = deque()  # one per chunk sent, answered in order
        self.reading = False

    def send(self, loop: asyncio.AbstractEventLoop, pem: str, messages: list[bytes]) -> asyncio.Future:
        if not self.reading:
            loop.add_reader(self.conn.fileno(), self._readable)
            self.reading = True
        future = loop.create_future()
        self.waiting.append(future)
        self.conn.send((pem, messages))
        return future

    def _readable(self) -> None:
        try:
            answer = self.conn.recv()
        except (EOFError, OSError) as error:
            self.fail(PoolBroken(f"signing process {self.process.pid} is gone: {error!r}"))
            return
        future = self.waiting.popleft()
        if not future.done():
            if isinstance(answer, Exception):
                future.set_exception(PoolBroken(f"signing failed: {answer!r}"))
            else:
                future.set_result(answer)

    def fail(self, error: Exception) -> None:
        self.stop_reading()
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)

    def stop_reading(self) -> None:
        if self.reading:
            try:
                asyncio.get_running_loop().remove_reader(self.conn.fileno())
            except (RuntimeError, ValueError, OSError):
                pass
            self.reading = False

    def stop(self) -> None:
        self.fail(PoolBroken("signing processes stopped"))
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(1.0)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(1.0)
        self.conn.close()


class SigningPool:
    """Worker processes that sign with a private key given as PEM; `processes=0` means never."""

    def __init__(self, processes: int):
        self.processes = processes
        self._workers: list[_Worker] = []
        self._last_used = 0.0

    def wanted(self, count: int) -> bool:
        """Whether to sign `count` requests in the pool (a running pool takes every batch)."""
        if self._workers and time.monotonic() - self._last_used > IDLE_AFTER:
            self.close()
        return self.processes > 0 and (bool(self._workers) or count >= POOL_FROM)

    def start(self, pem: str) -> None:
        """Starts the workers now (if not running), each holding the key already loaded (it costs tens of ms).

        Called as soon as a big batch is claimed, so the workers fork while the requests are prepared.
        """
        if not self._workers and self.processes > 0:
            _private_key(pem)  # forked workers inherit it loaded; a spawned worker loads it from the PEM
            # fork: the workers start at once without importing the server again.
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            context = multiprocessing.get_context(method)
            self._workers = [_Worker(context, os.getpid()) for _ in range(self.processes)]
        self._last_used = time.monotonic()

    @property
    def pids(self) -> list[int]:
        return [worker.process.pid for worker in self._workers]

    async def sign(self, pem: str, messages: list[bytes]) -> AsyncIterator[tuple[int, list[str]]]:
        """Yields (index of the first message, its chunk's signatures) in order, as chunks are done.
        Raises PoolBroken when a worker fails (the pool is then closed)."""
        if not self._workers:
            self.start(pem)
        loop, workers = asyncio.get_running_loop(), self._workers
        size = max(CHUNK_MIN, min(CHUNK_MAX, len(messages) // (len(workers) * IN_FLIGHT * 2) or 1))
        starts = deque(range(0, len(messages), size))
        sent: deque[tuple[int, asyncio.Future]] = deque()
        try:
            while starts or sent:
                for worker in workers:  # keep IN_FLIGHT chunks at each worker
                    while starts and len(worker.waiting) < IN_FLIGHT:
                        start = starts.popleft()
                        sent.append((start, worker.send(loop, pem, messages[start : start + size])))
                if not sent:  # other batches keep the workers busy: queue one chunk behind theirs
                    worker = min(workers, key=lambda w: len(w.waiting))
                    start = starts.popleft()
                    sent.append((start, worker.send(loop, pem, messages[start : start + size])))
                start, future = sent.popleft()
                yield start, await future
        except (OSError, EOFError) as error:
            self.close()
            raise PoolBroken(f"cannot reach the signing processes: {error!r}") from None
        except PoolBroken:
            self.close()
            raise
        finally:
            self._last_used = time.monotonic()

    def close(self) -> None:
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.stop()
