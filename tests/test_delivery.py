"""Deliveries survive a peer being down and the sender crashing; each activity arrives exactly once."""

from aiohttp import web

from tests.fake_peer import FakePeer
from tests.harness import wait_for


def followed_pair(instances, **sender_settings):
    """Movement landrights on A, followed by movement water on B."""
    a, b = instances.new("a", **sender_settings), instances.new("b")
    landrights = a.movement("landrights")
    b.movement("water")
    b.cli("follow", "water", a.handle("landrights"))
    wait_for(lambda: b.following_state("water", landrights) == "accepted", what="the follow to be accepted")
    return a, b


def create_deliveries(instance) -> list[dict]:
    return [d for d in instance.deliveries() if d["type"] == "Create"]


def arrivals(instance, note: str) -> int:
    [(count,)] = instance.sql(
        "SELECT count(*) FROM timeline_entries t JOIN objects o ON o.id = t.object_id WHERE o.uri = :u",
        u=note,
    )
    return count


def test_a_post_waits_while_the_peer_is_down_and_arrives_once_it_is_back(instances):
    a, b = followed_pair(instances)
    b.stop()
    note = a.cli("post", "landrights", "Are you there?").out.strip()
    retrying = wait_for(lambda: [d for d in create_deliveries(a) if d["state"] == "retrying"], what="a retry")
    assert retrying[0]["attempts"] >= 1 and "connect" in retrying[0]["last_error"]
    b.start()
    wait_for(lambda: arrivals(b, note) == 1, what="the post to arrive")
    wait_for(lambda: create_deliveries(a)[0]["state"] == "delivered", what="the delivery to be recorded")
    assert arrivals(b, note) == 1
    assert [e["id"] for e in b.timeline("water")] == [note]


def test_a_queued_post_survives_a_crash_of_the_sender(instances):
    a, b = followed_pair(instances)
    b.stop()
    note = a.cli("post", "landrights", "Written before the crash").out.strip()
    wait_for(lambda: create_deliveries(a) and create_deliveries(a)[0]["state"] == "retrying", what="a retry")
    a.kill()
    b.start()
    a.start()
    wait_for(lambda: arrivals(b, note) == 1, what="the post to arrive after the restart")
    wait_for(lambda: create_deliveries(a)[0]["state"] == "delivered", what="the delivery to be recorded")
    assert arrivals(b, note) == 1


def test_a_delivery_claimed_by_a_crashed_sender_is_sent_again_once(instances):
    a, b = followed_pair(instances, delivery_lease_margin=0.5)
    a.kill()
    note = a.cli("post", "landrights", "Claimed, then crashed").out.strip()
    # What a crash mid-request leaves behind: the row claimed, its lease running.
    a.sql("UPDATE deliveries SET state = 'delivering', lease_until = created_at WHERE state = 'queued'")
    a.start()
    wait_for(lambda: arrivals(b, note) == 1, what="the reclaimed delivery to arrive")
    wait_for(lambda: create_deliveries(a)[0]["state"] == "delivered", what="the delivery to be recorded")
    assert create_deliveries(a)[0]["attempts"] == 1


def test_a_peer_that_refuses_a_delivery_is_not_retried(instances):
    a = instances.new("a")
    a.movement("landrights")
    peer = FakePeer("refuser", inbox_status=202).start()
    try:
        a.cli("follow", "landrights", peer.handle)
        peer.inbox_status = 403
        a.cli("post", "landrights", "You will not take this", "--to", peer.handle)
        failed = wait_for(
            lambda: [d for d in create_deliveries(a) if d["state"] == "failed"], what="a failed delivery"
        )
        assert failed[0]["attempts"] == 1 and "403" in failed[0]["last_error"]
    finally:
        peer.stop()


def test_a_refused_follow_is_reported_and_not_kept(instances):
    a = instances.new("a", start=False)
    a.movement("landrights")
    peer = FakePeer("closed", inbox_status=403).start()
    try:
        result = a.cli("follow", "landrights", peer.handle, check=False)
        assert result.code == 1
        assert result.err.count("\n") == 1 and "refused" in result.err
        assert a.cli("following", "landrights", "--json").lines == []
    finally:
        peer.stop()


def test_a_refused_follow_is_reported_while_the_server_polls_its_queue(instances):
    a = instances.new("a", delivery_poll_interval=0.01)  # the running worker looks for work all the time
    a.movement("landrights")
    peer = FakePeer("closed", inbox_status=403).start()
    try:
        result = a.cli("follow", "landrights", peer.handle, check=False)
        assert result.code == 1 and "refused" in result.err
        assert a.cli("following", "landrights", "--json").lines == []
    finally:
        peer.stop()


def test_a_post_goes_once_to_each_server_using_shared_inboxes(instances):
    a = instances.new("a")
    landrights = a.movement("landrights")
    mastodon_like = FakePeer("ana", "ben", shared_inbox=True).start()
    small = FakePeer("cleo").start()
    try:
        for peer, name in ((mastodon_like, "ana"), (mastodon_like, "ben"), (small, "cleo")):
            assert peer.follow(name, landrights, a.url("/inbox"))[1].status_code == 202
        wait_for(lambda: len(a.cli("followers", "landrights", "--json").lines) == 3, what="three followers")
        note = a.cli("post", "landrights", "To all our followers").out.strip()
        creates = lambda peer: [r["object"]["id"] for r in peer.received if r["type"] == "Create"]  # noqa: E731
        wait_for(lambda: creates(mastodon_like) and creates(small), what="the post to reach both servers")
        wait_for(
            lambda: all(d["state"] == "delivered" for d in create_deliveries(a)), what="outcomes recorded"
        )
        assert creates(mastodon_like) == [note] and mastodon_like.inbox_paths[-1] == "/inbox"
        assert creates(small) == [note] and small.inbox_paths[-1] == "/users/cleo/inbox"
        assert len(create_deliveries(a)) == 2
    finally:
        mastodon_like.stop()
        small.stop()


class BusyPeer(FakePeer):
    """A peer whose inbox answers 429 with `Retry-After: <retry_after>` to the first post, then 202."""

    def __init__(self, *names, retry_after: str):
        super().__init__(*names)
        self.retry_after = retry_after
        self.busy_answers = 0

    async def _inbox(self, request):
        body = await request.json()
        if body.get("type") == "Create" and self.busy_answers == 0:
            self.busy_answers += 1
            return web.Response(status=429, text="slow down", headers={"Retry-After": self.retry_after})
        return await super()._inbox(request)


def test_a_peer_asking_to_retry_after_two_seconds_gets_the_post_then_not_half_an_hour_later(instances):
    a = instances.new("a", delivery_retry_base=1800.0)  # without Retry-After the retry would wait 30 minutes
    a.movement("landrights")
    peer = BusyPeer("busy", retry_after="2").start()
    try:
        a.cli("follow", "landrights", peer.handle)
        note = a.cli("post", "landrights", "When you are ready", "--to", peer.handle).out.strip()
        [retrying] = wait_for(
            lambda: [d for d in create_deliveries(a) if d["state"] == "retrying"], what="a retry"
        )
        assert "429" in retrying["last_error"] and retrying["attempts"] == 1
        wait_for(
            lambda: [r for r in peer.received if r["type"] == "Create"], timeout=15, what="the post, retried"
        )
        assert [r["object"]["id"] for r in peer.received if r["type"] == "Create"] == [note]
        wait_for(lambda: create_deliveries(a)[0]["state"] == "delivered", what="the delivery to be recorded")
        assert create_deliveries(a)[0]["attempts"] == 2
    finally:
        peer.stop()
