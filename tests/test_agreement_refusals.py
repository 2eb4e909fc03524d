"""An origin refuses what does not hold up: forged proofs, strangers' proofs, proofs over another version,
signatures after withdrawal or expiry, and Updates from other instances. Each refusal is answered with a
clear status, logged, and changes nothing. A declined proposal and an expired agreement take no more
signatures or withdrawals. Mastodon followers meanwhile get readable Notes.

"rivers" on A proposes to "fishers" on B; "stranger" on B is no party. B's activities are crafted here
with B's real keys, as a misbehaving instance would send them.
"""

import datetime as dt
import time
import uuid

import pytest

from federation.proofs import add_proof, content_hash, ed25519_private, make_proof
from tests.fake_peer import FakePeer
from tests.harness import wait_for
from tests.signing import signed_post


@pytest.fixture(scope="module")
def story(module_instances, tmp_path_factory):
    a, b = module_instances.new("a"), module_instances.new("b")
    a.movement("rivers")
    b.movement("fishers")
    b.movement("stranger")
    mastodon = FakePeer("reader").start()
    mastodon.follow("reader", f"{a.base_url}/actors/rivers", f"{a.base_url}/actors/rivers/inbox")
    text = tmp_path_factory.mktemp("texts") / "text.md"
    text.write_text("We share the river.")
    yield a, b, mastodon, text
    mastodon.stop()


def propose(story, *extra) -> str:
    a, b, _, text = story
    url = a.cli(
        "proposal",
        "create",
        "rivers",
        "--title",
        f"Proposal {uuid.uuid4().hex[:6]}",
        "--text-file",
        str(text),
        "--party",
        b.handle("fishers"),
        *extra,
    ).out.strip()
    wait_for(
        lambda: b.cli("proposal", "show", url, "--json", check=False).code == 0, what="the proposal on B"
    )
    return url


def current_version(instance, url) -> dict:
    document = instance.get_json(url).json()
    return next(v for v in document["versions"] if content_hash(v) == document["currentVersion"])


def accept(b, movement: str, version: dict, *, proof_value: str | None = None) -> dict:
    """An Accept (signature) by a movement on B over a version, signed with that movement's Ed25519 key."""
    method, private = b.private_key(movement, "ed25519")
    proof = make_proof({k: v for k, v in version.items() if k != "proof"}, ed25519_private(private), method)
    if proof_value:
        proof["proofValue"] = proof_value
    actor = f"{b.base_url}/actors/{movement}"
    return {
        "@context": version["@context"],
        "id": f"{b.base_url}/activities/{uuid.uuid4()}",
        "type": "Accept",
        "actor": actor,
        "object": add_proof({k: v for k, v in version.items() if k != "proof"}, proof),
        "version": content_hash(version),
        "to": [version["attributedTo"]],
    }


def send(a, b, movement: str, activity: dict):
    return signed_post(a.url("/inbox"), activity, b.private_key(movement))


def signers(instance, url) -> list[str]:
    return [s for signed in instance.proposal(url)["signatures"].values() for s in signed]


def test_a_genuine_signature_is_accepted(story):
    a, b, _, _ = story
    url = propose(story)
    response = send(a, b, "fishers", accept(b, "fishers", current_version(a, url)))
    assert response.status_code == 202, response.text
    assert signers(a, url) == [f"{b.base_url}/actors/fishers"]


def test_a_forged_proof_is_refused(story):
    a, b, _, _ = story
    url = propose(story)
    genuine = accept(b, "fishers", current_version(a, url))
    value = genuine["object"]["proof"]["proofValue"]
    forged = accept(b, "fishers", current_version(a, url), proof_value=value[:10] + value[10:][::-1])
    response = send(a, b, "fishers", forged)
    assert response.status_code == 403 and "does not verify" in response.json()["error"]
    assert signers(a, url) == []
    assert "agreements: refused Accept" in a.log_path.read_text()


def test_a_proof_signed_over_a_changed_text_is_refused(story):
    a, b, _, _ = story
    url = propose(story)
    version = current_version(a, url)
    activity = accept(b, "fishers", version)
    activity["object"]["content"] = activity["object"]["content"].replace("river", "rivers")
    response = send(a, b, "fishers", activity)
    assert response.status_code == 403, response.text
    assert signers(a, url) == []


def test_a_proof_by_a_non_party_is_refused(story):
    a, b, _, _ = story
    url = propose(story)
    response = send(a, b, "stranger", accept(b, "stranger", current_version(a, url)))
    assert response.status_code == 403 and "not a party" in response.json()["error"]
    assert signers(a, url) == []


