"""Benchmark of idle memory (not part of the test run): the RSS of `interpeople serve` with one movement,
after start-up and before any request, beside a bare aiohttp server measured the same way in the same run.

Readiness is seen by connecting to the port (no HTTP request is sent); RSS is read a second later. Also prints
the RSS after one request to each of the main surfaces (pages, ActivityPub, the Mastodon API), which load what
start-up leaves for first use.

    .venv/bin/python tests/bench/bench_memory.py [--backend sqlite|postgresql] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import ROOT, rss_mb, stop_process  # noqa: E402
from tests.harness import PG_ENV, InstanceFactory, free_port  # noqa: E402

BARE = textwrap.dedent("""
    import sys
    from aiohttp import web

    async def handler(request):
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/", handler)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
""")


def wait_listening(port: int, process: subprocess.Popen, timeout: float = 120.0) -> None:
    """Waits until the port accepts a connection, without sending a request."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process on port {port} exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def idle_rss(command: list[str], port: int) -> tuple[float, subprocess.Popen]:
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    wait_listening(port, process)
    time.sleep(1.0)
    return rss_mb(psutil.Process(process.pid)), process


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.backend == "postgresql" and not os.environ.get(PG_ENV):
        sys.exit(f"set {PG_ENV} for the PostgreSQL run")
    factory = InstanceFactory(Path(tempfile.mkdtemp(prefix="bench-memory-")), args.backend)
    try:
        a = factory.new("a", start=False)
        a.movement("forum")
        serve = [sys.executable, "-m", "server.cli", "--data", str(a.data), "serve"]
        idle, bare = [], []
        for _ in range(args.runs):
            rss, process = idle_rss(serve, a.port)
            idle.append(rss)
            if len(idle) == args.runs:  # the last run: what first use loads
                for path, accept in (
                    ("/", "text/html"),
                    ("/actors/forum", "application/activity+json"),
                    ("/api/v1/instance", "application/json"),
                ):
                    requests.get(a.url(path), headers={"Accept": accept}, timeout=60)
                after = rss_mb(psutil.Process(process.pid))
            stop_process(process)
            port = free_port()
            rss, process = idle_rss([sys.executable, "-c", BARE, str(port)], port)
            bare.append(rss)
            stop_process(process)
        print(
            f"idle RSS of serve (one movement, {args.backend}, before any request): "
            f"{' / '.join(f'{r:.1f}' for r in idle)} MB (median {statistics.median(idle):.1f} MB)"
        )
        print(
            f"bare aiohttp server, same way: {' / '.join(f'{r:.1f}' for r in bare)} MB "
            f"(median {statistics.median(bare):.1f} MB)"
        )
        print(
            f"serve - bare: {statistics.median(idle) - statistics.median(bare):.1f} MB; "
            f"after one page, one actor document and one API request: {after:.1f} MB"
        )
    finally:
        factory.close()


if __name__ == "__main__":
    main()
