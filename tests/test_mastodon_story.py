"""A member signs in to their instance with a Mastodon app, finds a movement on another instance, follows it,
reads its next post at home, replies, favourites and boosts it; the movement, signed in through its admin,
sees the notifications; then the member unfollows."""

from tests.harness import wait_for
from tests.mastodon_client import code_login, password_login


def test_a_mastodon_app_follows_a_movement_elsewhere_and_interacts_with_it(instances):
    a, b = instances.new("a"), instances.new("b")
    a.movement("landrights", "Land Rights")
    a.member("alice", "landrights", role="admin")
    b.movement("water")
    b.member("bob", "water")

    bob = password_login(b, "bob")
    assert bob.account_verify_credentials().acct == "bob"
    [found] = bob.search_v2(f"@landrights@{a.host}", resolve=True).accounts
    assert found.acct == f"landrights@{a.host}" and found.group is True and found.avatar

    bob.account_follow(found.id)
    wait_for(lambda: bob.account_relationships(found.id)[0].following, what="the Accept to reach B")
    assert [f["id"] for f in a.cli("followers", "landrights", "--json").lines] == [f"{b.base_url}/actors/bob"]

    movement = code_login(a, "alice", account="landrights")  # the admin acts for the movement
    me = movement.account_verify_credentials()
    assert me.acct == "landrights" and me.group is True
    post = movement.status_post("Assembly on **Saturday** #landrights")

    home = wait_for(
        lambda: [s for s in bob.timeline_home() if s.uri == post.uri], what="the post at bob's home"
    )
    seen = home[0]
    assert "<strong>Saturday</strong>" in seen.content and seen.account.acct == f"landrights@{a.host}"

    reply = bob.status_reply(seen, "We will bring seeds")
    assert reply.in_reply_to_id == seen.id
    assert bob.status_favourite(seen.id).favourited is True
    boost = bob.status_reblog(seen.id)
    assert boost.reblog.id == seen.id and boost.reblogged is True
    assert [s.id for s in bob.timeline_home() if (s.reblog or s).id == seen.id] == [
        seen.id
    ]  # once, as in Mastodon

    def notified():
        kinds = {n.type: n for n in movement.notifications()}
        return kinds if {"follow", "mention", "favourite", "reblog"} <= set(kinds) else None

    kinds = wait_for(notified, what="notifications on the movement's instance")
    assert kinds["favourite"].account.acct == f"bob@{b.host}"
    assert "We will bring seeds" in kinds["mention"].status.content
    assert kinds["mention"].status.in_reply_to_id == post.id
    mine = movement.status(post.id)
    assert (mine.favourites_count, mine.reblogs_count, mine.replies_count) == (1, 1, 1)

    bob.account_unfollow(found.id)
    wait_for(lambda: a.cli("followers", "landrights", "--json").lines == [], what="the Undo to reach A")
    assert bob.account_relationships(found.id)[0].following is False
