"""A post to followers on many hosts is signed in the signing processes, and every host gets it signed."""

import asyncio
import datetime as dt

import psutil

from federation.keys import identifier_for
from federation.signatures import verify_request
from tests.fake_peer import ManyHosts
from tests.harness import wait_for

HOSTS = 70  # more than the batch (64) that starts the signing processes


def follow_from_many_hosts(a, movement: str, hosts: ManyHosts) -> None:
    """Two followers on each of the hosts, each host with a shared inbox: one delivery per host."""
    movement_id = a.sql("SELECT id FROM actors WHERE uri = :u", u=movement)[0][0]
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    for port in hosts.ports:
        for n in range(2):
            uri = f"http://127.0.0.1:{port}/users/f{n}"
            a.sql(
                "INSERT INTO actors (uri, type, local, username, host, inbox, shared_inbox, auto_accept, "
                "created_at) VALUES (:uri, 'Person', :f, :name, :host, :inbox, :shared, :t, :now)",
                uri=uri,
                f=False,
                name=f"f{n}",
                host=f"127.0.0.1:{port}",
                inbox=f"{uri}/inbox",
                shared=f"http://127.0.0.1:{port}/inbox",
                t=True,
                now=now,
            )
            a.sql(
                "INSERT INTO follows (follower_id, followee_id, state, activity_uri, created_at, updated_at) "
                "SELECT id, :m, 'accepted', :act, :now, :now FROM actors WHERE uri = :uri",
                m=movement_id,
                act=f"{uri}#follow",
                now=now,
                uri=uri,
            )


def test_a_post_reaches_followers_on_many_hosts_each_signed(instances):
    a = instances.new("a")
    movement = a.movement("landrights")
    hosts = ManyHosts(HOSTS)
    try:
        follow_from_many_hosts(a, movement, hosts)

        note = a.cli("post", "landrights", "Seeds for everyone").out.strip()

        wait_for(lambda: len(hosts.received) >= HOSTS, timeout=60, what=f"the post at all {HOSTS} hosts")
        assert sorted(int(host.rsplit(":", 1)[1]) for host, *_ in hosts.received) == sorted(hosts.ports)
        key_uri, public = a.sql(
            "SELECT k.uri, k.public FROM keys k JOIN actors ac ON ac.id = k.actor_id "
            "WHERE ac.uri = :u AND k.kind = 'rsa'",
            u=movement,
        )[0]

        async def lookup(key_id, refresh):
            return identifier_for(movement, public, "rsa") if key_id == key_uri else None

        async def verify_all():
            return [
                await verify_request("POST", path, headers, body, lookup)
                for _, path, headers, body in hosts.received
            ]

        assert set(asyncio.run(verify_all())) == {movement}
        assert all(note.encode() in body for *_, body in hosts.received)
        wait_for(lambda: all(d["state"] == "delivered" for d in a.deliveries()), what="outcomes recorded")
        workers = psutil.Process(a.process.pid).children()
        assert workers, "the batch was signed without the signing processes"
        a.stop()
        gone, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive, "signing processes outlived the server"
    finally:
        hosts.stop()


def test_a_killed_server_leaves_no_signing_processes_behind(instances):
    a = instances.new("a", signing_processes=2)
    movement = a.movement("landrights")
    hosts = ManyHosts(HOSTS)
    try:
        follow_from_many_hosts(a, movement, hosts)
        a.cli("post", "landrights", "Seeds for everyone")
        wait_for(lambda: len(hosts.received) >= HOSTS, timeout=60, what=f"the post at all {HOSTS} hosts")
        workers = psutil.Process(a.process.pid).children()
        assert workers, "the batch was signed without the signing processes"
        a.kill()  # kill -9: the server gets no chance to stop them
        gone, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive, f"signing processes {[p.pid for p in alive]} outlived the killed server"
    finally:
        hosts.stop()
