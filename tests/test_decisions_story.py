"""Three movements decide internally, then sign: each signature links its movement's outcome record.

"rivers" on A proposes to "fishers" on B and "farmers" on C. Every movement signs only with a mandate:
its members vote on the exact version (agree / abstain / disagree / block), the clock of each instance
closes the decision at its deadline, and the movement signs; the Sign carries the outcome's URL and
digest, which every other instance fetches and checks. Refused: a signature whose linked outcome does not
exist or says no, a vote by a non-member (from the same instance, or from Mastodon), a vote after the
deadline. An open poll reaches Mastodon followers as a FEP-9967 Question, and their votes come back.
"""

import datetime as dt
import json
import uuid

import pytest
import requests

from federation.proofs import add_proof, content_hash, ed25519_private, make_proof
from tests.fake_peer import FakePeer
from tests.harness import wait_for as harness_wait_for
from tests.signing import signed_post

MOVEMENTS = {"a": ("rivers", "ria", "rob"), "b": ("fishers", "bea", "bob"), "c": ("farmers", "cai", "cid")}


def wait_for(check, timeout: float = 45.0, **kwargs):
    """The harness's wait, with room for a busy machine (clocks and deliveries of several instances)."""
    return harness_wait_for(check, timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def world(module_instances, tmp_path_factory):
    instances = {}
    for key, (movement, signatory, member) in MOVEMENTS.items():
        instance = module_instances.new(key, clock_interval=0.3)
        instance.movement(movement)
        instance.member(signatory, movement, role="signatory")
        instance.member(member, movement, role="member")
        instance.cli("movement", "set", movement, "--require-mandate", "yes", "--quorum", "50%")
        instances[key] = instance
    instances["b"].movement("stranger")
    instances["b"].member("sam", "stranger", role="signatory")
    text = tmp_path_factory.mktemp("texts") / "text.md"
    text.write_text("We share the river and the fields.")
    instances["text"] = text
    return instances


def propose(world, *others: str) -> str:
    a = world["a"]
    parties = [arg for key in others for arg in ("--party", world[key].handle(MOVEMENTS[key][0]))]
    url = a.cli(
        "proposal",
        "create",
        "rivers",
        "--title",
        f"Pact {uuid.uuid4().hex[:6]}",
        "--text-file",
        str(world["text"]),
        *parties,
    ).out.strip()
    for key in others:
        wait_for(lambda: world[key].proposal(url), what=f"the proposal on {key}")
    return url


def soon(seconds: float) -> str:
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)).isoformat()


def open_decision(instance, url: str, movement: str, seconds: float, *extra: str) -> str:
    return instance.cli(
        "decision",
        "open",
        url,
        "--as",
        movement,
        "--question",
        "Shall we sign?",
        "--kind",
        "agree",
        "--closes",
        soon(seconds),
        *extra,
    ).out.strip()


def decision(instance, ref: str) -> dict:
    return json.loads(instance.cli("decision", "show", ref, "--json").out)


def state_in_database(instance, decision_url: str) -> tuple:
    return tuple(instance.sql("SELECT state, outcome FROM decisions WHERE uri = :u", u=decision_url)[0])


def test_each_movement_decides_internally_then_signs_with_its_mandate(world):
    a, b, c = world["a"], world["b"], world["c"]
    url = propose(world, "b", "c")
    decisions = {}
    for key, instance in (("a", a), ("b", b), ("c", c)):
        movement, signatory, member = MOVEMENTS[key]
        refused = instance.cli("proposal", "sign", url, "--as", movement, check=False)
        assert refused.code == 1 and "only with a mandate" in refused.err
        decisions[key] = open_decision(instance, url, movement, 10)
        instance.cli("decision", "vote", decisions[key], "agree", "--as", signatory)
        instance.cli("decision", "vote", decisions[key], "abstain", "--as", member)
    for key, instance in (("a", a), ("b", b), ("c", c)):
        # the clock closes it on time, without anyone reading it
        wait_for(
            lambda: state_in_database(instance, decisions[key]) == ("closed", "passed"),
            what="the close",
            timeout=40,
        )
    for key, instance in (("a", a), ("b", b), ("c", c)):
        movement, signatory, _ = MOVEMENTS[key]
        instance.cli(
            "proposal", "sign", url, "--as", movement, "--by", signatory, "--reason", "Members agreed"
        )
    for instance in (a, b, c):
        wait_for(lambda: (instance.proposal(url) or {}).get("status") == "agreed", what="the agreement")
    for instance in (a, b, c):
        acted = wait_for(
            lambda: (
                len([x for x in instance.proposal(url)["acted"] if x["mandate"]]) == 3
                and instance.proposal(url)["acted"]
            ),
            what="every mandate on every instance",
        )
        for row in acted:
            key = next(k for k, (m, _, _) in MOVEMENTS.items() if row["signer"].endswith(f"/actors/{m}"))
            assert row["mandate"] == decisions[key]
            record = world[key].get_json(decisions[key])
            assert record.status_code == 200 and content_hash(record.json()) == row["mandate_digest"]
            assert record.json()["outcome"] == "passed" and record.json()["version"] == row["version"]
            assert (
                row["acted_by"].endswith(f"/actors/{MOVEMENTS[key][1]}") and row["reason"] == "Members agreed"
            )
    page = requests.get(url, headers={"Accept": "text/html"}, timeout=10).text
    assert "Internal decisions" in page and "signed with a mandate" in page and decisions["a"] in page


