"""Benchmark of the Mastodon home timeline (not part of the test run).

An account following 500 actors, with 100,000 statuses in the database (80,000 from followed actors, so in its
home timeline, 20,000 from others), 1,000 of them boosted: p50/p95 latency of `GET /api/v1/timelines/home` for
the first page and for a deep page (max_id half-way down), and requests per second at 32 concurrent clients
(wrk, from another process), beside the rate of a bare aiohttp handler answering small JSON, measured in the
same script on the same machine.

    .venv/bin/python tests/bench/bench_timeline.py [--backend sqlite|postgresql] [--requests 300] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

from sqlalchemy import insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from models import Actor, Database, Follow, Object, TimelineEntry, utcnow  # noqa: E402
from models.actor import local_actor  # noqa: E402
from models.oauth import AccessToken, OAuthApp, digest  # noqa: E402
from tests.bench.common import WRK, p50_p95, stop_process, timed_gets, wait_http  # noqa: E402
from tests.harness import PG_ENV, InstanceFactory, free_port  # noqa: E402

FOLLOWED, OTHERS, STATUSES, FOLLOWED_SHARE, BOOSTS = 500, 500, 100_000, 0.8, 1_000


async def seed(database_url: str) -> tuple[str, int]:
    """Actors, follows, statuses, boosts and timeline entries straight into the database; returns a token and
    the id half-way down the home timeline."""
    db = Database(database_url)
    async with db.session() as session:
        reader = await local_actor(session, "reader")
        actors = [
            {
                "uri": f"http://127.0.0.1:9/users/u{i}",
                "type": "Person" if i % 10 else "Group",
                "local": False,
                "username": f"u{i}",
                "host": "127.0.0.1:9",
                "name": f"Someone {i}",
                "inbox": f"http://127.0.0.1:9/users/u{i}/inbox",
                "shared_inbox": "http://127.0.0.1:9/inbox",
                "auto_accept": True,
                "created_at": utcnow(),
            }
            for i in range(FOLLOWED + OTHERS)
        ]
        await session.execute(insert(Actor), actors)
        ids = [
            r
            for r in (
                await session.scalars(select(Actor.id).where(Actor.local.is_(False)).order_by(Actor.id))
            )
        ]
        followed, others = ids[:FOLLOWED], ids[FOLLOWED:]
        await session.execute(
            insert(Follow),
            [
                {
                    "follower_id": reader.id,
                    "followee_id": f,
                    "state": "accepted",
                    "activity_uri": f"urn:follow:{f}",
                    "created_at": utcnow(),
                    "updated_at": utcnow(),
                }
                for f in followed
            ],
        )
        start = utcnow() - dt.timedelta(days=60)
        rng = __import__("random").Random(7)
        for chunk in range(0, STATUSES, 10_000):
            rows = []
            for n in range(chunk, min(chunk + 10_000, STATUSES)):
                author = rng.choice(followed) if rng.random() < FOLLOWED_SHARE else rng.choice(others)
                uri = f"http://127.0.0.1:9/objects/{uuid.uuid4()}"
                content = f"<p>Status {n} about <strong>land</strong>, water and seeds.</p>"
                rows.append(
                    {
                        "uri": uri,
                        "type": "Note",
                        "local": False,
                        "attributed_to_id": author,
                        "content": content,
                        "public": True,
                        "visibility": "public",
                        "published": start + dt.timedelta(seconds=50 * n),
                        "document": {
                            "id": uri,
                            "type": "Note",
                            "content": content,
                            "attributedTo": "x",
                            "to": ["https://www.w3.org/ns/activitystreams#Public"],
                        },
                    }
                )
            await session.execute(insert(Object), rows)
        home = set(followed)
        objects = (
            await session.execute(
                select(Object.id, Object.attributed_to_id)
                .where(Object.type == "Note", Object.local.is_(False))
                .order_by(Object.id)
            )
        ).all()
        boosted = rng.sample([o for o in objects if o.attributed_to_id not in home], BOOSTS)
        wrappers = []
        for o in boosted:
            uri = f"http://127.0.0.1:9/activities/{uuid.uuid4()}"
            wrappers.append(
                {
                    "uri": uri,
                    "type": "Announce",
                    "local": False,
                    "attributed_to_id": rng.choice(followed),
                    "reblog_of_id": o.id,
                    "public": True,
                    "visibility": "public",
                    "published": utcnow(),
                    "document": {"id": uri, "type": "Announce"},
                }
            )
        await session.execute(insert(Object), wrappers)
        wrapper_rows = (
            await session.execute(
                select(Object.id, Object.attributed_to_id, Object.reblog_of_id).where(
                    Object.type == "Announce"
                )
            )
        ).all()
        entries = [
            {
                "owner_id": reader.id,
                "object_id": o.id,
                "via_actor_id": o.attributed_to_id,
                "created_at": utcnow(),
            }
            for o in objects
            if o.attributed_to_id in home
        ]
        entries += [
            {
                "owner_id": reader.id,
                "object_id": w.reblog_of_id,
                "via_actor_id": w.attributed_to_id,
                "created_at": utcnow(),
            }
            for w in wrapper_rows
        ]
        entries += [
            {
                "owner_id": reader.id,
                "object_id": w.id,
                "via_actor_id": w.attributed_to_id,
                "created_at": utcnow(),
            }
            for w in wrapper_rows
        ]
        for chunk in range(0, len(entries), 20_000):
            await session.execute(insert(TimelineEntry), entries[chunk : chunk + 20_000])
        token = secrets.token_urlsafe(32)
        app = OAuthApp(
            client_id=secrets.token_urlsafe(16),
            client_secret_hash=digest("x"),
            name="bench",
            redirect_uris="urn:ietf:wg:oauth:2.0:oob",
            scopes="read",
        )
        session.add(app)
        await session.flush()
        session.add(
            AccessToken(
                token_hash=digest(token),
                app_id=app.id,
                account_id=reader.id,
                member_id=reader.id,
                scopes="read",
            )
        )
        in_home = sorted(e["object_id"] for e in entries)
    async with db.engine.connect() as conn:  # fresh planner statistics, as autovacuum would gather
        await conn.execute(text("ANALYZE"))
        await conn.commit()
    await db.close()
    return token, in_home[len(in_home) // 2]


def percentiles(samples: list[float]) -> str:
    p50, p95 = p50_p95(samples)
    return f"p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"


def a_full_page(response) -> None:
    assert response.status_code == 200 and len(response.json()) == 20, (
        response.status_code,
        response.text[:200],
    )


def home_gets(url: str, token: str, count: int) -> list[float]:
    return timed_gets([url] * count, {"Authorization": f"Bearer {token}"}, a_full_page)


BARE = textwrap.dedent("""
    import sys
    from aiohttp import web

    async def handler(request):
        return web.json_response({"id": "1", "content": "<p>hello</p>", "account": {"acct": "someone"}})

    app = web.Application()
    app.router.add_get("/", handler)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
