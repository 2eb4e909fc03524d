"""The inbox journal: movement "water" on B writes to A, whose inbox commits every verified activity to its
journal, answers 202, and processes it afterwards -- in order, once, after a crash too; failures are
retried, then parked for an admin, and refusals found while processing are recorded."""

import uuid

import pytest
import requests

from tests.harness import csrf_of, wait_for
from tests.signing import create_note, signed_post


@pytest.fixture(scope="module")
def story(module_instances):
    a = module_instances.new("a", inbox_max_attempts=3, inbox_lease=10)
    b = module_instances.new("b")
    a.movement("landrights")
    a.member("ada", "landrights", role="admin")
    a.member("max", "landrights")
    water = b.movement("water")
    b.movement("forger")
    b.cli("follow", "water", a.handle("landrights"))
    b.cli("follow", "forger", a.handle("landrights"))
    return a, b, water


def entry_of(instance, activity_id: str) -> dict | None:
    return next((e for e in instance.inbox() if e["activity"] == activity_id), None)


def test_a_post_is_journaled_answered_and_then_processed(story):
    a, b, water = story
    activity = create_note(water, b.base_url, "into the journal")
    assert signed_post(a.url("/inbox"), activity, b.private_key("water")).status_code == 202
    a.wait_inbox_drained()
    entry = entry_of(a, activity["id"])
    assert entry["state"] == "done" and entry["type"] == "Create" and entry["actor"] == water
    assert entry["attempts"] == 1 and entry["received"] and entry["processed"]
    assert a.sql("SELECT count(*) FROM activities WHERE uri = :u", u=activity["id"]) == [(1,)]


def test_a_duplicate_is_journaled_and_processed_once(story):
    a, b, water = story
    activity = create_note(water, b.base_url, "twice")
    key = b.private_key("water")
    assert signed_post(a.url("/inbox"), activity, key).status_code == 202
    second = signed_post(a.url("/inbox"), activity, key)
    assert second.status_code == 202 and second.json()["status"] == "already received"
    assert a.sql("SELECT count(*) FROM inbox_entries WHERE activity_uri = :u", u=activity["id"]) == [(1,)]
    assert a.sql("SELECT count(*) FROM activities WHERE uri = :u", u=activity["id"]) == [(1,)]


def test_a_refusal_found_while_processing_is_answered_and_recorded(story):
    a, b, water = story
    original = create_note(water, b.base_url, "mine")
    assert signed_post(a.url("/inbox"), original, b.private_key("water")).status_code == 202
    a.wait_inbox_drained()
    forger = f"{b.base_url}/actors/forger"
    delete = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{b.base_url}/activities/{uuid.uuid4()}",
        "type": "Delete",
        "actor": forger,
        "object": original["object"]["id"],
    }
    response = signed_post(a.url("/inbox"), delete, b.private_key("forger"))
    assert response.status_code == 403  # found by processing, within inbox_answer_wait
    entry = entry_of(a, delete["id"])
    assert entry["state"] == "refused" and "only the author" in entry["error"]
    assert "while processing it (403)" in a.log_path.read_text()


def test_entries_about_one_object_are_applied_in_journal_order_after_a_crash(story):
    """A is killed with a Create, its Update and its Delete journaled (the Create claimed, not finished)."""
    a, b, water = story
    created = create_note(water, b.base_url, "first version")
    note = created["object"]
    updated = {
        **created,
        "id": f"{b.base_url}/activities/{uuid.uuid4()}",
        "type": "Update",
        "object": {**note, "content": "<p>second version</p>"},
    }
    deleted = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{b.base_url}/activities/{uuid.uuid4()}",
        "type": "Delete",
        "actor": water,
        "object": note["id"],
    }
    a.kill()
    for document, state in ((created, "processing"), (updated, "received"), (deleted, "received")):
        a.journal(document, state, order_key=note["id"], leased=True)
    a.start()
    a.wait_inbox_drained(timeout=60)  # PostgreSQL takes a dead process's claims back when their lease ends
    assert [entry_of(a, d["id"])["state"] for d in (created, updated, deleted)] == ["done"] * 3
    [(content, deleted_at)] = a.sql("SELECT content, deleted_at FROM objects WHERE uri = :u", u=note["id"])
    assert deleted_at is not None  # the Delete came last: the Create did not bring the post back


def test_posts_answered_before_a_kill_are_all_stored_after_the_restart(story):
    a, b, water = story
    key = b.private_key("water")
    accepted = []
    for i in range(40):
        activity = create_note(water, b.base_url, f"burst {i}")
        if signed_post(a.url("/inbox"), activity, key).status_code == 202:
            accepted.append(activity["id"])
    a.kill()
    a.start()
    a.wait_inbox_drained(timeout=60)
    assert len(accepted) == 40
    stored = {
        uri
        for (uri,) in a.sql("SELECT uri FROM activities WHERE uri LIKE :p", p=f"{b.base_url}/activities/%")
    }
    assert set(accepted) <= stored


def test_a_failing_entry_is_retried_then_parked_and_can_be_retried(story):
    """An activity whose actor cannot be fetched (its host is down) fails three times (inbox_max_attempts)."""
    a, b, water = story
    ghost = "http://127.0.0.1:9/actors/ghost"
    activity = {
        "id": "http://127.0.0.1:9/activities/1",
        "type": "Like",
        "actor": ghost,
        "object": f"{a.base_url}/actors/landrights",
    }
    a.journal(activity)
    parked = wait_for(lambda: a.inbox("parked"), timeout=30, what="the entry parked")
    assert parked[0]["activity"] == activity["id"] and parked[0]["attempts"] == 3
    assert "cannot get the actor" in parked[0]["error"]
    text_listing = a.cli("inbox", "--state", "parked").out
    assert "parked" in text_listing and activity["id"] in text_listing
    assert a.cli("inbox", "retry", str(parked[0]["id"])).out.strip() == "1 parked entry queued again"
    again = wait_for(lambda: a.inbox("parked"), timeout=30, what="the entry parked again")
    assert again[0]["id"] == parked[0]["id"] and again[0]["attempts"] == 3
    assert a.cli("inbox", "retry", "999999", check=False).code == 1


def sign_in(instance, name: str) -> requests.Session:
    browser = requests.Session()
    token = csrf_of(browser.get(instance.url("/login")).text)
    browser.post(
        instance.url("/login"),
        data={"csrf": token, "username": name, "password": "correct horse", "next": "/admin/inbox"},
        allow_redirects=False,
    )
    return browser


def test_only_admins_see_the_parked_and_refused_entries(story):
    a, b, water = story
    for state, error in (
        ("parked", "cannot get the actor: gone"),
        ("refused", "only the author may delete it"),
    ):
        uri = f"http://127.0.0.1:9/activities/{state}"
        a.journal({"id": uri, "type": "Like", "actor": water}, state, attempts=3, error=error)
    anonymous = requests.get(a.url("/admin/inbox"), allow_redirects=False)
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]
    assert sign_in(a, "max").get(a.url("/admin/inbox")).status_code == 403
    page = sign_in(a, "ada").get(a.url("/admin/inbox"))
    assert page.status_code == 200
    assert "http://127.0.0.1:9/activities/parked" in page.text and "cannot get the actor: gone" in page.text
    assert (
        "http://127.0.0.1:9/activities/refused" in page.text and "only the author may delete it" in page.text
    )
