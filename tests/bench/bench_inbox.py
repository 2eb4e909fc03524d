"""Benchmark of the inbox (not part of the test run).

Signed `Create{Note}` POSTs from a remote actor (its actor document served on loopback by a fake peer),
each with its own activity id and a fresh Date, pre-signed (draft-cavage, RSA-2048) and replayed by wrk
from the other core against `interpeople serve` pinned to one core. Figure: activities accepted, verified
and committed per second. Baseline measured in the same run: a bare aiohttp handler that only parses the
JSON body, pinned the same way and loaded by the same wrk script with the same requests. Afterwards every
accepted activity is looked up in the database.

    .venv/bin/python tests/bench/bench_inbox.py [--backend sqlite|postgresql] [--requests 60000]
        [--duration 10] [--connections 64]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import (  # noqa: E402
    CORES,
    WRK,
    pinned,
    run_wrk,
    start_serve,
    stop_process,
    wait_http,
    write_requests,
)
from tests.fake_peer import FakePeer  # noqa: E402
from tests.harness import PG_ENV, InstanceFactory, free_port  # noqa: E402

SERVER_CORE, LOAD_CORE = 0, 1

BARE_SERVER = r"""
import sys
from aiohttp import web

async def handle(request):
    document = await request.json()
    return web.json_response({"status": "parsed " + str(len(document))}, status=202)

app = web.Application()
app.router.add_post("/inbox", handle)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""

# Two floors, to tell what the figure could be at best: the bare handler that also checks the Digest and
# the RSA signature (key already loaded), and that one also committing the raw activity as one SQLite
# row (group commit, WAL, synchronous=NORMAL) before answering. No timeline, no object, no checks.
FLOOR_SERVER = r"""
import asyncio, base64, hashlib, json, sqlite3, sys
from concurrent.futures import ThreadPoolExecutor
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

port, pem_path, mode, db_path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
public = serialization.load_pem_private_key(open(pem_path, "rb").read(), None).public_key()
db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=NORMAL")
db.execute("CREATE TABLE IF NOT EXISTS journal (id INTEGER PRIMARY KEY, uri TEXT UNIQUE, body TEXT)")
writer_thread, waiting, writer = ThreadPoolExecutor(1), [], None

def write(batch):
    db.execute("BEGIN")
    db.executemany("INSERT INTO journal (uri, body) VALUES (?, ?)", [(uri, body) for uri, body, _ in batch])
    db.execute("COMMIT")

async def write_waiting():
    global waiting
    while waiting:
        batch, waiting = waiting, []
        await asyncio.get_running_loop().run_in_executor(writer_thread, write, batch)
        for _, _, done in batch:
            done.set_result(None)

async def handle(request):
    global writer
    body = await request.read()
    document = json.loads(body)
    headers = request.headers
    fields = {k: v.strip('"') for k, v in (part.split("=", 1) for part in headers["signature"].split(","))}
    if headers["digest"][8:] != base64.b64encode(hashlib.sha256(body).digest()).decode():
        return web.Response(status=401)
    lines = [f"{name}: post {request.raw_path}" if name == "(request-target)" else f"{name}: {headers[name]}"
             for name in fields["headers"].split()]
    public.verify(base64.b64decode(fields["signature"]), "\n".join(lines).encode(), padding.PKCS1v15(), hashes.SHA256())
    if mode == "journal":
        done = asyncio.get_running_loop().create_future()
        waiting.append((document["id"], body.decode(), done))
        if writer is None or writer.done():
            writer = asyncio.create_task(write_waiting())
        await done
    return web.Response(body=b'{"status": "accepted"}', status=202, content_type="application/json")

app = web.Application()
app.router.add_post("/inbox", handle)
web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)
"""

