"""Members read on /notifications what happens to their movement's proposals and agreements: a new proposal,
an amendment (which cancels earlier signatures), the agreement coming into force."""

import requests

from tests.harness import sign_in, wait_for


def notices(browser: requests.Session, instance) -> str:
    return browser.get(instance.url("/notifications")).text


def test_members_hear_of_proposals_amendments_and_agreements_of_their_movement(instances, tmp_path):
    a, b = instances.new("a"), instances.new("b")
    a.movement("rivers")
    a.member("alice", "rivers")
    b.movement("fishers")
    b.member("bob", "fishers")
    text = tmp_path / "pact.md"
    text.write_text("We share the river.")
    url = a.propose("rivers", [b.handle("fishers")])
    bob, alice = sign_in(b, "bob"), sign_in(a, "alice")
    page = wait_for(lambda: "River pact" in notices(bob, b) and notices(bob, b), what="bob's proposal notice")
    assert "New proposal to your movement" in page
    assert "New proposal" not in notices(alice, a)  # her own movement proposed it

    a.cli("proposal", "sign", url, "--as", "rivers")
    text.write_text("We share the river, and its fish.")
    b.cli("proposal", "amend", url, "--as", "fishers", "--text-file", str(text))
    page = wait_for(
        lambda: "Amended" in notices(alice, a) and notices(alice, a), what="alice's amendment notice"
    )
    assert "an amendment cancels earlier signatures" in page

    a.cli("proposal", "sign", url, "--as", "rivers")
    current = a.proposal(url)["current_version"]
    wait_for(
        lambda: (b.proposal(url) or {}).get("current_version") == current, what="the amended version on b"
    )
    b.cli("proposal", "sign", url, "--as", "fishers")
    for instance, browser in ((a, alice), (b, bob)):
        wait_for(lambda: "Agreement in force" in notices(browser, instance), what=f"{instance.host} in force")
    assert '<b class="unread"' in bob.get(b.url("/spaces")).text


def test_members_hear_when_the_other_party_withdraws_from_an_agreement(instances, tmp_path):
    a, b = instances.new("a"), instances.new("b")
    a.movement("rivers")
    a.member("alice", "rivers")
    b.movement("fishers")
    text = tmp_path / "pact.md"
    text.write_text("We share the river.")
    url = a.propose("rivers", [b.handle("fishers")])
    wait_for(lambda: b.proposal(url), what="the proposal on b")
    a.cli("proposal", "sign", url, "--as", "rivers")
    b.cli("proposal", "sign", url, "--as", "fishers")
    wait_for(lambda: (a.proposal(url) or {}).get("status") == "agreed", what="the agreement on a")
    agreement = a.proposal(url)["agreement"]
    b.cli("agreement", "withdraw", agreement, "--as", "fishers")
    alice = sign_in(a, "alice")
    page = wait_for(
        lambda: "Agreement withdrawn" in notices(alice, a) and notices(alice, a), what="withdrawal"
    )
    assert "Agreement in force" in page and "River pact" in page
