"""People who follow a movement hear when it proposes or signs: bob on B and alice on A follow "rivers" on A;
rivers proposes to "fishers" on B; both see a `status` notification in their Mastodon app, pointing at a post
that links the proposal."""

from tests.harness import wait_for
from tests.mastodon_client import password_login


def status_notices(app) -> list:
    return [n for n in app.notifications() if n.type == "status"]


def test_followers_of_a_movement_are_notified_when_it_proposes(instances, tmp_path):
    a, b = instances.new("a"), instances.new("b")
    a.movement("rivers")
    a.member("alice", "rivers")
    b.movement("fishers")
    b.member("bob", "fishers")
    a.cli("follow", "alice", a.handle("rivers"))
    b.cli("follow", "bob", a.handle("rivers"))
    wait_for(
        lambda: b.following_state("bob", a.url("/actors/rivers")) == "accepted", what="bob's follow accepted"
    )
    text = tmp_path / "pact.md"
    text.write_text("We share the river.")
    proposal = a.propose("rivers", [b.handle("fishers")])

    for instance, person in ((a, "alice"), (b, "bob")):
        app = password_login(instance, person)
        notices = wait_for(lambda: status_notices(app), what=f"{person}'s status notification")
        assert notices[0].account.acct == ("rivers" if instance is a else a.handle("rivers"))
        assert proposal in notices[0].status.content