# The floor for processing, to tell what the sustained figure could be at best: the same activities, already
# journaled, processed in batches of 256 with no checks at all: parse, sanitise the content (nh3, as the
# inbox does), store the activity, the object and one timeline entry, mark the journal row done; one
# transaction per batch. CPU per post, printed by the script.
PROCESSING_FLOOR = r"""
import json, sqlite3, sys, time
import nh3

db_path, bodies_path = sys.argv[1], sys.argv[2]
bodies = [line for line in open(bodies_path, encoding="utf-8").read().split("\n") if line]
db = sqlite3.connect(db_path, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=NORMAL")
db.execute("CREATE TABLE journal (id INTEGER PRIMARY KEY, uri TEXT UNIQUE, body TEXT, state TEXT)")
db.execute("CREATE TABLE activities (id INTEGER PRIMARY KEY, uri TEXT UNIQUE, payload TEXT)")
db.execute("CREATE TABLE objects (id INTEGER PRIMARY KEY, uri TEXT UNIQUE, content TEXT)")
db.execute("CREATE TABLE timeline (id INTEGER PRIMARY KEY, owner INTEGER, object_id INTEGER)")
db.execute("BEGIN")
db.executemany(
    "INSERT INTO journal (uri, body, state) VALUES (?, ?, 'received')",
    [(json.loads(body)["id"], body) for body in bodies],
)
db.execute("COMMIT")
started = time.process_time()
while True:
    rows = db.execute("SELECT id, body FROM journal WHERE state = 'received' ORDER BY id LIMIT 256").fetchall()
    if not rows:
        break
    documents = [(entry, json.loads(body), body) for entry, body in rows]
    db.execute("BEGIN")
    db.executemany("INSERT INTO activities (uri, payload) VALUES (?, ?)", [(d["id"], b) for _, d, b in documents])
    cursor, object_ids = db.cursor(), []
    for _, document, _ in documents:
        note = document["object"]
        cursor.execute("INSERT INTO objects (uri, content) VALUES (?, ?)", (note["id"], nh3.clean(note["content"])))
        object_ids.append(cursor.lastrowid)
    db.executemany("INSERT INTO timeline (owner, object_id) VALUES (1, ?)", [(i,) for i in object_ids])
    db.executemany("UPDATE journal SET state = 'done' WHERE id = ?", [(entry,) for entry, _, _ in documents])
    db.execute("COMMIT")
print((time.process_time() - started) / len(bodies) * 1e6)
"""


def processing_floor_us(prefix: Path, raw: list[bytes]) -> float:
    """CPU µs per post of PROCESSING_FLOOR over the bodies of the first 30,000 requests, on the server's core."""
    bodies = prefix.parent / "floor-bodies.jsonl"
    bodies.write_text(
        "\n".join(request.split(b"\r\n\r\n", 1)[1].decode("utf-8") for request in raw[:30_000]),
        encoding="utf-8",
    )
    command = [
        sys.executable,
        "-c",
        PROCESSING_FLOOR,
        str(prefix.parent / "floor-processing.db"),
        str(bodies),
    ]
    answer = subprocess.run(pinned(command, SERVER_CORE), capture_output=True, text=True, check=True)
    return float(answer.stdout.strip())


def _sign_batch(job: tuple) -> list[bytes]:
    """Raw HTTP requests, each a signed Create{Note} with a unique id (run in a worker process)."""
    key_id, private_pem, actor, peer_base, url, host, count = job
    from federation.keys import secret_for
    from federation.signatures import sign_request
    from tests.signing import create_note

    secret = secret_for(key_id, private_pem, "rsa")
    path = url.split(host, 1)[1]
    words = "Land, water and seeds belong to those who care for them. Meet us at the square on Saturday. "
    out = []
    for i in range(count):
        document = create_note(
            actor,
            peer_base,
            text=f"{words}#{uuid.uuid4().hex[:8]} {i}",
            cc=[f"{actor}/followers"],
            url=f"{peer_base}/@poster/{i}",
        )
        body = json.dumps(document).encode()
        headers = sign_request("post", url, secret, body)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {headers['host']}\r\nDate: {headers['date']}\r\n"
            f"Digest: {headers['digest']}\r\nSignature: {headers['signature']}\r\n"
            f"Content-Type: application/activity+json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


def presign(peer: FakePeer, url: str, host: str, count: int) -> list[bytes]:
    key_id = f"{peer.actor_id}#main-key"
    jobs = []
    per_job = 2000
    for start in range(0, count, per_job):
        jobs.append(
            (key_id, peer.private_pem, peer.actor_id, peer.base_url, url, host, min(per_job, count - start))
        )
    with multiprocessing.get_context("spawn").Pool(max(1, CORES)) as pool:
        batches = pool.map(_sign_batch, jobs)
    return [raw for batch in batches for raw in batch]


