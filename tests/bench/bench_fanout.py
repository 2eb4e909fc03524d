"""Benchmark of fan-out delivery and memory (not part of the test run).

A movement with 10,000 remote followers spread over 1,000 hosts (a loopback sink process listens on
1,000 ports, one "host" each, with a shared inbox, and answers 202) posts a Note: the real
DeliveryWorker of `interpeople serve` signs (draft-cavage, RSA-2048) and POSTs one delivery per host.
Figure: time from the post being queued until the database records all 1,000 as delivered. Baseline
measured in the same run: bare RSA-2048 PKCS#1 v1.5 SHA-256 signing of 1,000 signing strings with
`cryptography` on one core; ratio = signing time / delivery time. Afterwards every signature the sink
received is verified. Also: idle RSS of `serve` with one movement, and its peak RSS during the fan-out.

    .venv/bin/python tests/bench/bench_fanout.py [--backend sqlite|postgresql] [--posts 2]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import multiprocessing
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psutil  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from models import Actor, Database, Delivery, Follow, utcnow  # noqa: E402
from models.actor import local_actor  # noqa: E402
from tests.bench.common import PeakRss, rss_mb, start_serve  # noqa: E402
from tests.harness import PG_ENV, InstanceFactory  # noqa: E402

FOLLOWERS, HOSTS = 10_000, 1_000


# ---------------------------------------------------------------- the sink (its own process)


def sink_main(hosts: int, conn) -> None:
    """Listens on `hosts` loopback ports; answers every POST 202 and keeps what it needs to check it."""
    received: list[tuple[int, bytes, bytes]] = []

    class Inbox(asyncio.Protocol):
        def __init__(self, port: int):
            self.port = port
            self.buffer = b""

        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while True:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buffer[:end]
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if len(self.buffer) < end + 4 + length:
                    return
                body = self.buffer[end + 4 : end + 4 + length]
                self.buffer = self.buffer[end + 4 + length :]
                received.append((self.port, head, body))
                self.transport.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")

    async def run() -> None:
        loop = asyncio.get_running_loop()
        ports = []
        for _ in range(hosts):
            server = await loop.create_server(lambda: None, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            server.close()
            server = await loop.create_server(lambda port=port: Inbox(port), "127.0.0.1", port)
            ports.append(port)
        conn.send(ports)
        while True:
            await asyncio.sleep(0.02)
            if conn.poll():
                command = conn.recv()
                if command == "report":
                    conn.send(list(received))
                    received.clear()
                elif command == "count":
                    conn.send(len(received))
                else:
                    return

    asyncio.run(run())


# ---------------------------------------------------------------- set-up and checks


async def seed(database_url: str, ports: list[int]) -> None:
    """10,000 remote followers of the movement `bench`, 10 per host, each host with a shared inbox."""
    db = Database(database_url)
    async with db.session() as session:
        movement = await local_actor(session, "bench")
        rows = []
        for i in range(FOLLOWERS):
            host = f"127.0.0.1:{ports[i % HOSTS]}"
            rows.append(
                {
                    "uri": f"http://{host}/users/f{i}",
                    "type": "Person",
                    "local": False,
                    "username": f"f{i}",
                    "host": host,
                    "inbox": f"http://{host}/users/f{i}/inbox",
                    "shared_inbox": f"http://{host}/inbox",
                    "followers_url": f"http://{host}/users/f{i}/followers",
                    "auto_accept": True,
                    "created_at": utcnow(),
                }
            )
        await session.execute(insert(Actor), rows)
        ids = (await session.scalars(select(Actor.id).where(Actor.local.is_(False)))).all()
        await session.execute(
            insert(Follow),
            [
                {
                    "follower_id": i,
                    "followee_id": movement.id,
                    "state": "accepted",
                    "activity_uri": f"urn:follow:{i}",
                    "created_at": utcnow(),
                    "updated_at": utcnow(),
                }
                for i in ids
            ],
        )
    await db.close()


async def wait_delivered(
    database_url: str, activity_after: int, expected: int, timeout: float = 600
) -> float:
    """Polls until `expected` deliveries of activities newer than `activity_after` are delivered."""
    db = Database(database_url, pool_size=1)
    deadline = time.monotonic() + timeout
    try:
        async with db.engine.connect() as conn:
            while time.monotonic() < deadline:
                done = await conn.scalar(
                    select(func.count())
                    .select_from(Delivery)
                    .where(Delivery.activity_id > activity_after, Delivery.state == "delivered")
                )
                await conn.commit()
                if done >= expected:
                    return time.perf_counter()
                await asyncio.sleep(0.005)
    finally:
        await db.close()
    raise AssertionError(f"not all {expected} deliveries were delivered within {timeout}s")


def bare_signing_seconds(private_pem: str, messages: list[bytes], runs: int = 3) -> tuple[float, float]:
    """The physical limit: RSA-2048 PKCS#1 v1.5 SHA-256 over the same signing strings, one core
    (the best of `runs`, so a busy moment of the machine does not flatter the ratio): (wall, CPU) seconds."""
    key = serialization.load_pem_private_key(private_pem.encode(), None)
    best, best_cpu = float("inf"), float("inf")
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.thread_time()
        for message in messages:
            base64.standard_b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256()))
        best, best_cpu = (
            min(best, time.perf_counter() - started),
            min(best_cpu, time.thread_time() - started_cpu),
        )
    return best, best_cpu


def check_received(received, public_pem: str, key_id: str, ports: list[int]) -> list[bytes]:
    """Every host got exactly one signed POST with a matching digest; returns the signing strings."""
    public = serialization.load_pem_public_key(public_pem.encode())
    by_port: dict[int, int] = {}
    messages = []
    for port, head, body in received:
        if not head.startswith(b"POST /inbox "):  # a stray request from another program on this machine
            print(f"ignored a stray request to port {port}: {head[:60]!r}")
            continue
        by_port[port] = by_port.get(port, 0) + 1
        lines = head.decode().split("\r\n")
        method, target, _ = lines[0].split(" ")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        assert "digest" in headers and "signature" in headers, f"unsigned request: {head[:400]!r}"
        assert headers["digest"] == "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
        params = dict(part.split("=", 1) for part in headers["signature"].split(","))
        params = {k: v.strip('"') for k, v in params.items()}
        assert params["keyId"] == key_id, params["keyId"]
        message = "\n".join(
            f"(request-target): {method.lower()} {target}"
            if name == "(request-target)"
            else f"{name}: {headers[name]}"
            for name in params["headers"].split(" ")
        ).encode()
        public.verify(base64.b64decode(params["signature"]), message, padding.PKCS1v15(), hashes.SHA256())
        messages.append(message)
    assert sorted(by_port) == sorted(ports), f"{len(by_port)} hosts reached of {len(ports)}"
    assert set(by_port.values()) == {1}, "a host got more than one copy"
    return messages


def bare_sending_seconds(received, ports: list[int]) -> tuple[float, float]:
    """The kernel's share, measured: the same requests sent again with plain blocking sockets (no HTTP library,
    no signing, no database, one request at a time), one per host: (CPU seconds with a new connection per
    host, CPU seconds over the connections kept from that pass). What the sink records meanwhile is dropped."""
    requests = {port: head + b"\r\n\r\n" + body for port, head, body in received}
    sockets: dict[int, socket.socket] = {}

    def send_all(reuse: bool) -> float:
        started = time.thread_time()
        for port in ports:
            if reuse:
                sock = sockets[port]
            else:
                sock = sockets[port] = socket.create_connection(("127.0.0.1", port))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(requests[port])
            answer = b""
            while b"\r\n\r\n" not in answer:
                answer += sock.recv(4096)
        return time.thread_time() - started

    try:
        return send_all(reuse=False), send_all(reuse=True)
    finally:
        for sock in sockets.values():
            sock.close()


class ServerCpu:
    """CPU seconds (user + system) of serve and of its child processes (the signing processes) since start."""

    def __init__(self, pid: int):
        self.process = psutil.Process(pid)
        self.start_main, self.start_children = self._main(), self._children()

    def _main(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system + times.children_user + times.children_system  # reaped children too

    def _children(self) -> dict[int, float]:
        seen = {}
        for child in self.process.children(recursive=True):
            try:
                times = child.cpu_times()
            except psutil.Error:
                continue
            seen[child.pid] = times.user + times.system
        return seen

    def used(self) -> tuple[float, float]:
        """(main, children) CPU seconds since this object was made."""
        now = self._children()
        children = sum(cpu - self.start_children.get(pid, 0.0) for pid, cpu in now.items())
        return self._main() - self.start_main, children


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--posts", type=int, default=2, help="posts, one after another (the first starts pools)"
    )
    parser.add_argument("--profile", help="write a cProfile of serve to this file")
    args = parser.parse_args()
    if args.backend == "postgresql" and not os.environ.get(PG_ENV):
        sys.exit(f"set {PG_ENV} for the PostgreSQL run")

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    parent, child = multiprocessing.Pipe()
    sink = multiprocessing.get_context("spawn").Process(target=sink_main, args=(HOSTS, child), daemon=True)
    sink.start()
    ports = parent.recv()
    factory = InstanceFactory(Path(tempfile.mkdtemp(prefix="bench-fanout-")), args.backend)
    try:
        instance = factory.new("fanout", start=False)
        # Production settings (not the suite's fast polling), except that serve looks for rows queued by the
        # CLI every 50 ms.
        instance.configure(
            delivery_poll_interval=0.05,
            delivery_retry_base=30.0,
            delivery_retry_max=21600.0,
            inbox_poll_interval=1.0,
            inbox_retry_base=30.0,
        )
        instance.movement("bench")
        database_url = instance.effective_database_url
        process = start_serve(instance, None, profile=args.profile)
        time.sleep(3)
        idle = rss_mb(psutil.Process(process.pid))
        print(f"idle RSS of serve with one movement: {idle:.1f} MB")

        started = time.perf_counter()
        asyncio.run(seed(database_url, ports))
        print(
            f"seeded {FOLLOWERS} followers on {HOSTS} hosts in {time.perf_counter() - started:.1f}s ({args.backend})"
        )
        key_id, private_pem = instance.private_key("bench")
        public_pem = instance.sql("SELECT k.public FROM keys k WHERE k.uri = :u", u=key_id)[0][0]

        idle_cpu = ServerCpu(process.pid)
        time.sleep(2)
        print(
            f"CPU of serve while idle (polling every 50 ms): {sum(idle_cpu.used()) / 2 * 1000:.0f} ms per second"
        )
        results = []
        with PeakRss(process.pid) as peak:
            for n in range(args.posts):
                last = instance.sql("SELECT coalesce(max(id), 0) FROM activities")[0][0]
                spy = None
                if os.environ.get("BENCH_PYSPY") and n == int(
                    os.environ.get("BENCH_PYSPY_POST", "0")
                ):  # a sampling profile of serve
                    import subprocess

                    spy = subprocess.Popen(
                        [
                            str(Path(sys.executable).parent / "py-spy"),
                            "record",
                            "-p",
                            str(process.pid),
                            "-r",
                            "200",
                            "-o",
                            os.environ["BENCH_PYSPY"],
                            "-f",
                            "raw",
                            "-d",
                            "4",
                            "--threads",
                            "--subprocesses",
                            "--nonblocking",
                        ]
                    )
                    time.sleep(1)
                cpu = ServerCpu(process.pid)
                started = time.perf_counter()
                instance.cli("post", "bench", f"Fan-out check {n}: land, water and seeds.")
                queued = time.perf_counter()
                done = asyncio.run(wait_delivered(database_url, last, HOSTS))
                main_cpu, workers_cpu = cpu.used()
                if spy is not None:
                    spy.wait()
                parent.send("report")
                received = parent.recv()
                messages = check_received(received, public_pem, key_id, ports)
                signing, signing_cpu = bare_signing_seconds(private_pem, messages)
                results.append((queued - started, done - queued, signing, signing_cpu))
                total_cpu = main_cpu + workers_cpu
                print(
                    f"post {n + 1}: stored and queued {HOSTS} deliveries in {queued - started:.2f}s (CLI, in-process); "
                    f"all {HOSTS} delivered {done - queued:.2f}s later ({HOSTS / (done - queued):.0f}/s); "
                    f"bare RSA-2048 signing of the same {len(messages)} requests on one core: {signing:.3f}s "
                    f"({len(messages) / signing:.0f}/s); wall-clock ratio signing / delivery: "
                    f"{signing / (done - queued):.0%}"
                )
                print(
                    f"post {n + 1}: CPU of serve from the post to the last delivery recorded: main {main_cpu:.3f}s "
                    f"+ signing processes {workers_cpu:.3f}s = {total_cpu:.3f}s, "
                    f"{HOSTS / total_cpu:.0f} deliveries per CPU-second; bare signing of the same requests: "
                    f"{signing_cpu:.3f} CPU-s ({len(messages) / signing_cpu:.0f} signatures per CPU-second); "
                    f"ratio deliveries / signatures per CPU-second: {signing_cpu / total_cpu:.0%} (target >= 80%)"
                )
        fresh, kept = bare_sending_seconds(received, ports)
        parent.send("report")
        parent.recv()  # the floor's requests: not deliveries of ours
        best_signing = min(cpu for *_, cpu in results)
        print(
            f"sending floor, the same {HOSTS} requests by plain blocking sockets (no HTTP library, no signing, no "
            f"database): {fresh:.3f} CPU-s with a new connection per host, {kept:.3f} CPU-s over kept "
            f"connections; the best ratio possible with only that and bare signing: "
            f"{best_signing / (best_signing + fresh):.0%} first post, {best_signing / (best_signing + kept):.0%} "
            f"later posts"
        )
        print(
            f"peak RSS of serve during the fan-out: {peak.peak:.1f} MB "
            f"({peak.peak_with_children:.1f} MB with its signing processes, shared pages counted twice)"
        )
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
        print(
            f"all {len(received)} requests of the last post carried valid signatures and digests, one per host"
        )
    finally:
        factory.close()
        parent.send("stop")
        sink.join(5)


if __name__ == "__main__":
    main()