""")


def wrk_run(url: str, seconds: int, token: str | None = None) -> tuple[float, str]:
    """Requests per second and the latency p90/p99 line from wrk (2 threads, 32 connections) in its own
    process."""
    command = [WRK, "-t2", "-c32", "--latency", f"-d{seconds}s", url]
    if token:
        command[1:1] = ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"wrk saw {errors.group(1)} error answers:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    found = {p: re.search(r"\s%d%%\s+(\S+)" % p, out).group(1) for p in (50, 90, 99)}
    latency = ", ".join(f"p{p} {value}" for p, value in found.items())
    return rate, latency


def wrk_rate(url: str, seconds: int, token: str | None = None) -> float:
    return wrk_run(url, seconds, token)[0]


def py_spy(pid: int, seconds: int) -> subprocess.Popen | None:
    """With BENCH_PYSPY=FILE, a py-spy recording of the server during the loaded run (raw format); more py-spy
    options in BENCH_PYSPY_ARGS (--gil: only the thread holding the GIL)."""
    if not os.environ.get("BENCH_PYSPY"):
        return None
    spy = str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen(
        [spy, "record", "-p", str(pid), "-r", "400", "-o", os.environ["BENCH_PYSPY"], "-f", "raw"]
        + ["-d", str(seconds), "--nonblocking"]
        + os.environ.get("BENCH_PYSPY_ARGS", "").split()
    )


def bare_rate(seconds: int) -> float:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", BARE, str(port)])
    try:
        wait_http(f"http://127.0.0.1:{port}/", server, timeout=10)
        return wrk_rate(f"http://127.0.0.1:{port}/", seconds)
    finally:
        stop_process(server)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if args.backend == "postgresql" and not os.environ.get(PG_ENV):
        sys.exit(f"set {PG_ENV} for the PostgreSQL run")
    if not shutil.which(WRK):
        sys.exit(f"{WRK} is needed for the throughput figures (apt-get install wrk)")
    factory = InstanceFactory(Path(tempfile.mkdtemp(prefix="bench-timeline-")), args.backend)
    try:
        a = factory.new("a", start=False)
        a.movement("forum")
        a.member("reader", "forum")
        database_url = a.effective_database_url
        started = time.perf_counter()
        token, middle = asyncio.run(seed(database_url))
        print(
            f"seeded {STATUSES:,} statuses by {FOLLOWED + OTHERS} actors, {BOOSTS:,} boosts; the reader follows "
            f"{FOLLOWED} ({time.perf_counter() - started:.1f}s, {args.backend})"
        )
        a.start()
        first = a.url("/api/v1/timelines/home")
        deep = a.url(f"/api/v1/timelines/home?max_id={middle}")
        home_gets(first, token, 20)
        home_gets(deep, token, 20)  # warm up
        print(f"home, first page (20 statuses): {percentiles(home_gets(first, token, args.requests))}")
        print(
            f"home, deep page (max_id half-way, ~40,000 statuses down): "
            f"{percentiles(home_gets(deep, token, args.requests))}"
        )
        spy = py_spy(a.process.pid, args.seconds)
        home_rate, latency = wrk_run(first, args.seconds, token)
        if spy:
            spy.wait()
        bare = bare_rate(args.seconds)
        print(
            f"home first page at 32 concurrent clients (wrk): {home_rate:,.0f} requests/s (latency {latency})"
        )
        print(f"bare aiohttp JSON handler, same load: {bare:,.0f} requests/s")
        print(
            f"ratio home / bare: {home_rate / bare:.1%} (each home page is 20 full statuses with accounts, "
            f"counts and flags, from six lean reads)"
        )
    finally:
        factory.close()


if __name__ == "__main__":
    main()
