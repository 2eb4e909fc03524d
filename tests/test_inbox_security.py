"""An inbox only takes what its sender really sent: signatures, digests, dates and authorship are checked.

Movement "water" on B writes to movement "landrights" on A; a forger tries the same with bad credentials.
Each refusal is answered 401 or 403 and nothing is stored.
"""

import json
import uuid

import pytest
import requests

from federation.signatures import http_date
from tests.harness import wait_for
from tests.signing import create_note, signed_post


@pytest.fixture(scope="module")
def story(module_instances):
    a, b = module_instances.new("a"), module_instances.new("b")
    a.movement("landrights")
    water = b.movement("water")
    b.movement("forger")
    b.cli("follow", "water", a.handle("landrights"))
    return a, b, water


def stored(instance, activity_id: str) -> bool:
    return bool(instance.sql("SELECT 1 FROM activities WHERE uri = :u", u=activity_id))


def test_a_correctly_signed_note_is_accepted(story):
    a, b, water = story
    activity = create_note(water, b.base_url, "signed properly")
    response = signed_post(a.url("/inbox"), activity, b.private_key("water"))
    assert response.status_code == 202, response.text
    assert stored(a, activity["id"])


def test_the_same_activity_twice_is_stored_once(story):
    a, b, water = story
    activity = create_note(water, b.base_url, "sent twice")
    key = b.private_key("water")
    assert signed_post(a.url("/inbox"), activity, key).status_code == 202
    assert signed_post(a.url("/inbox"), activity, key).status_code == 202
    assert a.sql("SELECT count(*) FROM activities WHERE uri = :u", u=activity["id"]) == [(1,)]


def test_an_unsigned_post_is_refused(story):
    a, b, water = story
    activity = create_note(water, b.base_url)
    response = requests.post(
        a.url("/inbox"), json=activity, headers={"content-type": "application/activity+json"}
    )
    assert response.status_code == 401
    assert "error" in response.json()
    assert not stored(a, activity["id"])


def test_a_forged_signature_is_refused(story):
    a, b, water = story
    activity = create_note(water, b.base_url, "forged")
    key_id, _ = b.private_key("water")
    _, forger_private = b.private_key("forger")  # signs with another key under water's key id
    response = signed_post(a.url("/inbox"), activity, (key_id, forger_private))
    assert response.status_code == 401
    assert not stored(a, activity["id"])


def test_a_body_that_does_not_match_its_digest_is_refused(story):
    a, b, water = story
    activity = create_note(water, b.base_url, "original")
    tampered = json.dumps(
        {**activity, "object": {**activity["object"], "content": "<p>tampered</p>"}}
    ).encode()
    response = signed_post(a.url("/inbox"), activity, b.private_key("water"), body=tampered)
    assert response.status_code == 401
    assert "Digest" in response.json()["error"]
    assert not stored(a, activity["id"])


def test_a_stale_date_is_refused(story):
    import datetime as dt

    a, b, water = story
    activity = create_note(water, b.base_url, "from yesterday")
    yesterday = http_date(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1))
    response = signed_post(a.url("/inbox"), activity, b.private_key("water"), date=yesterday)
    assert response.status_code == 401
    assert "Date" in response.json()["error"]
    assert not stored(a, activity["id"])


def test_a_key_of_another_actor_cannot_speak_for_water(story):
    a, b, water = story
    activity = create_note(water, b.base_url, "impersonated")
    response = signed_post(a.url("/inbox"), activity, b.private_key("forger"))
    assert response.status_code == 403
    assert not stored(a, activity["id"])


def test_a_note_attributed_to_someone_else_is_refused(story):
    a, b, water = story
    forger = f"{b.base_url}/actors/forger"
    activity = create_note(forger, b.base_url, "put words in water's mouth", attributedTo=water)
    response = signed_post(a.url("/inbox"), activity, b.private_key("forger"))
    assert response.status_code == 403
    assert not stored(a, activity["id"])


def test_only_the_author_may_delete_a_note(story):
    a, b, water = story
    original = create_note(water, b.base_url, "stays")
    assert signed_post(a.url("/inbox"), original, b.private_key("water")).status_code == 202
    forger = f"{b.base_url}/actors/forger"
    delete = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{b.base_url}/activities/{uuid.uuid4()}",
        "type": "Delete",
        "actor": forger,
        "object": original["object"]["id"],
    }
    response = signed_post(a.url("/inbox"), delete, b.private_key("forger"))
    assert response.status_code == 403
    assert not stored(a, delete["id"])
    assert a.sql("SELECT deleted_at FROM objects WHERE uri = :u", u=original["object"]["id"]) == [(None,)]


def test_the_author_may_delete_its_note(story):
    a, b, water = story
    original = create_note(water, b.base_url, "goes away")
    key = b.private_key("water")
    assert signed_post(a.url("/inbox"), original, key).status_code == 202
    delete = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{b.base_url}/activities/{uuid.uuid4()}",
        "type": "Delete",
        "actor": water,
        "object": {"id": original["object"]["id"], "type": "Tombstone"},
    }
    assert signed_post(a.url("/inbox"), delete, key).status_code == 202
    [(deleted_at,)] = a.sql("SELECT deleted_at FROM objects WHERE uri = :u", u=original["object"]["id"])
    assert deleted_at is not None


def test_an_oversized_body_is_refused(story):
    a, b, water = story
    activity = create_note(water, b.base_url, "x" * 1_100_000)
    response = signed_post(a.url("/inbox"), activity, b.private_key("water"))
    assert response.status_code == 413
    assert not stored(a, activity["id"])


def test_an_unknown_activity_type_is_stored_and_acknowledged(story):
    a, b, water = story
    activity = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{b.base_url}/activities/{uuid.uuid4()}",
        "type": "Flourish",
        "actor": water,
        "object": f"{a.base_url}/actors/landrights",
    }
    assert signed_post(a.url("/inbox"), activity, b.private_key("water")).status_code == 202
    assert stored(a, activity["id"])


def test_a_rotated_key_is_fetched_again(story):
    from federation.keys import new_rsa_keypair

    a, b, water = story
    first = create_note(water, b.base_url, "with the old key")
    assert signed_post(a.url("/inbox"), first, b.private_key("water")).status_code == 202  # A caches the key
    public, private = new_rsa_keypair()
    b.sql(
        "UPDATE keys SET public = :p, private = :s WHERE uri = :u", p=public, s=private, u=f"{water}#main-key"
    )
    second = create_note(water, b.base_url, "with the new key")
    response = signed_post(a.url("/inbox"), second, (f"{water}#main-key", private))
    assert response.status_code == 202, response.text
    wait_for(lambda: stored(a, second["id"]))
