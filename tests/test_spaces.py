"""Forum spaces across three instances: threads, replies, Announce, moderation, bans and members-only spaces."""

from tests.harness import wait_for


def threads(instance, space_handle):
    return instance.cli("space", "threads", space_handle, "--json").lines


def one_thread_with(replies: int):
    def check(rows):
        return len(rows) == 1 and rows[0]["replies"] == replies

    return check


def test_three_instances_meet_in_a_space(instances):
    a, b, c = instances.new("a"), instances.new("b"), instances.new("c")
    a.movement("forum", "Asia Social Forum")
    a.member("mod", "forum", role="admin")
    space = a.cli(
        "space", "create", "landwater", "--name", "Land and water", "--movement", "forum"
    ).out.strip()
    assert space == f"{a.base_url}/spaces/landwater"
    assert a.get_json(space).json()["type"] == "Group"
    handle = a.handle("landwater")

    b.movement("water", "Water Commons")
    b.member("bea", "water")
    c.movement("land", "Land Rights")
    b.cli("space", "join", "bea", handle)
    c.cli("space", "join", "land", handle)
    wait_for(
        lambda: b.following_state("bea", space) == c.following_state("land", space) == "accepted",
        what="the space to accept B's and C's follows",
    )

    thread = b.cli(
        "space",
        "post",
        "bea",
        handle,
        "--title",
        "Wells in the dry season",
        "Who has maps? cc @land@" + c.host + " #water",
    ).out.strip()
    page = b.get_json(thread).json()
    assert page["type"] == "Page" and page["name"] == "Wells in the dry season" and page["audience"] == space
    assert {"type": "Mention", "href": f"{c.base_url}/actors/land", "name": f"@land@{c.host}"} in page["tag"]
    assert any(t["type"] == "Hashtag" and t["name"] == "#water" for t in page["tag"])

    wait_for(lambda: threads(c, handle), what="A's Announce of the thread to reach C")
    reply = c.cli("reply", "land", thread, "We mapped **40 wells**.").out.strip()
    assert c.get_json(reply).json()["inReplyTo"] == thread

    for instance in (a, b, c):
        rows = wait_for(
            lambda: one_thread_with(1)(threads(instance, handle)) and threads(instance, handle),
            what=f"thread with one reply on {instance.host}",
        )
        assert rows[0]["id"] == thread and rows[0]["attributedTo"] == f"{b.base_url}/actors/bea"
        assert rows[0]["name"] == "Wells in the dry season"
    announced = [json for json in a.get_json(f"{space}/outbox?page=1").json()["orderedItems"]]
    assert {x["object"]["object"]["id"] for x in announced if isinstance(x["object"], dict)} == {
        thread,
        reply,
    }
    assert {x["object"] for x in announced if isinstance(x["object"], str)} == {thread, reply}

    a.cli("space", "moderate", handle, "--as", "mod", "remove", reply, "--reason", "off topic")
    for instance in (a, b, c):
        wait_for(
            lambda: one_thread_with(0)(threads(instance, handle)), what=f"the removal on {instance.host}"
        )

    a.cli("space", "moderate", handle, "--as", "mod", "ban", c.handle("land"))
    refused = c.cli("space", "post", "land", handle, "--title", "Again", "Let me in", check=False)
    assert refused.code == 1 and "banned" in refused.err
    assert len(threads(a, handle)) == 1


def test_members_only_space_refuses_outsiders(instances):
    a, b = instances.new("a"), instances.new("b")
    a.movement("forum")
    a.member("ana", "forum")
    b.movement("water")
    space = a.cli(
        "space",
        "create",
        "council",
        "--name",
        "Council",
        "--movement",
        "forum",
        "--members-only",
        a.handle("forum"),
    ).out.strip()
    handle = a.handle("council")
    assert "(accepted)" in a.cli("space", "join", "ana", handle).out
    assert a.cli("space", "post", "ana", handle, "--title", "Agenda", "Budget first").out.startswith(
        a.base_url
    )

    joined = b.cli("space", "join", "water", handle, check=False)
    assert joined.code == 1 and "members" in joined.err
    posted = b.cli("space", "post", "water", handle, "--title", "Hello", "Can we join?", check=False)
    assert posted.code == 1 and "members" in posted.err
    assert [t["name"] for t in threads(a, handle)] == ["Agenda"]
    assert a.get_json(space).status_code == 200


def test_a_moderator_unlocks_a_thread_and_lifts_a_ban(instances):
    a, b = instances.new("a"), instances.new("b")
    a.movement("forum")
    a.member("mod", "forum", role="admin")
    space = a.cli("space", "create", "assembly", "--name", "Assembly", "--movement", "forum").out.strip()
    handle = a.handle("assembly")
    b.movement("water")
    b.cli("space", "join", "water", handle)
    wait_for(lambda: b.following_state("water", space) == "accepted", what="B's follow accepted")
    thread = b.cli("space", "post", "water", handle, "--title", "Boats", "Who has boats?").out.strip()
    wait_for(lambda: threads(a, handle), what="the thread on A")

    a.cli("space", "moderate", handle, "--as", "mod", "lock", thread)
    wait_for(lambda: threads(b, handle)[0]["locked"], what="the lock on B")
    assert b.cli("reply", "water", thread, "We do", check=False).code == 1
    a.cli("space", "moderate", handle, "--as", "mod", "unlock", thread)
    wait_for(lambda: not threads(b, handle)[0]["locked"], what="the unlock on B")
    assert b.cli("reply", "water", thread, "We have two").out.startswith(b.base_url)

    a.cli("space", "moderate", handle, "--as", "mod", "ban", b.handle("water"))
    assert b.cli("space", "post", "water", handle, "--title", "Again", "Hello", check=False).code == 1
    a.cli("space", "moderate", handle, "--as", "mod", "unban", b.handle("water"))
    b.cli("space", "join", "water", handle)
    wait_for(lambda: b.following_state("water", space) == "accepted", what="B's follow accepted again")
    assert b.cli("space", "post", "water", handle, "--title", "Again", "Hello").out.startswith(b.base_url)
