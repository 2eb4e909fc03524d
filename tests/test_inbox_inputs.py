"""Odd but valid, or broken, inputs get a clear answer: never a 5xx (peers retry those for days), none lost.

Movement "landrights" on A follows movement "water" on B. Water sends A what real peers send: types as
lists (valid JSON-LD), PeerTube's two authors, text with NUL or lone surrogates, huge ids, deep nesting,
big bodies, and objects that are no posts. Each request is signed as B would sign it.
"""

import json

import pytest
import requests

from tests.harness import wait_for
from tests.signing import activity, create_note, signed_post


@pytest.fixture(scope="module")
def story(module_instances):
    a, b = module_instances.new("a"), module_instances.new("b")
    a.movement("landrights")
    water = b.movement("water")
    a.cli("follow", "landrights", b.handle("water"))
    wait_for(lambda: a.following_state("landrights", water) == "accepted", what="water accepts")
    return a, b, water


def send(story, activity: dict | bytes):
    a, b, _ = story
    return signed_post(a.url("/inbox"), activity, b.private_key("water"))


def stored_object(a, uri: str) -> list[tuple]:
    return a.sql("SELECT type, content FROM objects WHERE uri = :u", u=uri)


def on_timeline(a, uri: str) -> bool:
    return any(item["id"] == uri for item in a.timeline("landrights"))


def test_a_note_typed_as_a_list_is_taken_as_its_first_type(story):
    a, b, water = story
    activity = create_note(water, b.base_url, "two types", type=["Note", "Article"])
    response = send(story, activity)
    assert response.status_code == 202, response.text
    assert stored_object(a, activity["object"]["id"]) == [("Note", "<p>two types</p>")]
    assert on_timeline(a, activity["object"]["id"])


def test_an_activity_typed_as_a_list_is_handled_as_its_first_type(story):
    a, b, water = story
    activity = create_note(water, b.base_url, "activity with two types")
    activity["type"] = ["Create", "https://example.org/ns#Posting"]
    assert send(story, activity).status_code == 202
    assert stored_object(a, activity["object"]["id"])[0][0] == "Note"


@pytest.mark.parametrize("bad_type", [7, {"name": "Note"}, [], [3]])
def test_an_object_type_that_names_no_type_is_refused_with_400(story, bad_type):
    a, b, water = story
    activity = create_note(water, b.base_url, "odd type", type=bad_type)
    response = send(story, activity)
    assert response.status_code == 400, response.text
    assert "type" in response.json()["error"]
    assert stored_object(a, activity["object"]["id"]) == []


def test_a_peertube_video_with_account_and_channel_as_authors_is_accepted(story):
    a, b, water = story
    channel = f"{b.base_url}/video-channels/water_channel"
    activity = create_note(
        water,
        b.base_url,
        "a video",
        type="Video",
        name="Our river",
        attributedTo=[{"type": "Group", "id": channel}, {"type": "Person", "id": water}],
    )
    response = send(story, activity)
    assert response.status_code == 202, response.text
    [(author,)] = a.sql(
        "SELECT a.uri FROM objects o JOIN actors a ON a.id = o.attributed_to_id WHERE o.uri = :u",
        u=activity["object"]["id"],
    )
    assert author == water


def test_authors_that_do_not_include_the_sender_are_still_refused(story):
    a, b, water = story
    other = f"{b.base_url}/actors/someone-else"
    activity = create_note(
        water, b.base_url, "not mine", attributedTo=[other, {"type": "Person", "id": other}]
    )
    assert send(story, activity).status_code == 403
    assert stored_object(a, activity["object"]["id"]) == []


@pytest.mark.parametrize("text", ["nul \u0000 inside", "lone \ud800 surrogate", "\udfff\u0000"])
def test_text_no_database_can_store_is_kept_with_replacement_characters(story, text):
    a, b, water = story
    activity = create_note(water, b.base_url, text, summary=text, name=text)
    body = json.dumps(activity).encode()  # ensure_ascii: the characters travel as \\u escapes
    response = send(story, body)
    assert response.status_code == 202, response.text
    [(kind, content)] = stored_object(a, activity["object"]["id"])
    assert "\ufffd" in content and "\u0000" not in content
    assert on_timeline(a, activity["object"]["id"])


