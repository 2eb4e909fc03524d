"""Two web processes serve one instance from one database, as a deployment of several processes does. Bob reads
his home timeline through the second while Alice edits, gets a favourite and a boost, renames herself, posts
and deletes through the first: each change shows in Bob's very next read, though the second process keeps
rendered statuses and accounts in its cache. A token revoked through the first is refused by the second
within seconds."""

from __future__ import annotations

import subprocess
import sys
import time

import requests

from server.mastodon.api import TOKEN_TTL
from tests.harness import ROOT, free_port, wait_for
from tests.mastodon_client import password_login


def second_process(instance) -> tuple[subprocess.Popen, str]:
    """Another `serve` on the instance's data (so its database and keys), on a port of its own."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "--data", str(instance.data), "serve"]
        + ["--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError("the second process exited")
        try:
            return requests.get(f"{base}/.well-known/nodeinfo", timeout=1).ok
        except requests.RequestException:
            return False

    wait_for(up, what="the second process to listen", timeout=60)
    return process, base


def test_what_one_process_changes_shows_in_the_next_home_timeline_read_from_another(instances):
    a = instances.new("a")
    a.movement("forum")
    a.member("alice", "forum")
    a.member("bob", "forum")
    alice, bob = password_login(a, "alice"), password_login(a, "bob")
    alice_id = alice.me().id
    bob.account_follow(alice_id)
    wait_for(lambda: bob.account_relationships(alice_id)[0].following, what="bob to follow alice")
    post = alice.status_post("Seeds on Saturday")

    process, second = second_process(a)
    try:

        def home(token: str = bob.access_token) -> requests.Response:
            return requests.get(
                f"{second}/api/v1/timelines/home", headers={"Authorization": f"Bearer {token}"}, timeout=10
            )

        def seen() -> dict | None:
            found = [s for s in home().json() if s["id"] == str(post.id)]
            return found[0] if found else None

        status = wait_for(seen, what="alice's post in bob's home, read through the second process")
        assert "Saturday" in status["content"] and status["edited_at"] is None
        assert (status["favourites_count"], status["reblogs_count"], status["favourited"]) == (0, 0, False)
        assert status["account"]["statuses_count"] == 1
        assert seen() == status  # read again, now from the second process's cache

        edited = requests.put(
            a.url(f"/api/v1/statuses/{post.id}"),
            data={"status": "Seeds on Sunday"},
            headers={"Authorization": f"Bearer {alice.access_token}"},
            timeout=10,
        )
        assert edited.status_code == 200
        status = seen()
        assert "Sunday" in status["content"] and "Saturday" not in status["content"] and status["edited_at"]

        bob.status_favourite(post.id)
        alice.status_reblog(post.id)
        status = seen()
        assert (status["favourites_count"], status["favourited"], status["reblogs_count"]) == (1, True, 1)
        assert status["reblogged"] is False  # alice boosted it, not bob

        alice.account_update_credentials(display_name="Alice Renamed")
        assert seen()["account"]["display_name"] == "Alice Renamed"

        newer = alice.status_post("Water on Monday")
        statuses = wait_for(
            lambda: (found := home().json()) and found[0]["id"] == str(newer.id) and found,
            what="the newer post at the top",
        )
        # two posts and one boost by alice
        assert statuses[0]["account"]["statuses_count"] == 3

        alice.status_delete(newer.id)
        statuses = home().json()
        assert str(newer.id) not in [s["id"] for s in statuses]
        assert [s for s in statuses if s["id"] == str(post.id)][0]["account"]["statuses_count"] == 2

        bob.revoke_access_token(allow_http=True)
        assert (
            requests.get(
                a.url("/api/v1/timelines/home"),
                headers={"Authorization": f"Bearer {bob.access_token}"},
                timeout=10,
            ).status_code
            == 401
        )
        refused_by = time.monotonic() + TOKEN_TTL + 1
        wait_for(lambda: home().status_code == 401, what="the second process to refuse the revoked token")
        assert time.monotonic() <= refused_by
    finally:
        process.terminate()
        process.wait(10)
