"""Movement B follows movement A on another instance, receives A's posts, then unfollows."""

from tests.harness import wait_for


def test_follow_is_accepted_and_posts_arrive_until_unfollow(instances):
    a, b = instances.new("a"), instances.new("b")
    landrights = a.movement("landrights", "Land Rights")
    b.movement("water", "Water Commons")

    b.cli("follow", "water", a.handle("landrights"))
    wait_for(lambda: b.following_state("water", landrights) == "accepted", what="Accept to reach B")
    assert [f["id"] for f in a.cli("followers", "landrights", "--json").lines] == [
        f"{b.base_url}/actors/water"
    ]

    note = a.cli("post", "landrights", "Assembly on **Saturday**").out.strip()
    entries = wait_for(lambda: b.timeline("water"), what="the post in B's timeline")
    assert entries[0]["id"] == note
    assert entries[0]["attributedTo"] == landrights
    assert "<strong>Saturday</strong>" in entries[0]["content"]
    assert entries[0]["type"] == "Note" and entries[0]["published"]

    b.cli("unfollow", "water", a.handle("landrights"))
    wait_for(lambda: a.cli("followers", "landrights", "--json").lines == [], what="Undo to reach A")
    a.cli("post", "landrights", "Second post")
    wait_for(lambda: all(d["state"] == "delivered" for d in a.deliveries()), what="A's queue to drain")
    assert [e["id"] for e in b.timeline("water")] == [note]


def test_member_sees_post_of_local_movement_it_follows(instances):
    a = instances.new("a")
    a.movement("landrights")
    a.member("alice", "landrights")
    assert "(accepted)" in a.cli("follow", "alice", a.handle("landrights")).out
    note = a.cli("post", "landrights", "Local news").out.strip()
    assert [e["id"] for e in a.timeline("alice")] == [note]
