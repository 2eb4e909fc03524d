"""A follower instance that already holds a thread, but not as a post of the space, still places its replies.

Space "forum" lives on A; member "ana" opens a thread there before B's movement "water" joins. B gets
the thread object another way first (a plain Create from ana, as NodeBB and others send to followers),
so when the space later Announces ana's reply, B holds the parent but had never indexed it.
"""

import uuid

from tests.harness import wait_for
from tests.signing import signed_post


def threads(instance, handle):
    return instance.cli("space", "threads", handle, "--json").lines


def test_a_reply_under_a_held_thread_is_placed_with_its_thread(instances):
    a, b = instances.new("a"), instances.new("b")
    a.movement("landrights")
    a.member("ana", "landrights")
    space = a.cli("space", "create", "forum", "--name", "Forum", "--movement", "landrights").out.strip()
    handle = a.handle("forum")
    thread = a.cli("space", "post", "ana", handle, "--title", "Wells", "Who has maps?").out.strip()

    page = a.get_json(thread).json()
    assert page["audience"] == space
    ana = page["attributedTo"]
    create = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "type": "Create",
        "id": f"{a.base_url}/activities/{uuid.uuid4()}",
        "actor": ana,
        "to": page.get("to", []),
        "cc": page.get("cc", []),
        "object": {k: v for k, v in page.items() if k != "@context"},
    }
    response = signed_post(b.url("/inbox"), create, a.private_key("ana"))
    assert response.status_code == 202, response.text
    assert b.sql("SELECT 1 FROM objects WHERE uri = :u", u=thread) == [(1,)]

    b.movement("water")
    b.cli("space", "join", "water", handle)
    wait_for(lambda: b.following_state("water", space) == "accepted", what="the space to accept water")
    assert threads(b, handle) == []  # B holds the thread, but not as a post of the space

    reply = a.cli("reply", "ana", thread, "We do, two of them.").out.strip()
    rows = wait_for(
        lambda: [r for r in threads(b, handle) if r["replies"] == 1],
        what="the thread and its reply placed on B",
    )
    assert rows[0]["id"] == thread and rows[0]["name"] == "Wells"
    assert b.sql("SELECT 1 FROM objects WHERE uri = :u", u=reply) == [(1,)]
