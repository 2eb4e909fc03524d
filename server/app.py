"""Builds the aiohttp application and runs it together with the delivery and inbox workers and the clock."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import signal
import ssl
import zlib
from pathlib import Path

import jinja2
from aiohttp import web

from federation.context import Federation
from federation.decisions.clock import Clock
from federation.delivery import DeliveryWorker
from federation.inbox import Inbox
from federation.inbox_worker import InboxWorker
from models.migrate import upgrade
from server import error_pages, form_limits, headers, throttle
from server.keys import FED, INBOX, TEMPLATES
from server.links import link_target
from server.page_context import chrome_middleware
from server.routes import ROUTE_MODULES

log = logging.getLogger(__name__)
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


@web.middleware
async def errors_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("error handling %s %s", request.method, request.path)
        return web.json_response({"error": "internal server error"}, status=500)


def hue(text: str) -> int:
    """A stable colour for an actor's initial, so people recognise each other at a glance."""
    return zlib.crc32(text.encode("utf-8")) % 360


def templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=True)
    env.globals["hue"] = hue
    env.filters["weburl"] = link_target
    return env


def build_app(fed: Federation) -> web.Application:
    app = web.Application(
        client_max_size=fed.settings.max_inbox_bytes,
        middlewares=[errors_middleware, error_pages.middleware, form_limits.middleware, chrome_middleware],
    )
    app[FED] = fed
    app[INBOX] = Inbox(fed)
    app[TEMPLATES] = templates()
    headers.setup(app)
    app.on_startup.append(throttle.warm_up)
    for module in ROUTE_MODULES:
        module.setup(app)
    return app


def tls_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server-side TLS context from PEM files (for https on loopback in local testing)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


M_ARENA_MAX = -8  # glibc's mallopt parameter
MALLOC_ARENAS = 2  # instead of up to 8 per core: every worker thread (SQLite, executors) would get its own


def _libc():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def limit_malloc_arenas() -> None:
    """Keeps glibc to a few heaps for all threads (what MALLOC_ARENA_MAX does), before any thread starts:
    each thread's own arena holds pages that idle threads never give back. Elsewhere nothing happens."""
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(M_ARENA_MAX, MALLOC_ARENAS)


def release_start_up_memory() -> None:
    """Gives back to the system what start-up allocated and dropped: collects garbage, moves what is left
    out of the collector's sight (gc.freeze: fewer pages touched by later collections, shared by forks),
    and asks glibc to return free heap pages (malloc_trim; absent elsewhere, then nothing happens)."""
    gc.collect()
    gc.freeze()
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


async def serve(
    fed: Federation,
    host: str,
    port: int,
    stop: asyncio.Event | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Runs the web server, the delivery worker and the inbox worker in this process until stop (or a signal)."""
    limit_malloc_arenas()
    await upgrade(fed.db)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    app = build_app(fed)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    release_start_up_memory()
    site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=ssl_context)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    log.info("Interpeople serving %s on %s:%d", fed.settings.base_url, host, port)
    print(f"Interpeople is serving {fed.settings.base_url} (listening on {host}:{port})", flush=True)
    worker = DeliveryWorker(fed)
    worker_task = asyncio.create_task(worker.run(stop))
    inbox_task = asyncio.create_task(InboxWorker(app[INBOX]).run(stop))
    clock_task = asyncio.create_task(Clock(fed).run(stop))
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await inbox_task
        await worker_task
        await clock_task
