"""Signing big batches of requests in worker processes: RSA signing holds the GIL, so a large fan-out
is signed on the other cores while the event loop does the HTTP. Started on first need."""
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
from concurrent.futures import ProcessPoolExecutor
from typing import AsyncIterator

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

POOL_FROM = 64  # a batch at least this big starts the pool
CHUNK = 16  # signatures per task: small enough that the first requests leave early
IDLE_AFTER = 300.0  # an unused pool is stopped after this many seconds


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


_keys: dict[str, object] = {}  # PEM -> loaded key; filled in the server before it forks the workers


def _private_key(pem: str):
    key = _keys.get(pem)
    if key is None:
        if len(_keys) >= 64:
            _keys.clear()
        key = _keys[pem] = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    return key


def _ready() -> None:
    """A no-op task: submitting one per worker makes the pool fork all its workers now."""


def _sign_chunk(pem: str, messages: list[bytes]) -> list[str]:
    """In a worker: RSA-2048 PKCS#1 v1.5 SHA-256 signatures, base64."""
    key = _private_key(pem)
    return [base64.standard_b64encode(key.sign(m, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")
            for m in messages]


PR_SET_PDEATHSIG = 1  # Linux prctl: a signal the kernel sends when the parent exits
PARENT_CHECK = 0.5  # seconds between checks that the parent is alive (where prctl is missing)


def _exit_with_parent(parent: int) -> None:
    """Ends this worker when the server that started it dies, even by kill -9 (its queue never closes then):
    at once through prctl on Linux, and by watching the parent's id everywhere."""
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


def _worker_started(parent: int) -> None:
    # A forked worker inherits the server's signal handling; its signals are its own.
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(parent)


class SigningPool:
    """Worker processes that sign with a private key given as PEM; `processes=0` means never."""

    def __init__(self, processes: int):
        self.processes = processes
        self._executor: ProcessPoolExecutor | None = None
        self._last_used = 0.0

    def wanted(self, count: int) -> bool:
        """Whether to sign `count` requests in the pool (a running pool takes every batch)."""
        if self._executor is not None and time.monotonic() - self._last_used > IDLE_AFTER:
            self.close()
        return self.processes > 0 and (self._executor is not None or count >= POOL_FROM)

    def start(self, pem: str, key) -> None:
        """Starts the workers now (if not running), each holding `key` already loaded (it costs tens of ms).

        Called as soon as a big batch is claimed, so the workers fork while the requests are prepared.
        """
        if self._executor is None and self.processes > 0:
            _keys[pem] = key  # forked workers inherit it; a spawned worker loads it from the PEM
            pool = self._pool()
            for _ in range(self.processes):
                pool.submit(_ready)

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # fork: the workers start at once without importing the server again.
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            self._executor = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context(method),
                                                 initializer=_worker_started, initargs=(os.getpid(),))
        self._last_used = time.monotonic()
        return self._executor

    async def sign(self, pem: str, messages: list[bytes]) -> AsyncIterator[tuple[int, list[str]]]:
        """Yields (index of the first message, its chunk's signatures) as chunks are done."""
        loop, pool = asyncio.get_running_loop(), self._pool()

        async def chunk(start: int) -> tuple[int, list[str]]:
            return start, await loop.run_in_executor(pool, _sign_chunk, pem, messages[start:start + CHUNK])

        for done in asyncio.as_completed([chunk(start) for start in range(0, len(messages), CHUNK)]):
            yield await done
        self._last_used = time.monotonic()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
