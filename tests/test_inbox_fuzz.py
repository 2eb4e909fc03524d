"""Fuzzing the inbox: hundreds of mutated, correctly signed activities never get a 5xx nor break the server.

Movement "landrights" on A follows "water" on B. Water sends A activities bent in type, shape, text,
size and nesting (tests/fuzzing.py, a fixed seed), each signed with water's key. A answers every one
with a 2xx or 4xx, processes every journaled one without an internal error, still answers afterwards,
and still stores water's next ordinary post.
"""

import collections
import time

import pytest
import requests

from federation.keys import secret_for
from federation.signatures import sign_request
from tests.fuzzing import Mutator
from tests.harness import wait_for
from tests.signing import create_note, signed_post

SEED = 20261202
MAX_INPUTS = 1500
MIN_INPUTS = 100  # sent even when the time budget runs out first (a loaded machine)
TIME_BUDGET = 12.0  # seconds of sending, per backend


@pytest.fixture(scope="module")
def story(module_instances):
    a, b = module_instances.new("a"), module_instances.new("b")
    landrights = a.movement("landrights")
    a.member("ana", "landrights")
    water = b.movement("water")
    a.cli("follow", "landrights", b.handle("water"))
    wait_for(lambda: a.following_state("landrights", water) == "accepted", what="water accepts")
    return a, b, water, [landrights, f"{a.base_url}/actors/ana", f"{a.base_url}/actor"]


@pytest.fixture(scope="module")
def fuzzed(story):
    """Sends the mutated inputs; (status counts, the inputs answered 5xx, how many were sent)."""
    a, b, water, local = story
    key_id, private = b.private_key("water")
    secret = secret_for(key_id, private, "rsa")
    mutator = Mutator(SEED, water, b.base_url, local, "http://127.0.0.1:9")
    counts, server_errors = collections.Counter(), []
    inbox = a.url("/inbox")
    with requests.Session() as http:
        deadline = time.monotonic() + TIME_BUDGET
        sent = 0
        while sent < MAX_INPUTS and (time.monotonic() < deadline or sent < MIN_INPUTS):
            body = mutator.next_input()
            headers = sign_request("post", inbox, secret, body)
            headers["content-type"] = "application/activity+json"
            response = http.post(inbox, data=body, headers=headers, timeout=30)
            sent += 1
            counts[response.status_code] += 1
            if response.status_code >= 500:
                server_errors.append((response.status_code, response.text[:200], body[:300]))
    print(f"fuzz: {sent} inputs, statuses {dict(sorted(counts.items()))}")
    return counts, server_errors, sent


def test_no_mutated_activity_gets_a_server_error(fuzzed):
    counts, server_errors, sent = fuzzed
    assert sent >= MIN_INPUTS, f"only {sent} inputs were sent"
    assert not server_errors, f"{len(server_errors)} of {sent} inputs got 5xx, first: {server_errors[:3]}"


def test_the_fuzzing_reached_the_handlers(fuzzed):
    counts, _, _ = fuzzed
    assert counts[202] > 0 and sum(n for status, n in counts.items() if 400 <= status < 500) > 0


def test_no_journaled_activity_ended_in_an_internal_error(story, fuzzed):
    """What was answered 202 is processed later (federation/inbox_worker.py): an exception there parks it."""
    a = story[0]
    a.wait_inbox_drained(timeout=300)
    states = dict(a.sql("SELECT state, count(*) FROM inbox_entries GROUP BY state", drained=False))
    print(f"journal: {states}")
    failed = a.sql(
        "SELECT state, error, payload FROM inbox_entries JOIN inbox_payloads ON entry_id = id "
        "WHERE state IN ('parked', 'retrying')",
        drained=False,
    )
    first = [(state, error, payload[:300]) for state, error, payload in failed[:3]]
    assert not failed, f"{len(failed)} entries failed in processing, first: {first}"
    assert states.get("done", 0) > 0


def test_the_server_still_answers_and_stores_an_ordinary_post_afterwards(story, fuzzed):
    a, b, water, _ = story
    assert requests.get(a.url("/.well-known/nodeinfo"), timeout=10).status_code == 200
    landrights = story[3][0]  # named: a fuzzed Delete of water itself may have ended the follow
    activity = create_note(water, b.base_url, "still here after the storm", to=[landrights])
    response = signed_post(a.url("/inbox"), activity, b.private_key("water"))
    assert response.status_code == 202, response.text
    assert a.sql(
        "SELECT 1 FROM timeline_entries t JOIN objects o ON o.id = t.object_id "
        "JOIN actors a ON a.id = t.owner_id WHERE o.uri = :o AND a.uri = :a",
        o=activity["object"]["id"],
        a=landrights,
    ) == [(1,)]


def test_the_server_logged_no_unhandled_error(story, fuzzed):
    a = story[0]
    log = a.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[log.index("Traceback") - 500 :][:3000]
