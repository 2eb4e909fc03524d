"""Benchmark of forum spaces (not part of the test run).

A space with 1,000 threads and 50,000 replies: p50/p95 latency of the space page and of thread pages.
A reply announced to 2,000 followers on 200 hosts: time until every host has both Announces (a loopback
sink listens on 200 ports, one "host" each, and answers 202).

    .venv/bin/python tests/bench/bench_spaces.py [--backend sqlite|postgresql] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from federation.keys import new_rsa_keypair, secret_for  # noqa: E402
from federation.signatures import sign_request  # noqa: E402
from models import Actor, Database, Follow, Object, utcnow  # noqa: E402
from models.actor import local_actor  # noqa: E402
from models.space import Space, SpacePost  # noqa: E402
from tests.bench.common import p50_p95, timed_gets  # noqa: E402
from tests.fake_peer import ManyHosts  # noqa: E402
from tests.harness import PG_ENV, InstanceFactory, wait_for  # noqa: E402

THREADS, REPLIES, FOLLOWERS, HOSTS = 1_000, 50_000, 2_000, 200


async def seed(database_url: str, base: str, ports: list[int]) -> tuple[list[int], str]:
    """Threads, replies and followers written straight into the database. Returns thread ids and a thread URI."""
    db = Database(database_url)
    async with db.session() as session:
        space_actor = await local_actor(session, "bench")
        space = await session.scalar(select(Space).where(Space.actor_id == space_actor.id))
        authors = []
        for i in range(100):
            host = f"127.0.0.1:{ports[i % len(ports)]}"
            authors.append(
                {
                    "uri": f"http://{host}/users/author{i}",
                    "type": "Person",
                    "local": False,
                    "username": f"author{i}",
                    "host": host,
                    "name": f"Author {i}",
                    "inbox": f"http://{host}/users/author{i}/inbox",
                    "shared_inbox": f"http://{host}/inbox",
                    "auto_accept": True,
                    "created_at": utcnow(),
                }
            )
        followers = []
        for i in range(FOLLOWERS):
            host = f"127.0.0.1:{ports[i % HOSTS]}"
            followers.append(
                {
                    "uri": f"http://{host}/users/f{i}",
                    "type": "Person",
                    "local": False,
                    "username": f"f{i}",
                    "host": host,
                    "inbox": f"http://{host}/users/f{i}/inbox",
                    "shared_inbox": f"http://{host}/inbox",
                    "auto_accept": True,
                    "created_at": utcnow(),
                }
            )
        await session.execute(insert(Actor), authors + followers)
        ids = dict((await session.execute(select(Actor.uri, Actor.id).where(Actor.local.is_(False)))).all())
        await session.execute(
            insert(Follow),
            [
                {
                    "follower_id": ids[f["uri"]],
                    "followee_id": space_actor.id,
                    "state": "accepted",
                    "activity_uri": f"{f['uri']}#follow",
                    "created_at": utcnow(),
                    "updated_at": utcnow(),
                }
                for f in followers
            ],
        )
        author_ids = [ids[a["uri"]] for a in authors]
        start = utcnow() - dt.timedelta(days=30)
        threads = []
        for t in range(THREADS):
            uri = f"{base}/objects/{uuid.uuid4()}"
            threads.append(
                {
                    "uri": uri,
                    "type": "Page",
                    "local": False,
                    "attributed_to_id": random.choice(author_ids),
                    "name": f"Thread {t}: land and water",
                    "content": f"<p>Opening post {t}</p>",
                    "public": True,
                    "published": start + dt.timedelta(minutes=t),
                    "context": space_actor.uri,
                    "document": {"id": uri, "type": "Page", "name": f"Thread {t}"},
                }
            )
        await session.execute(insert(Object), threads)
        thread_rows = (
            await session.execute(
                select(Object.id, Object.uri, Object.published, Object.attributed_to_id).where(
                    Object.type == "Page"
                )
            )
        ).all()
        await session.execute(
            insert(SpacePost),
            [
                {
                    "space_id": space.id,
                    "object_id": r.id,
                    "thread_id": r.id,
                    "author_id": r.attributed_to_id,
                    "is_thread": True,
                    "created_at": utcnow(),
                    "reply_count": REPLIES // THREADS,
                    "last_activity_at": r.published + dt.timedelta(hours=random.randint(1, 500)),
                    "locked": False,
                }
                for r in thread_rows
            ],
        )
        per_thread = REPLIES // THREADS
        for chunk in range(0, len(thread_rows), 100):
            objects, posts = [], []
            for r in thread_rows[chunk : chunk + 100]:
                parents = [(r.id, r.uri)]
                for k in range(per_thread):
                    uri = f"{base}/objects/{uuid.uuid4()}"
                    parent = random.choice(parents[-5:])
                    objects.append(
                        {
                            "uri": uri,
                            "type": "Note",
                            "local": False,
                            "in_reply_to": parent[1],
                            "attributed_to_id": random.choice(author_ids),
                            "public": True,
                            "content": f"<p>Reply {k} with <strong>some</strong> words about wells.</p>",
                            "published": r.published + dt.timedelta(minutes=k + 1),
                            "context": space_actor.uri,
                            "document": {"id": uri, "type": "Note"},
                        }
                    )
                    posts.append((uri, r.id, parent[0]))
                    parents.append((None, uri))
            await session.execute(insert(Object), objects)
            known = dict(
                (
                    await session.execute(
                        select(Object.uri, Object.id).where(Object.uri.in_([o["uri"] for o in objects]))
                    )
                ).all()
            )
            rows = []
            author_of = {o["uri"]: o["attributed_to_id"] for o in objects}
            for uri, thread_id, _ in posts:
                rows.append(
                    {
                        "space_id": space.id,
                        "object_id": known[uri],
                        "thread_id": thread_id,
                        "author_id": author_of[uri],
                        "is_thread": False,
                        "created_at": utcnow(),
                        "reply_count": 0,
                        "last_activity_at": utcnow(),
                        "locked": False,
                        "parent_id": None,
                    }
                )
            by_uri = {o["uri"]: o["in_reply_to"] for o in objects}
            parent_ids = dict(
                (
                    await session.execute(
                        select(Object.uri, Object.id).where(Object.uri.in_(set(by_uri.values())))
                    )
                ).all()
            )
            for row, (uri, _, _) in zip(rows, posts):
                row["parent_id"] = parent_ids[by_uri[uri]]
            await session.execute(insert(SpacePost), rows)
    await db.close()
    return [r.id for r in thread_rows], thread_rows[-1].uri


def percentiles(samples: list[float]) -> str:
    p50, p95 = p50_p95(samples)
    return f"p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, max {max(samples) * 1000:.1f} ms"


def rsa_signs_per_second() -> float:
    _, private = new_rsa_keypair()
    secret = secret_for("http://x/actor#main-key", private, "rsa")
    started = time.perf_counter()
    for _ in range(200):
        sign_request("post", "http://127.0.0.1:9/inbox", secret, b"{}")
    return 200 / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    if args.backend == "postgresql" and not os.environ.get(PG_ENV):
        sys.exit(f"set {PG_ENV} for the PostgreSQL run")
    sink = ManyHosts(HOSTS)
    factory = InstanceFactory(Path(tempfile.mkdtemp(prefix="bench-spaces-")), args.backend)
    try:
        a = factory.new("a", start=False)
        a.movement("forum")
        a.member("mod", "forum", role="admin")
        a.cli("space", "create", "bench", "--name", "Bench space", "--movement", "forum")
        database_url = a.effective_database_url
        started = time.perf_counter()
        thread_ids, thread_uri = asyncio.run(seed(database_url, "http://127.0.0.1:1", sink.ports))
        print(
            f"seeded {THREADS} threads, {REPLIES} replies, {FOLLOWERS} followers on {HOSTS} hosts "
            f"in {time.perf_counter() - started:.1f}s ({args.backend})"
        )
        a.start()
        for url in (a.url("/spaces/bench"), a.url(f"/threads/{thread_ids[0]}")):
            timed_gets([url] * 5)  # warm up
        space_samples = timed_gets(
            [a.url(f"/spaces/bench?page={random.randint(1, 20)}") for _ in range(args.requests)]
        )
        thread_samples = timed_gets(
            [a.url(f"/threads/{random.choice(thread_ids)}") for _ in range(args.requests)]
        )
        print(f"space page (50 threads of 1,000): {percentiles(space_samples)}")
        print(f"thread page (1 thread + 50 nested replies): {percentiles(thread_samples)}")

        started = time.perf_counter()
        reply = a.cli("reply", "mod", thread_uri, "Fan-out check").out.strip()
        queued = time.perf_counter()
        wait_for(
            lambda: sink.types["Announce"] >= 2 * HOSTS,
            timeout=300,
            interval=0.02,
            what="both Announces at every host",
        )
        done = time.perf_counter()
        print(
            f"reply {reply}: stored and queued in {queued - started:.2f}s (CLI run in-process); "
            f"{2 * HOSTS} Announces (Announce{{Create}} + Announce{{Note}}) to {HOSTS} hosts "
            f"for {FOLLOWERS} followers delivered {done - queued:.2f}s later; total {done - started:.2f}s"
        )
        print(f"anchor: RSA-2048 signatures on this machine now: {rsa_signs_per_second():.0f}/s")
    finally:
        factory.close()
        sink.stop()


if __name__ == "__main__":
    main()