def replay(url: str, prefix: Path, args, want: str = "accepted", cycle: bool = False) -> dict:
    """The measured wrk run: the pre-signed requests from the load core, args.connections at once."""
    return run_wrk(
        url,
        prefix,
        202,
        want,
        threads=1,
        connections=args.connections,
        duration=args.duration,
        core=LOAD_CORE,
        cycle=cycle,
    )


def warm_up(url: str, warm_prefix: Path) -> None:
    run_wrk(url, warm_prefix, 202, "accepted", threads=1, connections=8, duration=30, core=LOAD_CORE)


def bare_rate(prefix: Path, args) -> dict:
    port = free_port()
    process = subprocess.Popen(pinned([sys.executable, "-c", BARE_SERVER, str(port)], SERVER_CORE))
    try:
        wait_http(f"http://127.0.0.1:{port}/", process)
        return replay(f"http://127.0.0.1:{port}/inbox", prefix, args, "parsed", cycle=True)
    finally:
        stop_process(process)


def floor_rate(prefix: Path, args, peer: FakePeer, mode: str, port: int) -> dict:
    """The floor server in `mode` (verify | journal), on the port the requests were signed for."""
    pem = prefix.parent / "poster.pem"
    pem.write_text(peer.private_pem)
    process = subprocess.Popen(
        pinned(
            [
                sys.executable,
                "-c",
                FLOOR_SERVER,
                str(port),
                str(pem),
                mode,
                str(prefix.parent / f"floor-{mode}.db"),
            ],
            SERVER_CORE,
        )
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/", process)
        return replay(f"http://127.0.0.1:{port}/inbox", prefix, args, cycle=mode == "verify")
    finally:
        stop_process(process)


FEDIFY_DIR = Path(__file__).resolve().parent / "fedify_peer"
FEDIFY_NODE = FEDIFY_DIR / "node_modules" / ".bin" / "node"


def fedify_ready() -> str | None:
    """Why the Fedify peer can not run, or None (it needs `npm install` in tests/bench/fedify_peer)."""
    if FEDIFY_NODE.exists() and (FEDIFY_DIR / "node_modules" / "@fedify" / "fedify").exists():
        return None
    return f"not installed: run `npm install` in {FEDIFY_DIR.relative_to(Path.cwd().resolve())}"


def fedify_rate(prefix: Path, warm_prefix: Path, args, port: int) -> dict:
    """Fedify's inbox (tests/bench/fedify_peer/server.mjs) on the port the requests were signed for, pinned
    like serve: the same requests, each once, after a warm-up that lets it fetch and cache the poster's key."""
    process = subprocess.Popen(
        pinned([str(FEDIFY_NODE), str(FEDIFY_DIR / "server.mjs"), str(port)], SERVER_CORE),
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/", process)
        warm_up(f"http://127.0.0.1:{port}/inbox", warm_prefix)
        return replay(f"http://127.0.0.1:{port}/inbox", prefix, args)
    finally:
        stop_process(process)


UNFINISHED = "SELECT count(*) FROM inbox_entries WHERE state IN ('received', 'processing', 'retrying')"


def unfinished(instance) -> int:
    return instance.sql(UNFINISHED, drained=False)[0][0]


def wait_drained(instance, timeout: float) -> float:
    """Seconds until the journal has no unfinished entry."""
    started = time.monotonic()
    while unfinished(instance):
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"the journal did not drain within {timeout:.0f}s")
        time.sleep(0.05)
    return time.monotonic() - started


def lag_seconds(row) -> float:
    processed, received = row
    if isinstance(processed, str):  # SQLite through text(): ISO strings
        import datetime as dt

        processed, received = dt.datetime.fromisoformat(processed), dt.datetime.fromisoformat(received)
    return (processed - received).total_seconds()


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p / 100))] if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--requests", type=int, default=60_000, help="pre-signed requests (each sent once)")
    parser.add_argument("--duration", type=float, default=10.0, help="longest wrk run (s)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--profile", help="write a cProfile of serve to this file")
    parser.add_argument(
        "--skip-bare", action="store_true", help="(when profiling) do not measure the baseline"
    )
    args = parser.parse_args()
    if args.backend == "postgresql" and not os.environ.get(PG_ENV):
        sys.exit(f"set {PG_ENV} for the PostgreSQL run")
    if not Path(WRK).exists():
        sys.exit("wrk is needed (apt-get install wrk)")
    if CORES < 2:
        print("warning: one core only; server and load generator share it", file=sys.stderr)

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    work = Path(tempfile.mkdtemp(prefix="bench-inbox-"))
    peer = FakePeer("poster").start()
    factory = InstanceFactory(work, args.backend)
    try:
        instance = factory.new("inbox", start=False)
        instance.configure(delivery_poll_interval=1.0, delivery_retry_base=30.0, delivery_retry_max=21600.0)
        instance.movement("bench")
        instance.cli(
            "follow", "bench", peer.handle
        )  # the movement follows the poster: posts reach its timeline
        instance.sql("UPDATE follows SET state = 'accepted'")
        inbox_url = instance.url("/inbox")

        started = time.perf_counter()
        raw = presign(peer, inbox_url, instance.host, args.requests + 200)
        warmup, raw = raw[:200], raw[200:]
        print(
            f"pre-signed {len(raw) + len(warmup)} Create{{Note}} requests ({len(raw[0])} bytes each) "
            f"in {time.perf_counter() - started:.1f}s"
        )
        warm_prefix, prefix = work / "warm", work / "requests"
        write_requests(warm_prefix, warmup, 1)
        write_requests(prefix, raw, 1)

        bare = (
            bare_rate(prefix, args)
            if not args.skip_bare
            else {"rate": 1, "p50_ms": 0, "p99_ms": 0, "good": 0, "seconds": 0}
        )
        print(
            f"bare aiohttp JSON handler (1 core): {bare['rate']:.0f} requests/s "
            f"(p50 {bare['p50_ms']:.1f} ms, p99 {bare['p99_ms']:.1f} ms, {bare['good']} in {bare['seconds']:.1f}s)"
        )

        floors = {}
        if not args.skip_bare:
            port = int(instance.host.rsplit(":", 1)[1])  # the requests are signed for the instance's host
            for mode in ("verify", "journal"):
                floors[mode] = floor_rate(prefix, args, peer, mode, port)
                print(
                    f"floor, bare handler + Digest + RSA verify{' + one-row SQLite commit' if mode == 'journal' else ''}"
                    f": {floors[mode]['rate']:.0f} requests/s ({floors[mode]['rate'] / bare['rate']:.1%} of bare)"
                )

        if floors:
            processing_us = processing_floor_us(prefix, raw)
            best = 1 / (1 / floors["journal"]["rate"] + processing_us / 1e6)
            floors["sustained"] = best
            print(
                f"floor for processing the same posts (parse, nh3, activity + object + timeline rows, journal row "
                f"done; batches of 256): {processing_us:.0f} µs of CPU per post; with the floor's acceptance, "
                f"the best sustained rate on one core: {best:.0f}/s ({best / bare['rate']:.1%} of bare)"
            )

        fedify, why_not = None, fedify_ready()
        if why_not is None and not args.skip_bare:
            fedify = fedify_rate(prefix, warm_prefix, args, int(instance.host.rsplit(":", 1)[1]))
            print(
                f"side-by-side peer, Fedify 1.10 inbox on Node 22 (verify + parse + count, stores nothing): "
                f"{fedify['rate']:.0f} requests/s (p50 {fedify['p50_ms']:.1f} ms, p99 {fedify['p99_ms']:.1f} ms, "
                f"{fedify['good']} accepted, {fedify['bad']} other answers; {fedify['rate'] / bare['rate']:.1%} of bare)"
            )

        start_serve(instance, SERVER_CORE, timeout=180, profile=args.profile)
        warm_up(inbox_url, warm_prefix)
        wait_drained(instance, 120)
        before = instance.sql("SELECT count(*) FROM activities")[0][0]
        last_entry = instance.sql("SELECT coalesce(max(id), 0) FROM inbox_entries")[0][0]
        cpu = psutil.Process(instance.process.pid)
        cpu_before = sum(cpu.cpu_times()[:2])
        spy = None
        if os.environ.get("BENCH_PYSPY"):
            spy = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "-p",
                    str(cpu.pid),
                    "-r",
                    "400",
                    "-o",
                    os.environ["BENCH_PYSPY"],
                    "-f",
                    "raw",
                    "-d",
                    str(int(args.duration)),
                    "--threads",
                    "--nonblocking",
                ]
                + os.environ.get("BENCH_PYSPY_ARGS", "").split()
            )
        started = time.monotonic()
        result = replay(inbox_url, prefix, args)
        cpu_accepting = sum(cpu.cpu_times()[:2]) - cpu_before
        backlog = unfinished(instance)
        wait_drained(instance, 600)
        drained_after = time.monotonic() - started  # from the load's start to an empty journal
        cpu_used = sum(cpu.cpu_times()[:2]) - cpu_before
        if spy is not None:
            spy.wait()
        lags = sorted(
            lag_seconds(row)
            for row in instance.sql(
                "SELECT processed_at, received_at FROM inbox_entries WHERE id > :i AND processed_at IS NOT NULL",
                i=last_entry,
                drained=False,
            )
        )
        states = dict(
            instance.sql(
                "SELECT state, count(*) FROM inbox_entries WHERE id > :i GROUP BY state",
                i=last_entry,
                drained=False,
            )
        )
        instance.stop()
        stored = instance.sql("SELECT count(*) FROM activities")[0][0] - before
        notes = instance.sql("SELECT count(*) FROM objects WHERE type = 'Note' AND local = :f", f=False)[0][0]
        timeline = instance.sql("SELECT count(*) FROM timeline_entries")[0][0]
        ratio = result["rate"] / bare["rate"]
        sustained = result["good"] / drained_after
        print(
            f"inbox acceptance, signed Create{{Note}} ({args.backend}, serve on 1 core, {args.connections} "
            f"connections): {result['rate']:.0f} verified+journaled/s "
            f"(p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, {result['good']} accepted, "
            f"{result['bad']} other answers, in {result['seconds']:.1f}s"
            + (", all pre-signed requests used" if result["exhausted"] else "")
            + ")"
        )
        print(
            f"backlog when the load stopped: {backlog} entries; journal drained {drained_after:.1f}s after the "
            f"load started; sustained (accepted and processed): {sustained:.0f}/s"
        )
        print(
            f"journal lag (received -> processed): p50 {pct(lags, 50) * 1000:.0f} ms, "
            f"p99 {pct(lags, 99) * 1000:.0f} ms, max {lags[-1] * 1000 if lags else 0:.0f} ms; entries: {states}"
        )
        print(
            f"serve used {cpu_accepting:.1f} s of CPU while accepting, {cpu_used:.1f} s until drained "
            f"({cpu_used / max(result['good'], 1) * 1e6:.0f} µs per processed post)"
        )
        print(
            f"stored: {stored} new activities, {notes} notes, {timeline} timeline entries "
            f"(accepted {result['good']}: {'all stored' if stored >= result['good'] else 'MISSING ROWS'})"
        )
        print(
            f"ratio acceptance / bare: {ratio:.1%}; sustained / bare: {sustained / bare['rate']:.1%} "
            f"(2026-12-01 main, answering after storing: 17.0%; target >= 2x today's)"
        )
        if floors:
            print(
                f"ratio acceptance / floor (verify + one-row commit): {result['rate'] / floors['journal']['rate']:.1%}"
                f" (target >= 90%)"
            )
            print(
                f"ratio sustained / its floor: {sustained / floors['sustained']:.1%}; the target (34% of bare) is "
                f"{0.34 * bare['rate'] / floors['sustained']:.0%} of that floor"
            )
        if fedify:
            print(f"ratio acceptance / Fedify's inbox: {result['rate'] / fedify['rate']:.2f}")
        else:
            print(f"side-by-side peer (Fedify): {why_not or 'skipped with --skip-bare'}")
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
        if stored < result["good"]:
            sys.exit(1)
    finally:
        factory.close()
        peer.stop()


if __name__ == "__main__":
    main()