def test_utf8_encoded_surrogates_are_kept_with_replacement_characters(story):
    a, b, water = story
    activity = create_note(water, b.base_url, "SURROGATE")
    body = json.dumps(activity, ensure_ascii=False).encode().replace(b"SURROGATE", b"\xed\xa0\x80")
    assert send(story, body).status_code == 202
    assert "\ufffd" in stored_object(a, activity["object"]["id"])[0][1]


@pytest.mark.parametrize("field", ["id", "object id", "inReplyTo"])
def test_an_id_longer_than_2048_characters_is_refused_with_400(story, field):
    a, b, water = story
    activity = create_note(water, b.base_url, "long id")
    long_id = f"{b.base_url}/objects/{'x' * 2100}"
    if field == "id":
        activity["id"] = long_id
    elif field == "object id":
        activity["object"]["id"] = long_id
    else:
        activity["object"]["inReplyTo"] = long_id
    response = send(story, activity)
    assert response.status_code == 400, response.text
    assert "2048" in response.json()["error"]


@pytest.mark.parametrize("depth", [100, 100_000])
def test_deeply_nested_json_is_refused_with_400_before_anything_else(story, depth):
    a, b, water = story
    activity = create_note(water, b.base_url, "deep")
    body = json.dumps(activity).encode()[:-1] + b', "deep": ' + b"[" * depth + b"]" * depth + b"}"
    response = send(story, body)
    assert response.status_code == 400, response.text
    assert "nests deeper" in response.json()["error"]
    assert stored_object(a, activity["object"]["id"]) == []


def test_a_body_just_under_the_limit_is_read_whole(story):
    a, b, water = story
    activity = create_note(water, b.base_url, "big")
    activity["object"]["content"] = "<p>" + "river " * 160_000 + "</p>"  # about 960 kB
    body = json.dumps(activity).encode()
    assert 900_000 < len(body) < 1_000_000
    response = send(story, body)
    assert response.status_code == 202, response.text
    assert stored_object(a, activity["object"]["id"])[0][0] == "Note"


@pytest.mark.parametrize("kind", ["Tombstone", "Relationship", "Profile", "Place"])
def test_objects_that_are_no_posts_are_stored_but_never_shown_as_posts(story, kind):
    a, b, water = story
    activity = create_note(water, b.base_url, f"a {kind}", type=kind)
    assert send(story, activity).status_code == 202
    assert stored_object(a, activity["object"]["id"])[0][0] == kind
    assert not on_timeline(a, activity["object"]["id"])
    statuses = requests.get(a.url("/api/v1/timelines/public"), timeout=10).json()
    assert all(status["uri"] != activity["object"]["id"] for status in statuses)


@pytest.mark.parametrize(
    "resource", ["ACCT:landrights@{host}", "Acct:LandRights@{host}", "acct:landrights@{host}"]
)
def test_webfinger_takes_the_acct_scheme_and_names_in_any_case(story, resource):
    a, b, water = story
    response = requests.get(
        a.url("/.well-known/webfinger"), params={"resource": resource.format(host=a.host)}, timeout=10
    )
    assert response.status_code == 200, response.text
    assert response.json()["links"][0]["href"] == f"{a.base_url}/actors/landrights"


def test_an_announce_naming_a_known_update_by_id_is_stored_and_fails_nothing(story):
    """The object's type comes from the activity we know by that id; its handler wants it embedded."""
    a, b, water = story
    update = activity(
        water,
        b.base_url,
        "Update",
        object={"id": water, "type": "Group", "name": "Water", "inbox": f"{water}/inbox"},
    )
    assert send(story, update).status_code == 202
    announce = activity(
        water,
        b.base_url,
        "Announce",
        to=["https://www.w3.org/ns/activitystreams#Public"],
        object=update["id"],
    )
    assert send(story, announce).status_code == 202
    a.wait_inbox_drained()
    assert a.sql(
        "SELECT state, error FROM inbox_entries WHERE activity_uri = :u", drained=False, u=announce["id"]
    ) == [("done", None)]


def test_an_activity_whose_id_is_its_actors_id_is_refused_with_400(story):
    a, b, water = story
    update = activity(water, b.base_url, "Update", object={"id": water, "type": "Group", "name": "Water"})
    update["id"] = water
    response = send(story, update)
    assert response.status_code == 400, response.text
    assert "actor's id" in response.json()["error"]
    assert a.sql("SELECT count(*) FROM activities WHERE uri = :u", u=water) == [(0,)]
