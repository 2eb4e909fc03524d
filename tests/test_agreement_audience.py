"""Proposals go where they are understood, and read the same under JSON-LD everywhere.

Movement "landrights" on A proposes to "water" on B. It is followed by "someone" on a server that is
not Interpeople (it would refuse a Proposal it does not know) and by "reader" on Interpeople instance C.
Someone gets only the readable Note; C gets the proposal itself. The proposal document, as A serves it,
expands under published contexts without losing a term.
"""

import pytest
from pyld import jsonld

from tests.fake_peer import FakePeer
from tests.harness import wait_for
from tests.jsonld_contexts import offline_loader


@pytest.fixture(scope="module")
def story(module_instances, tmp_path_factory):
    a, b, c = module_instances.new("a"), module_instances.new("b"), module_instances.new("c")
    landrights = a.movement("landrights")
    b.movement("water")
    c.movement("reader")
    peer = FakePeer("someone").start()
    _, answer = peer.follow("someone", landrights, a.url("/actors/landrights/inbox"))
    assert answer.status_code == 202, answer.text
    c.cli("follow", "reader", a.handle("landrights"))
    wait_for(lambda: c.following_state("reader", landrights) == "accepted", what="landrights accepts C")
    text = tmp_path_factory.mktemp("texts") / "pact.md"
    text.write_text("We share the land and the water.")
    proposal = a.cli(
        "proposal",
        "create",
        "landrights",
        "--title",
        "Land and water pact",
        "--text-file",
        str(text),
        "--party",
        b.handle("water"),
    ).out.strip()
    yield a, b, c, peer, proposal
    peer.stop()


def types_received(peer) -> list[tuple]:
    return [
        (r.get("type"), r["object"].get("type") if isinstance(r.get("object"), dict) else None)
        for r in peer.received
    ]


def test_a_follower_on_another_server_gets_the_readable_note(story):
    a, b, c, peer, proposal = story
    wait_for(lambda: ("Create", "Note") in types_received(peer), what="the Note about the proposal")
    note = next(
        r["object"] for r in peer.received if r.get("type") == "Create" and r["object"]["type"] == "Note"
    )
    assert proposal in note["content"]


def test_a_follower_on_another_server_gets_no_proposal_activity(story):
    a, b, c, peer, proposal = story
    wait_for(lambda: c.proposal(proposal) is not None, what="C to receive the proposal")
    wait_for(lambda: all(d["state"] == "delivered" for d in a.deliveries()), what="A's deliveries")
    strange = [t for t in types_received(peer) if {"Proposal", "Agreement"} & set(t)]
    assert strange == [], types_received(peer)


def test_a_party_and_a_follower_on_interpeople_get_the_proposal(story):
    a, b, c, peer, proposal = story
    for instance in (b, c):
        known = wait_for(lambda: instance.proposal(proposal), what=f"{instance.host} to hold the proposal")
        assert known["title"] == "Land and water pact"


def test_the_proposal_document_expands_under_published_contexts_without_losing_a_term(story):
    a, b, c, peer, proposal = story
    document = a.get_json(proposal).json()
    [node] = jsonld.expand(document, {"documentLoader": offline_loader})
    kept = {k for k, v in document.items() if k != "@context" and v is not None}  # null expands to nothing
    assert len(node) == len(kept), (sorted(kept), sorted(node))
    assert node["@type"] == ["https://codeberg.org/interpeople/ns#Proposal"]


def test_the_actor_document_names_the_agreements_context(story):
    a = story[0]
    context = a.get_json("/actors/landrights").json()["@context"]
    assert context[-1] == a.url("/ns/agreements/v1")
    assert a.get_json(context[-1]).json()["@context"]["Proposal"] == "ip:Proposal"