def test_a_proof_over_another_version_is_refused(story):
    a, b, _, text = story
    url = propose(story)
    old = current_version(a, url)
    amended = text.parent / "amended.md"
    amended.write_text("We share the river, and clean it every spring.")
    a.cli("proposal", "amend", url, "--as", "rivers", "--text-file", str(amended))
    response = send(a, b, "fishers", accept(b, "fishers", old))
    assert response.status_code == 409 and "current version" in response.json()["error"]
    assert signers(a, url) == []


def test_a_signature_after_withdrawal_is_refused(story):
    a, b, _, _ = story
    url = propose(story)
    version = current_version(a, url)
    a.cli("proposal", "withdraw", url, "--as", "rivers")
    response = send(a, b, "fishers", accept(b, "fishers", version))
    assert response.status_code == 409 and "withdrawn by author" in response.json()["error"]
    wait_for(lambda: b.proposal(url)["status"] == "withdrawn_by_author", what="the withdrawal on B")
    refused = b.cli("proposal", "sign", url, "--as", "fishers", check=False)
    assert refused.code == 1 and "withdrawn by author" in refused.err


def test_a_signature_after_expiry_is_refused(story):
    a, b, _, _ = story
    ends = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=3)
    url = propose(story, "--ends", ends.strftime("%Y-%m-%dT%H:%M:%SZ"))
    version = current_version(a, url)
    time.sleep(max(0.0, (ends - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 0.2)
    response = send(a, b, "fishers", accept(b, "fishers", version))
    assert response.status_code == 409 and "expired" in response.json()["error"]
    assert a.proposal(url)["status"] == "expired"


def test_an_update_by_another_instance_is_refused(story):
    a, b, _, _ = story
    url = propose(story)
    document = a.get_json(url).json()
    fishers = f"{b.base_url}/actors/fishers"
    document["name"] = "Hijacked"
    for attributed in (document["attributedTo"], fishers):
        update = {
            "@context": document["@context"],
            "id": f"{b.base_url}/activities/{uuid.uuid4()}",
            "type": "Update",
            "actor": fishers,
            "object": {**document, "attributedTo": attributed},
        }
        response = send(a, b, "fishers", update)
        assert response.status_code == 403, response.text
        assert "origin" in response.json()["error"]
    assert a.proposal(url)["title"] != "Hijacked"


def test_mastodon_followers_read_a_note_with_a_link(story):
    a, b, mastodon, _ = story
    url = propose(story)
    a.cli("proposal", "sign", url, "--as", "rivers")

    def notes():
        return [
            r["object"]
            for r in mastodon.received
            if r.get("type") == "Create"
            and isinstance(r.get("object"), dict)
            and r["object"]["type"] == "Note"
            and url in r["object"]["content"]
        ]

    found = wait_for(
        lambda: len(notes()) >= 2 and notes(), what="two Notes (proposed, signed) at the follower"
    )
    assert "proposes an agreement" in found[0]["content"] and f'href="{url}"' in found[0]["content"]
    assert "signed" in found[1]["content"]


def test_a_declined_proposal_can_no_longer_be_signed(story):
    a, b, _, text = story
    spanish = text.parent / "es.md"
    spanish.write_text("Compartimos el río.")
    url = propose(story, "--language", "en", "--translation", f"es={spanish}")
    assert set(current_version(a, url)["contentMap"]) == {"en", "es"}
    b.cli("proposal", "decline", url, "--as", "fishers", "--reason", "Not before the harvest")
    wait_for(lambda: a.proposal(url)["status"] == "declined", what="the decline on A")
    assert a.proposal(url)["declined_by"] == [f"{b.base_url}/actors/fishers"]
    refused = a.cli("proposal", "sign", url, "--as", "rivers", check=False)
    assert refused.code == 1 and "declined" in refused.err


def test_an_agreement_expires_at_its_end(story):
    a, b, _, _ = story
    ends = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=8)
    url = propose(story, "--ends", ends.strftime("%Y-%m-%dT%H:%M:%SZ"))
    a.cli("proposal", "sign", url, "--as", "rivers")
    b.cli("proposal", "sign", url, "--as", "fishers")
    agreement = a.proposal(url)["agreement"]

    def status(instance, movement):
        return next(
            (
                r["status"]
                for r in instance.cli("agreement", "list", movement, "--json").lines
                if r["url"] == agreement
            ),
            None,
        )

    wait_for(
        lambda: status(a, "rivers") == "in_force" and status(b, "fishers") == "in_force", what="in force"
    )
    wait_for(lambda: status(a, "rivers") == status(b, "fishers") == "expired", timeout=20, what="expiry")
    refused = b.cli("agreement", "withdraw", agreement, "--as", "fishers", check=False)
    assert refused.code == 1 and "expired" in refused.err