def accept_with_mandate(b, url: str, mandate: str, digest: str) -> dict:
    a_version = requests.get(url, headers={"Accept": "application/activity+json"}, timeout=10).json()
    version = next(v for v in a_version["versions"] if content_hash(v) == a_version["currentVersion"])
    method, private = b.private_key("fishers", "ed25519")
    proof = make_proof(version, ed25519_private(private), method)
    return {
        "@context": version["@context"],
        "id": f"{b.base_url}/activities/{uuid.uuid4()}",
        "type": "Accept",
        "actor": f"{b.base_url}/actors/fishers",
        "object": add_proof(version, proof),
        "version": content_hash(version),
        "mandate": mandate,
        "mandateDigest": digest,
        "to": [version["attributedTo"]],
    }


def test_a_signature_whose_linked_outcome_does_not_exist_is_refused(world):
    a, b = world["a"], world["b"]
    url = propose(world, "b")
    forged = accept_with_mandate(b, url, f"{b.base_url}/decisions/99999", "00" * 32)
    response = signed_post(a.url("/inbox"), forged, b.private_key("fishers"))
    assert response.status_code == 403 and "does not exist" in response.json()["error"]
    assert not a.proposal(url)["signatures"]


def test_a_signature_whose_linked_outcome_says_no_is_refused(world):
    a, b = world["a"], world["b"]
    url = propose(world, "b")
    blocked = open_decision(b, url, "fishers", 6)
    b.cli("decision", "vote", blocked, "agree", "--as", "bea")
    b.cli("decision", "vote", blocked, "block", "--as", "bob")
    wait_for(
        lambda: state_in_database(b, blocked) == ("closed", "blocked"), what="the blocked outcome", timeout=40
    )
    refused = b.cli("proposal", "sign", url, "--as", "fishers", check=False)
    assert refused.code == 1 and "only with a mandate" in refused.err
    digest = decision(b, blocked)["digest"]
    response = signed_post(
        a.url("/inbox"), accept_with_mandate(b, url, blocked, digest), b.private_key("fishers")
    )
    assert response.status_code == 403 and "says blocked" in response.json()["error"]
    tampered = accept_with_mandate(b, url, blocked, "ab" * 32)
    response = signed_post(a.url("/inbox"), tampered, b.private_key("fishers"))
    assert response.status_code == 403 and "digest" in response.json()["error"]
    assert not a.proposal(url)["signatures"]


def test_a_vote_by_a_non_member_is_refused(world):
    b = world["b"]
    url = propose(world, "b")
    ref = open_decision(b, url, "fishers", 600)
    refused = b.cli("decision", "vote", ref, "agree", "--as", "sam", check=False)
    assert refused.code == 1 and "only members" in refused.err
    outsider = FakePeer("reader").start()
    try:
        vote = outsider_vote(outsider, ref, "agree")
        response = signed_post(
            b.url("/inbox"), vote, (f"{outsider.actor('reader')}#main-key", outsider.private_pem)
        )
        assert response.status_code == 403 and "only members" in response.json()["error"]
    finally:
        outsider.stop()
    assert decision(b, ref)["votes"] == 0


def test_a_vote_after_the_deadline_is_refused(world):
    b = world["b"]
    url = propose(world, "b")
    ref = open_decision(b, url, "fishers", 2)
    wait_for(lambda: state_in_database(b, ref)[0] == "closed", what="the close", timeout=40)
    late = b.cli("decision", "vote", ref, "agree", "--as", "bea", check=False)
    assert late.code == 1 and "closed" in late.err
    assert decision(b, ref)["votes"] == 0 and decision(b, ref)["outcome"] == "no_quorum"


def outsider_vote(peer: FakePeer, question: str, choice: str) -> dict:
    actor = peer.actor("reader")
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{peer.base_url}/activities/{uuid.uuid4()}",
        "type": "Create",
        "actor": actor,
        "to": [question.split("/decisions/")[0] + "/actors/fishers"],
        "object": {
            "id": f"{peer.base_url}/objects/{uuid.uuid4()}",
            "type": "Note",
            "attributedTo": actor,
            "name": choice,
            "inReplyTo": question,
            "to": [question.split("/decisions/")[0] + "/actors/fishers"],
        },
    }


