"""A movement boosts a post from a third instance; its followers receive the post, fetched from its origin."""

import uuid

from tests.harness import wait_for
from tests.signing import signed_post


def test_an_announced_post_reaches_the_followers_of_the_booster(instances):
    a, b, c = instances.new("a"), instances.new("b"), instances.new("c")
    a.movement("landrights")
    water = b.movement("water")
    c.movement("seeds")
    a.cli("follow", "landrights", b.handle("water"))
    wait_for(lambda: a.following_state("landrights", water) == "accepted", what="the follow")
    note = c.cli("post", "seeds", "Seed swap on Sunday").out.strip()

    announce = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{b.base_url}/activities/{uuid.uuid4()}",
        "type": "Announce",
        "actor": water,
        "object": note,
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "cc": [f"{water}/followers"],
    }
    assert signed_post(a.url("/inbox"), announce, b.private_key("water")).status_code == 202

    [entry] = a.timeline("landrights")
    assert entry["id"] == note
    assert entry["attributedTo"] == f"{c.base_url}/actors/seeds"
    assert "Seed swap" in entry["content"]
