"""Members-only spaces are really private: their pages are for members only (others get a page saying who can
read), ActivityPub fetches of their posts need a request signed by a member, and their posts are never
addressed to the public."""

from __future__ import annotations

import pytest
import requests

from federation.keys import secret_for
from federation.signatures import sign_request
from federation.vocabulary import PUBLIC
from tests.harness import csrf_of

AP = "application/activity+json"


@pytest.fixture(scope="module")
def council(module_instances):
    """Forum's members-only council with one thread by Ana; Eve belongs to another movement."""
    a = module_instances.new("a")
    a.movement("forum", "Forum")
    a.movement("outsiders", "Outsiders")
    a.member("ana", "forum")
    a.member("eve", "outsiders")
    a.cli(
        "space",
        "create",
        "council",
        "--name",
        "Council",
        "--movement",
        "forum",
        "--members-only",
        a.handle("forum"),
    )
    a.cli("space", "create", "square", "--name", "Square", "--movement", "forum")
    a.cli("space", "join", "ana", a.handle("council"))
    post = a.cli(
        "space", "post", "ana", a.handle("council"), "--title", "Secret agenda", "Budget #cuts first"
    ).out.strip()
    a.cli("space", "join", "ana", a.handle("square"))
    a.cli("space", "post", "ana", a.handle("square"), "--title", "Open agenda", "Picnic #cuts")
    thread = a.sql("SELECT id FROM objects WHERE uri = :u", u=post)[0][0]
    return a, post, f"/threads/{thread}"


def browser(instance, name: str | None) -> requests.Session:
    session = requests.Session()
    if name:
        form = session.get(instance.url("/login"), timeout=10).text
        session.post(
            instance.url("/login"),
            data={"username": name, "password": "correct horse", "csrf": csrf_of(form)},
            timeout=10,
        )
    return session


def signed_get(instance, url: str, username: str) -> requests.Response:
    key_id, private = instance.private_key(username)
    headers = sign_request("get", url, secret_for(key_id, private, "rsa"), accept=AP)
    return requests.get(url, headers=headers, timeout=10)


@pytest.mark.parametrize("who", [None, "eve"])
def test_outsiders_get_a_page_saying_who_can_read(council, who):
    a, _, thread = council
    for path in ("/spaces/council", thread):
        page = browser(a, who).get(a.url(path), timeout=10)
        assert page.status_code == 403 and "Secret agenda" not in page.text
        assert "Only members of" in page.text and "Forum" in page.text and "<style>" in page.text


def test_a_member_reads_and_is_told_who_else_can(council):
    a, _, thread = council
    ana = browser(a, "ana")
    for path in ("/spaces/council", thread):
        page = ana.get(a.url(path), timeout=10)
        assert page.status_code == 200 and "Secret agenda" in page.text
        assert "Only members of" in page.text and "Forum" in page.text


def test_a_public_space_says_anyone_can_read(council):
    a, _, _ = council
    page = requests.get(a.url("/spaces/square"), timeout=10)
    assert page.status_code == 200 and "Open agenda" in page.text and "Anyone can read" in page.text


def test_unsigned_or_outsider_fetches_of_a_members_only_post_are_refused(council):
    a, post, thread = council
    for url in (
        post,
        a.url(thread),
        a.url("/spaces/council/outbox?page=1"),
        a.url("/spaces/council/threads?page=1"),
    ):
        assert requests.get(url, headers={"Accept": AP}, timeout=10).status_code == 401, url
        assert signed_get(a, url, "eve").status_code == 403, url
    assert requests.get(post, timeout=10).status_code == 403  # the HTML page too


def test_the_activities_and_replies_of_a_members_only_post_are_as_private_as_the_post(council):
    a, post, _ = council
    rows = a.sql("SELECT uri, payload FROM activities WHERE local = :t", t=True)
    carrying = [uri for uri, payload in rows if post in payload and '"Create"' in payload]
    assert carrying, "the Create of the post is stored"
    for url in carrying + [f"{post}/replies"]:
        assert requests.get(url, headers={"Accept": AP}, timeout=10).status_code == 401, url
        assert signed_get(a, url, "eve").status_code == 403, url
        assert signed_get(a, url, "ana").status_code == 200, url


def test_a_members_signed_fetch_gets_the_post(council):
    a, post, thread = council
    answer = signed_get(a, post, "ana")
    assert answer.status_code == 200 and answer.json()["id"] == post
    assert signed_get(a, a.url(thread), "ana").status_code == 200


def test_a_members_only_post_is_not_addressed_to_the_public(council):
    a, post, _ = council
    document = signed_get(a, post, "ana").json()
    assert PUBLIC not in document["to"] + document.get("cc", [])
    assert document["to"] == [a.url("/spaces/council")] and document["cc"] == [
        a.url("/spaces/council/followers")
    ]
    payloads = [row[0] for row in a.sql("SELECT payload FROM activities WHERE local = :t", t=True)]
    assert not [p for p in payloads if "Secret agenda" in p and PUBLIC in p]


def test_members_only_posts_stay_off_the_public_timeline(council):
    a, post, _ = council
    assert a.sql("SELECT public FROM objects WHERE uri = :u", u=post) == [(False,)]


def test_members_only_posts_stay_off_public_pages(council):
    a, _, _ = council
    tag = requests.get(a.url("/tags/cuts"), timeout=10).text
    assert "Secret agenda" not in tag and "Open agenda" in tag
    assert "Budget" not in requests.get(a.url("/actors/ana"), timeout=10).text


def test_a_remote_members_post_to_a_members_only_space_is_not_addressed_to_the_public(
    council, module_instances
):
    a, _, _ = council
    b = module_instances.new("b")
    b.movement("river", "River")
    b.member("rui", "river")
    a.cli("space", "create", "assembly", "--name", "Assembly", "--movement", "forum",
          "--members-only", b.handle("river"))  # fmt: skip
    assert requests.get(a.url("/spaces/assembly"), headers={"accept": AP}, timeout=10).json()["membersOnly"]
    b.cli("space", "join", "rui", a.handle("assembly"))
    post = b.cli("space", "post", "rui", a.handle("assembly"), "--title", "From the river", "Quiet plans")
    uri = post.out.strip()
    [(payload,)] = b.sql("SELECT payload FROM activities WHERE object_uri = :u AND local = :t", u=uri, t=True)
    assert PUBLIC not in payload
    assert b.sql("SELECT public FROM objects WHERE uri = :u", u=uri) == [(False,)]
    a.wait_inbox_drained()
    assert a.sql("SELECT public FROM objects WHERE uri = :u", u=uri) == [(False,)]
