"""On PostgreSQL two `serve` processes share one delivery queue, and no delivery is sent twice."""

import subprocess
import sys

import pytest

from tests.fake_peer import FakePeer
from tests.harness import ROOT, free_port, http_ok, wait_for


def test_two_workers_send_each_delivery_once(instances):
    if instances.backend != "postgresql":
        pytest.skip("several processes share a queue only on PostgreSQL")
    a = instances.new("a")
    landrights = a.movement("landrights")
    peer = FakePeer("listener").start()
    second = None
    try:
        follow, response = peer.follow("listener", landrights, a.url("/inbox"))
        assert response.status_code == 202
        accept = wait_for(lambda: [r for r in peer.received if r["type"] == "Accept"], what="the Accept")[0]
        assert accept["object"] == {
            k: v for k, v in follow.items() if k != "@context"
        }  # as Mastodon matches it

        a.stop()
        notes = [a.cli("post", "landrights", f"note {i}").out.strip() for i in range(30)]
        port = free_port()
        a.start()
        second = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "--data", str(a.data), "serve", "--port", str(port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/.well-known/nodeinfo"), what="the second worker")
        creates = lambda: [r["object"]["id"] for r in peer.received if r["type"] == "Create"]  # noqa: E731
        wait_for(lambda: len(creates()) >= 30, timeout=30, what="all notes delivered")
        wait_for(lambda: all(d["state"] == "delivered" for d in a.deliveries()), what="outcomes recorded")
        assert sorted(creates()) == sorted(notes)
    finally:
        if second is not None:
            second.terminate()
            second.wait(10)
        peer.stop()