def test_an_open_poll_reaches_mastodon_followers_who_vote_in_it(world):
    b = world["b"]
    url = propose(world, "b")
    mastodon = FakePeer("reader").start()
    try:
        mastodon.follow("reader", f"{b.base_url}/actors/fishers", f"{b.base_url}/actors/fishers/inbox")
        wait_for(lambda: b.cli("followers", "fishers", "--json").lines, what="the follow")
        ref = open_decision(b, url, "fishers", 14, "--open-poll")
        question = wait_for(
            lambda: next(
                (
                    x["object"]
                    for x in mastodon.received
                    if x.get("type") == "Create" and x["object"].get("type") == "Question"
                ),
                None,
            ),
            what="the Question on Mastodon",
        )
        assert question["id"] == ref and [o["name"] for o in question["oneOf"]] == [
            "agree",
            "abstain",
            "disagree",
            "block",
        ]
        vote = outsider_vote(mastodon, ref, "disagree")
        response = signed_post(
            b.url("/inbox"), vote, (f"{mastodon.actor('reader')}#main-key", mastodon.private_pem)
        )
        assert response.status_code == 202, response.text
        wait_for(lambda: decision(b, ref)["votes"] == 1, what="the follower's vote")
        b.cli("decision", "vote", ref, "agree", "--as", "bea")
        b.cli("decision", "vote", ref, "agree", "--as", "bob")
        wait_for(lambda: state_in_database(b, ref) == ("closed", "passed"), what="the close", timeout=40)
        closed = wait_for(
            lambda: next((x["object"] for x in mastodon.received if x.get("type") == "Update"), None),
            what="the closed Question on Mastodon",
        )
        assert (
            closed["closed"]
            and {o["name"]: o["replies"]["totalItems"] for o in closed["oneOf"]}["disagree"] == 1
        )
        assert decision(b, ref)["tally"]["followers"]["disagree"] == 1, "followers are heard, members decide"
    finally:
        mastodon.stop()


def test_an_amendment_voids_the_open_decision_on_the_old_version(world):
    a, b = world["a"], world["b"]
    url = propose(world, "b")
    ref = open_decision(b, url, "fishers", 600)
    b.cli("decision", "vote", ref, "agree", "--as", "bea")
    amended = world["text"].parent / "amended.md"
    amended.write_text("We share the river, the fields and the forest.")
    a.cli("proposal", "amend", url, "--as", "rivers", "--text-file", str(amended))
    wait_for(lambda: decision(b, ref)["state"] == "void", what="the reset on B")
    page = requests.get(ref, headers={"Accept": "text/html"}, timeout=10).text
    assert "Void: the proposal was amended" in page


def test_the_clock_reminds_and_expires_an_agreement_on_time_on_every_instance(world):
    a, b = world["a"], world["b"]
    a.movement("orchard")
    b.movement("bees")
    b.member("bee", "bees", role="signatory")
    ends = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=12)).strftime("%Y-%m-%dT%H:%M:%SZ")
    url = a.cli(
        "proposal",
        "create",
        "orchard",
        "--title",
        "Pollination",
        "--text-file",
        str(world["text"]),
        "--party",
        b.handle("bees"),
        "--ends",
        ends,
    ).out.strip()
    wait_for(lambda: b.proposal(url), what="the proposal on B")
    a.cli("proposal", "sign", url, "--as", "orchard")
    b.cli("proposal", "sign", url, "--as", "bees")
    wait_for(lambda: a.proposal(url)["status"] == b.proposal(url)["status"] == "agreed", what="the agreement")
    reminded = "SELECT count(*) FROM objects WHERE content LIKE '%Renew it%'"
    wait_for(lambda: b.sql(reminded)[0][0] >= 1, what="the renewal reminder to B's members")
    for instance in (a, b):  # read from the database: nobody asks for the proposal meanwhile
        wait_for(
            lambda: instance.sql("SELECT state FROM proposals WHERE uri = :u", u=url)[0][0] == "expired",
            timeout=40,
            what="the expiry by the clock",
        )


def test_members_who_have_not_voted_are_reminded_before_the_deadline(world):
    b = world["b"]
    url = propose(world, "b")
    ref = open_decision(b, url, "fishers", 8)
    b.cli("decision", "vote", ref, "agree", "--as", "bea")
    wait_for(lambda: state_in_database(b, ref)[0] == "closed", what="the close", timeout=40)
    reminders = b.sql("SELECT o.document FROM objects o WHERE o.content LIKE :c", c=f'%Reminder:%{ref}"%')
    assert len(reminders) == 1
    document = reminders[0][0] if isinstance(reminders[0][0], dict) else json.loads(reminders[0][0])
    assert document["to"] == [f"{b.base_url}/actors/bob"], "only the member who has not voted"
